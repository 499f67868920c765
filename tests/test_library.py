"""train.py's flags as records, and the library apart from the command line: a flag declared by
one record inside a test reaches every place derived from the records, and a sweep worker trains
runs of two variants in one process from their own arguments, with no flag state left over."""

import json

import pytest
import tensorflow as tf
from absl import flags
from tensorboard.plugins.hparams import plugin_data_pb2

import data.flags
import options
import runs.flags
from errors import UserError
from flagdef import Flag
from sweeps import train_args as targs

TOY = Flag(
    "toy_scale",
    1.0,
    "A test flag: scales nothing.",
    group="data",
    kind="float",
    check=lambda v: v > 0,
    message="--toy_scale must be > 0",
    applies=lambda values: values["dataset"] == "wine",
    idle_why="it applies to --dataset=wine",
    hparam=True,
)
QUIET = Flag(
    "toy_quiet",
    False,
    "A test flag: logs less.",
    group="logging and checkpoints",
    kind="bool",
    trains=False,
)


@pytest.fixture
def toy_flags(monkeypatch):
    """The two records, each added where its group's flags are declared, and nowhere else."""
    monkeypatch.setattr(data.flags, "RECORDS", (*data.flags.RECORDS, TOY))
    monkeypatch.setattr(runs.flags, "RECORDS", (*runs.flags.RECORDS, QUIET))


def _parsed(*argv):
    fv = flags.FlagValues()
    options.define_flags(fv)
    fv(["train.py", *argv])
    return fv


def _config(*argv):
    return options.config_from_flags(_parsed(*argv))


def test_a_flag_declared_by_one_record_reaches_help_identity_hparams_and_the_idle_rule(
    toy_flags, tmp_path
):
    fv = _parsed()
    help_text = options.help_text(fv)
    data_section = help_text.split("\ndata:\n")[1].split("\nmodel:\n")[0]
    assert "  --toy_scale (default: '1.0')\n      A test flag: scales nothing." in data_section
    assert "  --toy_quiet (default: 'false')" in help_text.split("\nlogging and checkpoints:\n")[1]
    assert "toy_scale" in options.GROUPS["data"]

    # Its own check, with its own message.
    with pytest.raises(flags.IllegalFlagValueError, match="--toy_scale must be > 0"):
        _parsed("--toy_scale=-1")
    # The does-nothing-here rule.
    with pytest.raises(UserError, match="--toy_scale does nothing here: it applies to --dataset"):
        _config("--toy_scale=2")
    assert "toy_scale" in options.idle_flags(_config().values)
    assert "toy_scale" not in options.idle_flags(_config("--dataset=wine").values)

    # The run's identity: a trained flag changes the run name's hash and the resume identity;
    # an untrained one changes neither, and a sweep may not --grid over it.
    base, scaled = _config("--dataset=wine"), _config("--dataset=wine", "--toy_scale=2")
    assert scaled.values["toy_scale"] == 2.0 and scaled.trained_identity()["toy_scale"] == 2.0
    assert base.variant_hash() != scaled.variant_hash()
    quiet = _config("--dataset=wine", "--toy_quiet")
    assert "toy_quiet" not in quiet.trained_identity()
    assert quiet.variant_hash() == base.variant_hash()
    assert [tuple(a[:2]) for a in targs.parse_grid(["toy_scale=1,2"], [])] == [
        ("toy_scale", ["1", "2"])
    ]
    with pytest.raises(UserError, match="--toy_quiet does not change what a run trains"):
        targs.parse_grid(["toy_quiet=true,false"], [])

    # TensorBoard's HParams table lists it, with the run's value.
    from inspection.summaries import Writers, write_run_info

    writers = Writers.create(str(tmp_path))
    write_run_info(writers, scaled)
    writers.close()
    (events,) = tmp_path.glob("events.out.tfevents.*")
    hparams = {}
    for event in tf.compat.v1.train.summary_iterator(str(events)):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "hparams":
                info = plugin_data_pb2.HParamsPluginData.FromString(
                    value.metadata.plugin_data.content
                )
                hparams.update(info.session_start_info.hparams)
    assert hparams["toy_scale"].number_value == 2.0
    assert "toy_quiet" not in hparams and hparams["dataset"].string_value == "wine"


# Run names computed by train.py's flag code before its flags became records: a run directory
# made then is found (resumed, reused by a sweep) under the same name now.
NAMES = {
    (): "iris_mlp_none_sgd-0.01_bs128_s0_44136fa3",
    ("--reg=l1", "--all_layers", "--seed=3"): "iris_mlp_l1-0.01_all_sgd-0.01_bs128_s3_e7929bda",
    (
        "--regularizer=dropout@0+1,dropout_rate=0.5+0.4",
        "--hidden=16,8",
    ): "iris_mlp_dropout-0.5-0.4@0+1_sgd-0.01_bs128_s0_85552477",
    (
        "--model=cnn",
        "--dataset=digits",
        "--conv_filters=8",
        "--cnn_dense=16",
        "--optimizer=adamw",
        "--reg=weight_decay,batchnorm",
        "--weight_decay=0.01",
    ): "digits_cnn_batchnorm_weight_decay-0.01_adamw-0.01_bs128_s0_8fdb2651",
    (
        "--lr_schedule=step",
        "--lr_decay_epochs=100,150",
        "--warmup_epochs=5",
        "--early_stopping_patience=20",
        "--early_stopping_monitor=val_accuracy",
        "--on_nan=rollback",
        "--validate_on=test",
        "--label_noise=0.1",
        "--train_size=50",
        "--mixed_precision=bf16",
        "--xla",
        "--sparsity_threshold=0.01",
        "--log_every=5",
        "--device=cpu",
    ): "iris_mlp_none_sgd-0.01_bs128_s0_c6835f60",
}


@pytest.mark.parametrize("argv", NAMES, ids=[" ".join(a)[:40] or "defaults" for a in NAMES])
def test_run_names_are_those_of_the_flag_code_before_the_records(argv):
    import models
    import regularizers

    cfg = _config(*argv)
    active = regularizers.resolve(cfg, models.num_hidden(cfg))
    assert options.default_run_name(cfg, active) == NAMES[argv]


def test_a_worker_trains_two_variants_in_one_process_with_no_flag_state_left_over(tmp_path, capsys):
    """Runs of two variants, and a bad one between them, through the worker's own entry: each
    run's config.json is that of its own arguments alone, and absl's global flags are untouched."""
    from sweeps import worker

    before = flags.FLAGS.flag_values_dict()
    common = ["--epochs=2", "--log_every=0", f"--logdir={tmp_path}", "--progress=lines"]
    specs = [
        [
            "--reg=dropout,l1",
            "--dropout_rate=0.3",
            "--all_layers",
            "--hidden=8,4",
            "--optimizer=momentum",
            "--seed=1",
            "--run_name=a",
        ],
        ["--epochs=0", "--run_name=bad"],
        ["--hidden=6", "--run_name=b"],
    ]
    codes = []
    for i, args in enumerate(specs):
        spec = {"name": str(i), "args": [*common, *args], "log": str(tmp_path / f"{i}.log")}
        with capsys.disabled():  # the worker sends fds 1 and 2 to the run's log
            codes.append(worker.run_one(spec))
    assert codes == [0, 2, 0], [(tmp_path / f"{i}.log").read_text()[-800:] for i in range(3)]
    assert "--epochs must be in 1..1000000" in (tmp_path / "1.log").read_text()
    for args, name in ((specs[0], "a"), (specs[2], "b")):
        stored = json.loads((tmp_path / name / "config.json").read_text())
        assert stored == _config(*common, *args).values, name
    b = json.loads((tmp_path / "b" / "config.json").read_text())
    assert b["reg"] == ["none"] and b["optimizer"] == "sgd" and b["all_layers"] is False
    assert b["dropout_rate"] == _config().values["dropout_rate"] and b["seed"] == 0
    assert flags.FLAGS.flag_values_dict() == before

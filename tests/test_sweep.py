"""sweep.py and report.py: planning and validation, grids, labels, reuse, failures, the tables."""

import csv
import json
import os
import re
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from errors import UserError
from sweeps import estimate, stats, status
from sweeps import plan as sweep_plan
from sweeps import train_args as targs
from tests.conftest import ROOT, read_metrics

FAST = ["--train_flag=--epochs=3", "--train_flag=--log_every=0"]


def _script(name, *args, check=None, env=None):
    proc = subprocess.run(
        [sys.executable, str(ROOT / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check is not None:
        assert proc.returncode == check, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def sweep(*args, check=None, env=None):
    return _script("sweep.py", *args, check=check, env=env)


def report(out, *args, check=None):
    return _script("report.py", f"--sweep_dir={out}", *args, check=check)


def error_lines(proc, prog):
    """The `prog: error:` lines; there must be no traceback."""
    assert "Traceback" not in proc.stderr
    return [ln for ln in proc.stderr.splitlines() if ln.startswith(f"{prog}: error:")]


def manifest(out):
    return json.loads((out / "sweep.json").read_text())


def run_dirs(out, variant):
    """{seed: run directory} of a variant, from sweep.json."""
    return {
        r["seed"]: out / "runs" / r["name"]
        for r in manifest(out)["runs"]
        if r["variant"] == variant
    }


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def png_shape(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path).shape


def write_cfg(path, *lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# ---- planning: no training ------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--train_flag=--epochs=abc"],
            "--train_flag: flag --epochs=abc: invalid literal for int() with base 10: 'abc'",
        ),
        (
            ["--train_flag=--seed=3"],
            "--train_flag=--seed=3 sets --seed, which the sweep sets itself (seeds come from "
            "--seeds)",
        ),
        (["--grid=nope=1,2"], "--grid=nope=1,2: train.py has no flag --nope"),
        (
            ["--train_flag=--nohparams_experiment"],
            "sets --hparams_experiment, which the sweep sets itself (the sweep writes one",
        ),
        (["--seeds=0"], "--seeds must be between 1 and 1000"),
        (["--workers=0"], "--workers must be >= 1"),
        (["--configs=configs/nope.cfg"], "config file configs/nope.cfg does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    proc = sweep("--configs=configs/model1.cfg", *args, f"--out={tmp_path}/sw", check=2)
    lines = error_lines(proc, "sweep.py")
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "sw").exists()


def test_config_with_unknown_flag_and_unwritable_out(tmp_path):
    cfg = write_cfg(tmp_path / "bad.cfg", "--reg=l1", "--learning_rat=0.1")
    with pytest.raises(UserError, match="Unknown command line flag 'learning_rat'"):
        sweep_plan.plan([cfg], 1, tmp_path / "runs")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = sweep("--configs=configs/model1.cfg", f"--out={blocker}/sw", check=2)
    (line,) = error_lines(proc, "sweep.py")
    assert "cannot write the sweep directory" in line


def test_report_bad_input_leaves_earlier_results(tmp_path):
    proc = report(tmp_path / "none", check=2)
    assert "does not exist" in proc.stderr
    empty = tmp_path / "empty"
    (empty / "runs").mkdir(parents=True)
    (empty / "sweep.json").write_text(
        json.dumps({"runs": [{"variant": "v", "seed": 0, "name": "v_s0", "args": []}]})
    )
    (empty / "results.md").write_text("earlier results")
    proc = report(empty, check=2)
    (line,) = error_lines(proc, "report.py")
    assert "holds no finished runs" in line
    assert (empty / "results.md").read_text() == "earlier results"


def test_the_sweeps_own_flags_cannot_be_set_anywhere(tmp_path):
    for train_flags, train_flag in (
        ([], ["--logdir=x"]),
        (["--run_name=x"], []),
        ([], ["--flagfile=configs/model1.cfg"]),
    ):
        with pytest.raises(UserError, match="which the sweep sets itself"):
            targs.extra_flags(train_flags, train_flag)
    with pytest.raises(UserError, match="--grid=seed=1,2 sets --seed, which the sweep sets"):
        targs.parse_grid(["seed=1,2"], [])
    cfg = write_cfg(tmp_path / "c.cfg", "--reg=l2", "--seed=4")
    with pytest.raises(UserError, match=f"config file {cfg} sets --seed, which the sweep"):
        sweep_plan.plan([cfg], 1, tmp_path / "runs")


def test_train_flag_carries_commas_and_train_flags_says_how(tmp_path):
    extra = targs.extra_flags(["--epochs=3"], ["--reg=l2,dropout"])
    assert extra == ["--epochs=3", "--reg=l2,dropout"]
    _, runs = sweep_plan.plan(["configs/model6.cfg"], 1, tmp_path / "runs", extra)
    assert "--reg=l2,dropout" in runs[0].args
    assert sorted(runs[0].identity["reg"]) == ["dropout", "l2"] and runs[0].identity["epochs"] == 3
    with pytest.raises(UserError, match="splits on commas: pass a value with commas as --train"):
        targs.extra_flags(["--reg=l2", "dropout"], [])


def test_grid_bad_specs():
    for spec, message in [
        ("l2", "write --grid=NAME=V1,V2"),
        ("l2=0,-1", "value '-1': flag --l2=-1.0: --l2 must be >= 0"),
        ("l2=0,0", "distinct and non-empty"),
        ("epochs=1,x", "value 'x'"),
    ]:
        with pytest.raises(UserError, match=message):
            targs.parse_grid([spec], [])
    with pytest.raises(UserError, match="--grid names --l2 twice"):
        targs.parse_grid(["l2=0,1", "l2=2"], [])
    with pytest.raises(UserError, match="--l2 is both a --grid flag and a --train_flag"):
        targs.parse_grid(["l2=0,1"], ["--l2=0.5"])
    grid = targs.parse_grid(["dropout_rate=0.5;0.5,0.3", "learning_rate=0.1,0.01"], [])
    assert grid == [
        ("dropout_rate", ["0.5", "0.5,0.3"], None),
        ("learning_rate", ["0.1", "0.01"], None),
    ]
    with pytest.raises(UserError, match="--grid names --l2 twice"):
        targs.parse_grid(["l2=0,1", "a.cfg:l2=2"], [])
    with pytest.raises(UserError, match="CONFIG:NAME=V1,V2"):
        targs.parse_grid([":l2=0,1"], [])


def test_grids_bound_to_one_config_make_one_study(tmp_path):
    """Two regularizers, each with its own grid, beside one baseline: one sweep, one family."""
    none = write_cfg(tmp_path / "none.cfg", "--reg=none")
    l2 = write_cfg(tmp_path / "l2.cfg", "--reg=l2")
    drop = write_cfg(tmp_path / "dropout.cfg", "--reg=dropout")
    grid = targs.parse_grid(["l2.cfg:l2=1e-3,1e-2", f"{drop}:dropout_rate=0.2,0.5"], [])
    variants, runs = sweep_plan.plan([none, l2, drop], 2, tmp_path / "runs", [], grid)
    assert [v.name for v in variants] == [
        "none",
        "l2_l2-1e-3",
        "l2_l2-1e-2",
        "dropout_dropout_rate-0.2",
        "dropout_dropout_rate-0.5",
    ]
    assert [dict(v.grid) for v in variants][1:3] == [{"l2": "1e-3"}, {"l2": "1e-2"}]
    assert len(runs) == 10 and variants[4].identity["dropout_rate"] == [0.5]
    assert targs.grid_protocol(grid) == {
        "grid": {},
        "config_grids": {
            "l2.cfg": {"l2": ["1e-3", "1e-2"]},
            drop: {"dropout_rate": ["0.2", "0.5"]},
        },
    }
    # Crossed with every config, --dropout_rate would do nothing in l2.cfg: refused.
    with pytest.raises(UserError, match="dropout_rate"):
        sweep_plan.plan(
            [l2, drop], 1, tmp_path / "runs", [], targs.parse_grid(["dropout_rate=0.2"], [])
        )
    with pytest.raises(UserError, match="nope.cfg is not one of --configs"):
        sweep_plan.plan([l2], 1, tmp_path / "runs", [], targs.parse_grid(["nope.cfg:l2=1"], []))


def test_grid_expansion_names_labels_and_hashes(tmp_path):
    a = write_cfg(tmp_path / "a.cfg", "--reg=l2", "--l2=0.01", "--batch_size=32")
    b = write_cfg(tmp_path / "b.cfg", "# comment", "# label: my L2 variant", "--reg=l2")
    grid = targs.parse_grid(["l2=0,1e-3", "learning_rate=0.01;0.1"], [])
    variants, runs = sweep_plan.plan([a, b], 2, tmp_path / "runs", ["--epochs=3"], grid)
    assert [v.name for v in variants] == [
        f"{stem}_l2-{l2}_learning_rate-{lr}"
        for stem in ("a", "b")
        for l2 in ("0", "1e-3")
        for lr in ("0.01", "0.1")
    ]
    assert len(runs) == 16 and [r.seed for r in runs[:4]] == [0, 1, 0, 1]
    first = variants[0]
    # Generated: what the config gives or changes, less what every variant has (reg=l2: the
    # protocol's) and --train_flag (epochs: protocol too); grid values last.
    assert first.label == "batch_size=32, l2=0, learning_rate=0.01"
    # A '# label:' beside generated ones also gives its value of the flags they name.
    assert variants[4].label == "my L2 variant, batch_size=128, l2=0, learning_rate=0.01"
    assert len({v.config_hash for v in variants}) == 8
    # A '# label:' that may describe a value the grid overrides gives way to a generated one.
    c = write_cfg(tmp_path / "c.cfg", "# label: L2 0.01", "--reg=l2", "--l2=0.01")
    overridden, _ = sweep_plan.plan([c], 1, tmp_path / "runs", [], grid[:1])
    assert [v.label for v in overridden] == ["l2=0", "l2=0.001"]
    for r in runs:
        assert r.name == f"{r.variant.name}_{r.variant.config_hash}_s{r.seed}"
        assert r.args[-5:] == (
            f"--seed={r.seed}",
            f"--logdir={tmp_path / 'runs'}",
            f"--run_name={r.name}",
            "--progress=lines",
            "--nohparams_experiment",
        )
        cfg, _ = targs.parse(r.args, "test")
        assert cfg.seed == r.seed and cfg.l2 == float(dict(r.variant.grid)["l2"])
        assert cfg.epochs == 3
    # The same command plans the same names; any trained flag changes them.
    _, again = sweep_plan.plan([a, b], 2, tmp_path / "runs", ["--epochs=3"], grid)
    assert [r.name for r in again] == [r.name for r in runs]
    _, other = sweep_plan.plan([a, b], 2, tmp_path / "runs", ["--epochs=4"], grid)
    assert not {r.name for r in other} & {r.name for r in runs}


def test_labels_and_protocol_when_train_flags_override_the_configs(tmp_path):
    # --train_flag=--reg=l2 overrides model1's and model9's --reg: their '# label:' lines no
    # longer hold, and what they share (validate_on=test, reg=l2) is the protocol. Each label
    # then gives its values of the flags that differ, never a shared setting.
    cfgs = ["configs/model1.cfg", "configs/model9.cfg"]
    variants, _ = sweep_plan.plan(cfgs, 1, tmp_path / "runs", ["--reg=l2"])
    assert [v.label for v in variants] == ["batch_size=128", "batch_size=32"]
    summary = sweep_plan.settings_summary(variants)
    assert summary["shared"] == ["validate_on=test", "reg=l2"]
    assert summary["varying"] == ["batch_size"]
    # Flags that do nothing in any variant are not protocol: no validation split when every
    # variant validates on test, no L1 strength without L1; L2's strength is in force.
    defaults = summary["shared_defaults"]
    assert "l2=0.01" in defaults and "dataset=iris" in defaults
    assert not [s for s in defaults if s.split("=")[0] in ("val_fraction", "l1", "dropout_rate")]
    # With a validation split in some variant, its fraction is protocol again. A variant with
    # nothing of its own that sets it apart is labelled by its values of the flags that vary,
    # and a '# label:' beside it gets its own value of those too: the difference reads on both.
    val = write_cfg(tmp_path / "val.cfg", "--reg=none")
    variants, _ = sweep_plan.plan(["configs/model1.cfg", val], 1, tmp_path / "runs")
    assert "val_fraction=0.2" in sweep_plan.settings_summary(variants)["shared_defaults"]
    # A setting only one variant uses is not "shared by every variant".
    mixup = ["configs/overfit/none.cfg", "configs/overfit/mixup_0.2.cfg"]
    summary = sweep_plan.settings_summary(sweep_plan.plan(mixup, 1, tmp_path / "m")[0])
    assert summary["some_variants"] == ["mixup_alpha=0.2 (1 of 2 variants)"]
    assert "dataset=digits" in summary["shared"] and summary["varying"] == ["reg"]
    assert not [x for x in summary["shared"] + summary["shared_defaults"] if "mixup" in x]
    assert [v.label for v in variants] == ["model1: none, validate_on=test", "validate_on=val"]
    # Beside a third config, the two 'reg=none' variants still read apart: model1's label gives
    # its own varying setting (validate_on=test; the generated label's default is val).
    l1 = "configs/model2.cfg"
    variants, _ = sweep_plan.plan(["configs/model1.cfg", l1, val], 1, tmp_path / "runs")
    assert [v.label for v in variants] == [
        "model1: none, validate_on=test, reg=none",
        "model2: L1 0.01, first layer, validate_on=test, reg=l1",
        "reg=none",
    ]
    # Two '# label:' lines that say the same get the settings that tell them apart.
    x1 = write_cfg(tmp_path / "x1.cfg", "# label: X", "--batch_size=32", "--learning_rate=0.1")
    x2 = write_cfg(tmp_path / "x2.cfg", "# label: X", "--batch_size=32")
    variants, _ = sweep_plan.plan([x1, x2], 1, tmp_path / "runs")
    assert [v.label for v in variants] == ["X, learning_rate=0.1", "X, learning_rate=0.01"]
    # A setting every variant has is protocol even where one config spells out the default.
    e1 = write_cfg(tmp_path / "e1.cfg", "--epochs=350", "--reg=l2", "--l2=0.02")
    e2 = write_cfg(tmp_path / "e2.cfg", "--reg=l1", "--l1=0.02")
    variants, _ = sweep_plan.plan([e1, e2], 1, tmp_path / "runs")
    assert [v.label for v in variants] == ["reg=l2, l2=0.02", "reg=l1, l1=0.02"]
    # Values never print alike (0.010000001 is not "0.01"); labels that still read the same get
    # their variant's name; a one-value grid is protocol, not label.
    grid = targs.parse_grid(["l2=0.01,0.010000001"], [])
    variants, _ = sweep_plan.plan(["configs/model5.cfg"], 1, tmp_path / "runs", [], grid)
    assert [v.label for v in variants] == ["l2=0.01", "l2=0.010000001"]
    x3 = write_cfg(
        tmp_path / "x3.cfg",
        "# label: X, learning_rate=0.01",
        "--batch_size=32",
        "--learning_rate=0.02",
    )
    variants, _ = sweep_plan.plan([x1, x2, x3], 1, tmp_path / "runs")
    assert [v.label for v in variants] == [
        "X, learning_rate=0.1",
        "X, learning_rate=0.01 (x2)",
        "X, learning_rate=0.01 (x3)",
    ]
    grid = targs.parse_grid(["learning_rate=0.05"], [])
    variants, _ = sweep_plan.plan(["configs/model5.cfg"], 1, tmp_path / "runs", [], grid)
    assert [v.label for v in variants] == ["model5: L2 0.01, first layer"]
    # A --train_flag or --grid that places the regularizers elsewhere makes a '# label:' line
    # ("first layer") give way.
    cfgs = ["configs/model2.cfg", "configs/model5.cfg"]
    variants, _ = sweep_plan.plan(cfgs, 1, tmp_path / "runs", ["--all_layers"])
    assert [v.label for v in variants] == ["reg=l1", "reg=l2"]
    grid = targs.parse_grid(["layers=0,2"], [])
    variants, _ = sweep_plan.plan(cfgs[:1], 1, tmp_path / "runs", [], grid)
    assert [v.label for v in variants] == ["layers=0", "layers=2"]
    # A grid over a flag that trains nothing different is refused.
    with pytest.raises(UserError, match="--log_every does not change what a run trains"):
        targs.parse_grid(["log_every=0,1"], [])
    # Labels of configs only (the tutorial's study) stay as their files give them.
    variants, _ = sweep_plan.plan(["configs/model1.cfg", "configs/model9.cfg"], 1, tmp_path / "r")
    assert [v.label for v in variants] == [
        "model1: none",
        "model9: BatchNorm, second layer (batch 32)",
    ]
    # Two variants that train the same flags are one variant twice: refused.
    same = write_cfg(tmp_path / "same.cfg", "--reg=none")
    with pytest.raises(UserError, match="variants val and same train the same flags"):
        sweep_plan.plan([val, same], 1, tmp_path / "runs")
    empty = write_cfg(tmp_path / "empty.cfg", "# nothing")
    variants, _ = sweep_plan.plan([empty], 1, tmp_path / "runs")
    assert [v.label for v in variants] == ["empty"]


def test_a_run_directory_with_other_trained_flags_is_refused(tmp_path):
    out = tmp_path / "sw"
    args = ["--configs=configs/model6.cfg", "--seeds=1", f"--out={out}", "--train_flag=--l2=0.01"]
    _, runs = sweep_plan.plan(["configs/model6.cfg"], 1, out / "runs", ["--l2=0.01"])
    run_dir = out / "runs" / runs[0].name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({**runs[0].identity, "l2": 0.0001}))
    (run_dir / "metrics.json").write_text(json.dumps({"status": "finished"}))
    proc = sweep(*args, check=2)
    (line,) = error_lines(proc, "sweep.py")
    assert "holds a run with other trained flags (--l2: 0.0001 there, 0.01 planned)" in line
    assert not (out / "sweep.json").exists()


def _stand_in_sbatch(tmp_path):
    """A stand-in sbatch that records its call and answers job 4242."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/sbatch_args\necho 4242\n')
    sbatch.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_slurm_executor_passes_every_runs_grid_args(tmp_path):
    """The tasks file carries each run's full args, grouped by variant (--runs_per_task)."""
    env = _stand_in_sbatch(tmp_path)
    out = tmp_path / "sw"
    proc = sweep(
        "--executor=slurm",
        "--nowait",
        "--configs=configs/model6.cfg",
        "--grid=l2=0,0.001",
        "--seeds=3",
        "--runs_per_task=2",
        f"--out={out}",
        *FAST,
        env=env,
        check=0,
    )
    assert "submitted job array 4242 (4 tasks, 6 runs)" in proc.stdout
    call = (tmp_path / "sbatch_args").read_text().split()
    assert "--array=0-3" in call and call[-1] == str(out / "tasks.json")
    runs = manifest(out)["runs"]
    plan = json.loads((out / "tasks.json").read_text())
    assert plan["out"] == str(out)
    # Each variant's 3 seeds in tasks of at most 2 runs: seeds 0 | 1, 2 of each variant.
    names = [[spec["name"] for spec in task] for task in plan["tasks"]]
    assert names == [[runs[0]["name"]], [r["name"] for r in runs[1:3]]] + [
        [runs[3]["name"]],
        [r["name"] for r in runs[4:6]],
    ]
    specs = {spec["name"]: spec for task in plan["tasks"] for spec in task}
    for r in runs:
        assert specs[r["name"]]["args"] == r["args"]
        assert specs[r["name"]]["log"] == str(out / "logs" / f"{r['name']}.log")
    assert "--l2=0.001" in runs[3]["args"] and runs[3]["variant"] == "model6_l2-0.001"
    # What an array task records for a run (sweeps/array_task.py) becomes the run's status.
    (out / "logs" / f"{runs[1]['name']}.log").write_text("train.py: error: something broke\n")
    status.record(str(out), runs[1]["name"], exit=2, log=f"logs/{runs[1]['name']}.log")
    o = status.outcome(str(out), runs[1]["name"])
    assert (o.status, o.exit, o.error) == ("failed", 2, "train.py: error: something broke")
    assert status.outcome(str(out), runs[0]["name"]).status == "missing"


class _FakeRun:
    def __init__(self, name, variant):
        self.name, self.variant = name, type("Variant", (), {"name": variant})


def test_runs_per_task_defaults_to_minutes_of_runs_per_task(tmp_path):
    """Without --runs_per_task, a task holds as many runs as the estimate fits in TASK_S: all
    seeds of a run-of-seconds variant in one task; --dry_run says so and writes nothing."""
    from sweeps import executors

    env = _stand_in_sbatch(tmp_path)
    out = tmp_path / "sw"
    args = ["--executor=slurm", "--configs=configs/model1.cfg,configs/model6.cfg", "--seeds=5"]
    proc = sweep(*args, f"--out={out}", "--dry_run", *FAST, env=env, check=0)
    assert "with SLURM (2 array tasks of up to 5 runs)" in proc.stdout
    assert not out.exists() and not (tmp_path / "sbatch_args").exists()
    # A variant estimated at a third of TASK_S a run: 3 runs a task, 5 seeds as 3 and 2.
    est = estimate.Estimate({f"x_s{i}": executors.TASK_S / 3 for i in range(5)}, {"x": "model"})
    fake = [_FakeRun(f"x_s{i}", "x") for i in range(5)]
    per = executors.runs_per_task(fake, est)
    assert per == {"x": 3}
    assert [[r.name for r in t] for t in executors.group_runs(fake, per)] == [
        ["x_s0", "x_s1"],
        ["x_s2", "x_s3", "x_s4"],
    ]
    unknown = estimate.Estimate(dict.fromkeys(est.seconds), {"x": "unknown"})
    assert executors.runs_per_task(fake, unknown) == {"x": 1}
    assert executors.runs_per_task(fake, unknown, 4) == {"x": 4}


# ---- sweeps that train ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_by_three(tmp_path_factory):
    """model1 (no regularization) and model2 (L1, first layer) x 3 seeds, 3 epochs."""
    out = tmp_path_factory.mktemp("two_by_three") / "sw"
    args = ["--configs=configs/model1.cfg,configs/model2.cfg", "--seeds=3", f"--out={out}"]
    proc = sweep(*args, "--workers=2", *FAST, check=0)
    assert "6 runs (2 variants x 3 seeds); 6 finished" in proc.stdout
    # Progress: a line as each run ends, with the count, the time left and its test accuracy.
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("sweep: ")]
    assert [ln.split(" done")[0] for ln in lines] == [f"sweep: {n} of 6" for n in range(1, 7)]
    assert "~0 s left" in lines[-1]
    for ln in lines:
        variant, seed, value = re.search(r"\| (\w+) seed (\d): test_accuracy ([\d.]+)", ln).groups()
        final = read_metrics(run_dirs(out, variant)[int(seed)])["final"]["test_accuracy"]
        assert float(value) == pytest.approx(final, abs=5e-5), ln
    return out, args


@pytest.mark.slow
def test_tables_equal_the_runs_and_the_paired_differences(two_by_three):
    out, _ = two_by_three
    m = manifest(out)
    assert [(r["variant"], r["seed"]) for r in m["runs"]] == [
        (v, s) for v in ("model1", "model2") for s in range(3)
    ]
    for r in m["runs"]:
        assert r["label"] and r["name"].startswith(r["variant"]) and "--epochs=3" in r["args"]
    assert m["protocol"]["train_flags"] == ["--epochs=3", "--log_every=0"]
    metrics = {
        v: {s: read_metrics(d) for s, d in run_dirs(out, v).items()} for v in ("model1", "model2")
    }
    for metric in ("test_data_loss", "test_accuracy"):
        report(out, f"--metric={metric}", check=0)
        rep = out / "report" / metric
        rows = {r["variant"]: r for r in read_csv(rep / "results.csv")}
        values = {
            v: np.array([ms[s]["final"][metric] for s in range(3)]) for v, ms in metrics.items()
        }
        for v, x in values.items():
            assert float(rows[v]["mean"]) == pytest.approx(x.mean())
            assert float(rows[v]["std"]) == pytest.approx(x.std(ddof=1))
            assert (float(rows[v]["ci_low"]), float(rows[v]["ci_high"])) == pytest.approx(
                stats.bootstrap_ci(x)
            )
            assert rows[v]["finished"] == "3" and rows[v]["not_finished"] == "0"
        # model1 has no regularizer: it is the baseline; model2 is compared seed by seed.
        d = values["model2"] - values["model1"]
        r = rows["model2"]
        assert r["baseline"] == "model1" and r["n_pairs"] == "3"
        assert float(r["diff_mean"]) == pytest.approx(d.mean())
        assert float(r["p_value"]) == pytest.approx(stats.wilcoxon_p(d))
        assert float(r["p_holm"]) == pytest.approx(stats.wilcoxon_p(d))  # one comparison
    runs = read_csv(rep / "runs.csv")
    assert [(r["variant"], r["seed"], r["status"]) for r in runs] == [
        (v, str(s), "finished") for v in ("model1", "model2") for s in range(3)
    ]
    md = (rep / "results.md").read_text()
    assert "`--epochs=3`" in md and "epochs=3" in md and "## Paired comparison" in md
    assert "smallest possible two-sided Wilcoxon p-value is 0.25" in md
    for name in ("test_accuracy.png", "curves_val_accuracy.png", "curves_train_data_loss.png"):
        _, width, _ = png_shape(out / "report" / "test_accuracy" / name)
        assert width == 1000


@pytest.mark.slow
def test_a_changed_trained_flag_is_never_reused(two_by_three):
    out, args = two_by_three
    extra = targs.extra_flags([], [f.split("=", 1)[1] for f in FAST])
    _, runs = sweep_plan.plan(["configs/model1.cfg", "configs/model2.cfg"], 3, out / "runs", extra)
    assert {sweep_plan.existing_status(out / "runs", r) for r in runs} == {"finished"}
    changed = sweep(*args, *FAST, "--train_flag=--batch_size=64", "--dry_run", check=0)
    assert "6 runs, 6 to run" in changed.stdout
    assert manifest(out)["protocol"]["train_flags"] == ["--epochs=3", "--log_every=0"]


@pytest.mark.slow
def test_dry_run_estimates_the_time_from_the_model_then_from_finished_runs(two_by_three):
    out, args = two_by_three
    proc = sweep(*args, *FAST, "--dry_run", check=0)
    walls = [read_metrics(d)["wall_time_s"] for d in run_dirs(out, "model2").values()]
    measured = estimate.duration(float(np.median(walls)))
    assert f"variant model2: ~{measured} a run (measured (3 runs))" in proc.stdout
    assert "6 runs, 0 to run, ~0 s with" in proc.stdout  # nothing to run: no start-up either
    # New runs (other epochs): the cost model, which grows with the epochs.
    secs = {}
    for epochs in (30, 300):
        proc = sweep(
            *args,
            f"--train_flag=--epochs={epochs}",
            "--train_flag=--log_every=0",
            "--dry_run",
            check=0,
        )
        assert "variant model1: ~" in proc.stdout and " a run (model)" in proc.stdout
        assert "6 runs, 6 to run, ~" in proc.stdout and "with 1 local workers" not in proc.stdout
        secs[epochs] = [
            float(ln.split("\t")[2][1:-1])
            for ln in proc.stdout.splitlines()
            if ln.startswith("model1_")
        ]
    assert 1.0 < secs[30][0] < secs[300][0] < 10


def test_cost_model_counts_sams_second_pass_the_sharpness_search_and_bounds_early_stopping():
    import types

    data = types.SimpleNamespace(
        train=range(100), val=range(20), input_shape=(4,), num_classes=3, kind="tabular"
    )
    base = {"batch_size": 32, "epochs": 100, "model": "mlp", "hidden": [8], "reg": ["none"]}

    def modeled(**change):
        run = types.SimpleNamespace(identity={**base, **change})
        return estimate._modeled(run, data), estimate.upper_bound(run)

    plain, bound = modeled()
    steps = 4  # 100 rows, batches of 32
    assert modeled(reg=["sam"])[0] == pytest.approx(plain + 100 * steps * estimate.STEP_S)
    params = (4 + 1) * 8 + (8 + 1) * 3
    search = 3 * 15 * (estimate.SHARPNESS_PASS_S + 2 * params * 100 / estimate.FLOPS)
    assert modeled(sharpness_samples=3, sharpness_steps=15)[0] == pytest.approx(plain + search)
    assert not bound and modeled(early_stopping_patience=20)[1]


@pytest.mark.slow
def test_rerun_skips_finished_runs_and_resumes_the_rest(two_by_three):
    out, args = two_by_three
    dirs = run_dirs(out, "model2")
    finished_mtime = os.path.getmtime(run_dirs(out, "model1")[0] / "metrics.json")
    os.remove(dirs[1] / "metrics.json")
    again = sweep(*args, *FAST, check=0)
    assert "ran 1 run in" in again.stdout and "6 finished" in again.stdout
    assert os.path.getmtime(run_dirs(out, "model1")[0] / "metrics.json") == finished_mtime
    assert read_metrics(dirs[1])["status"] == "finished"
    idle = sweep(*args, *FAST, check=0)
    assert "6 finished" in idle.stdout and "ran " not in idle.stdout


@pytest.mark.slow
def test_failed_and_diverged_runs_are_reported_and_the_exit_code_says_so(tmp_path):
    diverge = write_cfg(tmp_path / "diverge.cfg", "--reg=none", "--learning_rate=1e6")
    bad = write_cfg(tmp_path / "badlayers.cfg", "--reg=l1", "--layers=9")
    out = tmp_path / "sw"
    proc = sweep(
        f"--configs=configs/model1.cfg,{diverge},{bad}",
        "--seeds=1",
        f"--out={out}",
        "--workers=1",
        "--train_flag=--epochs=8",
        "--train_flag=--log_every=0",
        check=1,
    )
    assert "1 diverged, 1 failed, 1 finished" in proc.stdout
    progress = [ln for ln in proc.stderr.splitlines() if ln.startswith("sweep: ")]
    (failure,) = [ln for ln in progress if "| badlayers seed 0: FAILED exit 2: " in ln]
    assert "--layers index 9 is out of range" in failure
    assert progress[-1].startswith("sweep: 3 of 3 done (2 not finished), ~0 s left")
    lines = proc.stdout.splitlines()
    (div,) = [ln for ln in lines if ln.strip().startswith("diverge_")]
    assert "diverged  exit 3" in div and "loss became NaN/inf" in div
    (fail,) = [ln for ln in lines if ln.strip().startswith("badlayers_")]
    assert "failed    exit 2" in fail and "--layers index 9 is out of range" in fail
    report(out, check=0)
    rep = out / "report" / "test_accuracy"
    rows = {r["variant"]: r for r in read_csv(rep / "results.csv")}
    assert rows["badlayers"]["finished"] == "0" and rows["badlayers"]["not_finished"] == "1"
    assert rows["model1"]["finished"] == "1"
    md = (rep / "results.md").read_text()
    assert "## Runs that did not finish" in md and "| failed | 2 |" in md
    assert "| diverged | 3 |" in md
    assert "- **Runs**: 3 variants × 1 seed (seed 0) = 3 runs, 1 finished." in md


# Two variants whose seeds share a worker's compiled loop (training/reuse.py), with state of every
# kind: Dropout seed states, momentum slots, a warm-up/cosine schedule, early stopping (patience,
# best weights); then mixup, Gaussian noise and EMA after a switch of variant.
REUSE_VARIANTS = {
    "a": [
        "--reg=dropout,l1",
        "--all_layers",
        "--optimizer=momentum",
        "--lr_schedule=cosine",
        "--warmup_epochs=2",
        "--early_stopping_patience=3",
        "--epochs=14",
        "--stats_every=3",
    ],
    "b": [
        "--regularizer=mixup",
        "--regularizer=gaussian_noise",
        "--regularizer=ema",
        "--optimizer=adam",
        "--learning_rate=0.001",
        "--epochs=6",
    ],
}


@pytest.mark.slow
def test_runs_sharing_a_workers_compiled_loop_equal_standalone_runs(tmp_path):
    configs = []
    for name, flags in REUSE_VARIANTS.items():
        path = tmp_path / f"{name}.cfg"
        path.write_text("\n".join([*flags, "--hidden=64,32"]) + "\n")
        configs.append(str(path))
    out = tmp_path / "sw"
    # One worker: a s0 traces, a s1 reuses, b s0 traces after the switch, b s1 reuses.
    sweep(f"--configs={','.join(configs)}", "--seeds=2", f"--out={out}", "--workers=1", check=0)
    from tests.conftest import run_train

    for name, flags in REUSE_VARIANTS.items():
        solo = tmp_path / "solo"
        run_train(
            *flags, "--hidden=64,32", "--seed=1", f"--logdir={solo}", f"--run_name={name}", check=0
        )
        a = read_metrics(run_dirs(out, name)[1])
        b = read_metrics(solo / name)
        for key in ("final", "history", "weights", "best_epoch", "stopped_epoch"):
            assert a.get(key) == b.get(key), (name, key)
        logs = {
            seed: (out / "logs" / f"{d.name}.log").read_text()
            for seed, d in run_dirs(out, name).items()
        }
        assert "compiled loop: the previous run's" not in logs[0]  # traced its own
        assert "compiled loop: the previous run's" in logs[1]  # seed 0's, reused
        # The reused writers wrote this run's events into this run's directory, and only there.
        for seed, run_dir in run_dirs(out, name).items():
            for sub in ("train", "val"):
                events = list((run_dir / sub).glob("events.out.tfevents.*"))
                assert len(events) == 1, (name, seed, sub)
                steps = _scalar_steps(run_dir / sub, "metrics/accuracy")
                assert steps == list(range(1, read_metrics(run_dir)["epochs_completed"] + 1))


def _scalar_steps(logdir, tag):
    from tests.conftest import read_scalars

    return [step for step, _ in read_scalars(logdir).get(tag, [])]


def test_a_run_whose_metrics_json_is_unreadable_says_so(tmp_path):
    """A finished run's metrics.json, corrupted afterwards: not 'missing' with the log's last
    line, but 'unreadable' and why."""
    run = tmp_path / "runs" / "r_s0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text("{bad")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "r_s0.log").write_text("Loss is 0.1,\n(test data loss 0.1)\n")
    status.record(tmp_path, "r_s0", executor="local", exit=0, log="logs/r_s0.log")
    o = status.outcome(tmp_path, "r_s0")
    assert o.status == "unreadable" and o.metrics is None
    assert o.error.startswith("runs/r_s0/metrics.json is unreadable (")
    (run / "metrics.json").unlink()  # never written: missing
    assert status.outcome(tmp_path, "r_s0").status == "missing"


# ---- a report recomputed from its runs.csv alone ------------------------------------------------
ES = [
    "--train_flag=--epochs=40",
    "--train_flag=--optimizer=adam",
    "--train_flag=--learning_rate=0.01",
    "--train_flag=--early_stopping_patience=2",
    "--train_flag=--log_every=0",
]


@pytest.fixture(scope="module")
def early_stopped(tmp_path_factory):
    """model1 and model2 x 3 seeds with early stopping: the seeds stop at different epochs."""
    out = tmp_path_factory.mktemp("early") / "sw"
    cfgs = "--configs=configs/model1.cfg,configs/model2.cfg"
    sweep(cfgs, "--seeds=3", f"--out={out}", "--workers=2", *ES, check=0)
    report(out, check=0)
    return out, out / "report" / "test_accuracy"


def _fmt_pct(v):
    return f"{100 * v:.1f}"


@pytest.mark.slow
def test_every_number_of_results_md_is_recomputed_from_runs_csv(early_stopped):
    from scipy import stats as scipy_stats

    _, rep = early_stopped
    runs = read_csv(rep / "runs.csv")
    md = (rep / "results.md").read_text()
    n = int(runs[0]["test_accuracy_examples"])
    counts = {}
    for r in runs:
        assert int(r["test_accuracy_count"]) == round(float(r["test_accuracy"]) * n)
        counts.setdefault(r["variant"], {})[int(r["seed"])] = int(r["test_accuracy_count"])

    def boot(x):  # the percentile bootstrap, written out: default_rng(0), 10,000 resamples
        x = np.asarray(x, float)
        means = x[np.random.default_rng(0).integers(0, x.size, (10_000, x.size))].mean(1)
        return np.percentile(means, [2.5, 97.5])

    rows = {r["variant"]: r for r in read_csv(rep / "results.csv")}
    for variant, by_seed in counts.items():
        x = np.array([by_seed[s] for s in sorted(by_seed)]) / n
        low, high = boot(x)
        r = rows[variant]
        assert float(r["mean"]) == x.mean() and float(r["std"]) == x.std(ddof=1)
        assert (float(r["ci_low"]), float(r["ci_high"])) == (low, high)
        cells = f"| {_fmt_pct(x.mean())} ± {_fmt_pct(x.std(ddof=1))} | "
        cells += f"[{_fmt_pct(low)}, {_fmt_pct(high)}] |"
        assert f"| {variant} |" in md and cells in md, cells
        stops = [
            int(q["stopped_epoch"] or q["epochs_completed"])
            for q in runs
            if q["variant"] == variant
        ]
        best = [int(q["best_epoch"]) for q in runs if q["variant"] == variant]
        assert float(r["stopped_epoch_mean"]) == np.mean(stops)
        assert (float(r["best_epoch_min"]), float(r["best_epoch_max"])) == (min(best), max(best))
    base, var = counts["model1"], counts["model2"]
    seeds = sorted(base)
    d = np.array([var[s] - base[s] for s in seeds])
    nonzero = d[d != 0]
    p = (
        1.0
        if not nonzero.size
        else (
            1.0
            if nonzero.size == 1
            else scipy_stats.wilcoxon(
                nonzero.astype(float), method=scipy_stats.PermutationMethod(n_resamples=np.inf)
            ).pvalue
        )
    )
    xb = np.array([var[s] for s in seeds])[:, None]
    yb = np.array([base[s] for s in seeds])[None, :]
    prob = np.mean((xb > yb) + 0.5 * (xb == yb))
    low, high = boot(d / n)
    r = rows["model2"]
    assert float(r["diff_mean"]) == pytest.approx((d / n).mean(), abs=1e-15)
    assert (float(r["diff_ci_low"]), float(r["diff_ci_high"])) == pytest.approx((low, high))
    assert float(r["prob_improvement"]) == prob
    assert float(r["p_value"]) == pytest.approx(p, abs=1e-12)
    assert float(r["p_holm"]) == pytest.approx(min(1.0, p), abs=1e-12)  # a family of one
    diff = f"{100 * (d / n).mean():+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"
    assert f"| 3 | {diff} | {prob:.2f} | {p:.3g} | {min(1.0, p):.3g} |" in md


@pytest.mark.slow
def test_curves_draw_no_mean_past_the_first_stop(early_stopped):
    from sweeps import manifest as sweep_manifest
    from sweeps import plots, results

    out, rep = early_stopped
    _, by_variant = results.load(str(out), sweep_manifest.read(str(out)))
    lengths = []
    for runs in by_variant.values():
        hist = [r.metrics["history"]["val_data_loss"] for r in runs]
        epochs, mean, _, stops = plots.curve_series(hist)
        assert len(epochs) == len(mean) == min(len(h) for h in hist)  # every seed present
        assert [e for e, _ in stops] == [len(h) for h in hist]
        lengths += [len(h) for h in hist]
    assert len(set(lengths)) > 1, "the seeds should stop at different epochs"
    md = (rep / "results.md").read_text()
    assert "the best epoch's (lowest validation loss), which early stopping restored" in md
    assert "Early stopping ended 6 of 6 finished runs" in md
    runs = read_csv(rep / "runs.csv")
    assert all(r["stopped_epoch"] and r["best_epoch"] == r["measured_epoch"] for r in runs)
    assert (rep / "paired_test_accuracy.png").exists()
    assert not (rep / "curves_learning_rate.png").exists()  # constant: says nothing


def test_time_left_leaves_out_the_first_runs_start_up():
    """The first run carries the workers' start-up: the rate is measured from its end on."""
    import types

    from sweeps.progress import Progress

    runs = [types.SimpleNamespace(name=f"r{i}") for i in range(5)]
    p = Progress("unused", runs)
    p.ended, p.ended_at = ["r0"], [10.0]
    assert p._left() is None  # nothing measured past the start-up yet
    p.ended, p.ended_at = ["r0", "r1", "r2"], [10.0, 11.0, 12.0]
    assert p._left() == pytest.approx(2.0)  # 2 runs in the 2 s since r0 ended; 2 runs left
    est = types.SimpleNamespace(seconds={"r0": 9, "r1": 1, "r2": 1, "r3": 4, "r4": 4})
    p.est = est
    assert p._left() == pytest.approx(8.0)  # by the estimated work: 8 s of it left at 1 s/s


def test_the_float32_example_is_what_the_loop_computes_for_that_split_size():
    import tensorflow as tf

    from sweeps import markdown

    for n in (30, 150, 1000):
        k = np.arange(n - 2)
        # The loop's accuracy: a float32 count of hits divided by n, in float32.
        acc = (tf.constant(k + 3, tf.float32) / n).numpy(), (tf.constant(k, tf.float32) / n).numpy()
        diffs = (acc[0].astype(np.float64) - acc[1].astype(np.float64)) * n
        text = markdown.float32_example(n)
        assert f"({diffs.min():.7f}/{n} against {diffs.max():.7f}/{n})" in text
    assert markdown.float32_example(1024) == ""  # a power of two: float32 is exact


def test_durations_read_in_tenths_under_ten_seconds():
    assert [estimate.duration(s) for s in (0, 0.44, 9.94, 9.96, 185, 7800, None)] == [
        "0 s",
        "0.4 s",
        "9.9 s",
        "10 s",
        "3 min 5 s",
        "2 h 10 min",
        "unknown",
    ]

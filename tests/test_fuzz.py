"""Fuzzing the command lines: bad input is one clear line and exit 2, never a traceback.

train.py: every flag, enumerated from options.define_flags on a fresh FlagValues (a new flag, a
new regularizer's strength, is covered without touching this file), goes through the edge values
of its type, with the defaults and, where the flag only matters in some variant, in that variant
too. Each case either is a valid run (the checks train.py makes before it creates anything pass,
or raise nothing but UserError) or ends with exactly one `train.py: error: ...` line naming the
flag, exit 2. The hundreds of cases run in ONE Python process: this file run as a script
(`python tests/test_fuzz.py < argvs.json`), a fresh FlagValues per case. A dozen cases run as
real train.py processes, among them failures after start-up (data files, devices, layers), to
prove the whole contract: one line, exit 2, no traceback, no --logdir created. Then sweep.py and
report.py edge cases, the grouped --help, and default run names that never collide.
"""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HUGE = "99999999999"
LONG = "x" * 5000

# Edge values by the flag's type (absl parser class).
EDGES = {
    "int": ["", "-1", "0", "1", HUGE, "9" * 30, "abc", "1.5", "0x10"],
    "float": ["", "-1", "0", "0.5", "nan", "inf", "-inf", "1e308", "1e309", "abc"],
    "list": ["", ",", "a,b", "-1", "0", "1,-1", HUGE, "1," + HUGE, "1,,2", "--5", "\u00b2", "0.5"],
    "enum": ["", "bogus", "UPPER"],  # UPPER: the default in capitals
    "string": ["", "/", LONG, "a b"],
    "bool": ["bogus", "", "2", "truee"],
    "multi": [
        "",
        ",",
        "bogus",
        "none",
        "l1@9",
        "l1@a-b",
        "l1@-1",
        "l1@1-0",
        "l1@0-" + HUGE,
        "l1@" + HUGE,
        "l1@0+",
        "l1@",
        "@0",
        "l1,bogus=1",
        "l1,l1",
        "l1,l1=",
        "l1,l1=-1",
        "l1,l1=nan",
        "l1,l1=1e309",
        "l1@all,l1=0.001",
        "dropout,dropout_rate=",
        "dropout,dropout_rate=0.5+2",
        "dropout@0+1,dropout_rate=0.5+0.4",
        "weight_decay@0",
        "orthogonal,orthogonal_mode=x",
        "weight_decay,weight_decay_all=maybe",
        "augment,augment=",
        "augment,augment=translate=2",
        "augment,augment=rotate=nan",
        "augment,augment=flip=sideways",
        "augment,augment=zoom=0.1+zoom=0.2",
        "augment@0",
        "cutout,cutout_size=0",
        "cutmix,cutmix_alpha=-1",
        "sam,sam_rho=inf",
        "spectral_norm,spectral_power_iterations=0",
        "clipnorm,clipnorm=0",
    ],
}
# Edge values of particular flags, beyond their type's.
EXTRA = {
    "dataset": ["csv:", "tfds:", "nope", "digits", "csv:/nonexistent/x.csv"],
    "model": ["rnn", "cnn"],
    "gpus": ["-1", "0", "0,0", "1,-1", HUGE, ",", "2", "0,2"],
    "logdir": ["a/" + "y" * 300, "/tmp/" + "z/" * 2000],
    "run_name": ["\u00e9" * 150, ".", ".."],
}
# Values every flag of the type must refuse, whatever the variant. Every integer flag has an
# upper bound (a huge value would overflow a tensor, or allocate, or wait forever).
MUST_FAIL = {
    "int": {"", "abc", "1.5", "9" * 30, HUGE},
    "float": {"", "abc", "nan", "inf", "-inf", "1e309"},
    "list": {",", "a,b", "-1", "1,-1", HUGE, "1," + HUGE, "1,,2", "--5", "\u00b2"},
    "enum": {"", "bogus", "UPPER"},
    "string": set(),
    "bool": {"bogus", "", "2", "truee"},
    "multi": set(EDGES["multi"]) - {"l1@all,l1=0.001", "dropout@0+1,dropout_rate=0.5+0.4"},
}
# Per flag: values it must refuse beyond its type's (a valid value would train nonsense, or fail
# only once TensorFlow and the data are loaded).
MUST_FAIL_FLAG = {
    "epochs": {"0", "-1"},
    "seed": {"-1"},
    "hidden": {"", "0", "0.5"},
    "conv_filters": {"", "0", "0.5"},
    "cnn_dense": {"0", "0.5"},
    "layers": {"0.5"},
    "lr_decay_epochs": {"0", "0.5"},
    "reg": {"", "0", "0.5"},
    "dataset": {"", "/", LONG, "a b", "csv:", "tfds:", "nope"},
    "model": {"", "/", LONG, "a b", "rnn"},
    "logdir": {"", LONG, "a/" + "y" * 300, "/tmp/" + "z/" * 2000},
    "run_name": {"/", LONG, "\u00e9" * 150, ".", ".."},
    "label_column": {""},
    "train_split": {""},
    "data_dir": {""},
    "gpus": {"/", LONG, "a b", "-1", "0", "0,0", "1,-1", HUGE, ","},
    "ece_bins": {"0", "-1"},
    "sharpness_samples": {"-1"},
    "sharpness_delta": {"0", "-1", "1e308"},
    "sharpness_steps": {"0", "-1"},
}

# Flags that only matter in some variant (options._unused_flags): the flags that make them
# matter. The regularizers' own flags need their regularizer: --reg=NAME (added below).
ENABLE = {
    "all_layers": ["--reg=l1"],
    "layers": ["--reg=l1"],
    "label_column": ["--dataset=csv:data.csv"],
    "data_dir": ["--dataset=tfds:mnist"],
    "train_split": ["--dataset=tfds:mnist"],
    "test_split": ["--dataset=tfds:mnist"],
    "conv_filters": ["--model=cnn"],
    "cnn_dense": ["--model=cnn"],
    "momentum": ["--optimizer=momentum"],
    "nesterov": ["--optimizer=momentum"],
    "lr_decay_epochs": ["--lr_schedule=step"],
    "lr_decay_factor": ["--lr_schedule=step"],
    "early_stopping_min_delta": ["--early_stopping_patience=5"],
    "early_stopping_monitor": ["--early_stopping_patience=5"],
    "rollback_lr_factor": ["--on_nan=rollback"],
    "max_rollbacks": ["--on_nan=rollback"],
    "sharpness_delta": ["--sharpness_samples=3"],
    "sharpness_steps": ["--sharpness_samples=3"],
}

# Known traps: (argv, a fragment of the one error line).
TRAPS = [
    (["--hidden="], "--hidden must be a comma list"),
    (["--dropout_rate="], "--dropout_rate values must be"),
    (["--reg=dropout", "--dropout_rate="], "--dropout_rate values must be"),
    (["--reg="], "--reg takes a comma list"),
    (["--reg=none,l1"], "(or none alone)"),
    (["--reg=l1,l1,none"], "(or none alone)"),
    (["--seed=-1"], "--seed must be in 0.."),
    (["--seed=" + HUGE], "--seed must be in 0.."),
    (["--epochs=" + HUGE], "--epochs must be in 1..1000000"),
    (["--warmup_epochs=" + HUGE], "--warmup_epochs must be"),
    (["--warmup_epochs=10", "--epochs=10"], "--warmup_epochs must be smaller than --epochs"),
    (["--l2=0.1", "--reg=none"], "--l2 does nothing here: --reg has no l2"),
    (["--l2=0.1", "--reg=l1"], "--l2 does nothing here: --reg has no l2"),
    (["--l2=0.1"], "--l2 does nothing here"),
    (["--dropout_rate=0.3"], "--dropout_rate does nothing here"),
    (["--dropout_rate=0.3", "--reg=l1"], "--dropout_rate does nothing here"),
    (["--label_column=y"], "--label_column does nothing here: it applies to --dataset=csv:"),
    (["--label_column=y", "--dataset=tfds:mnist"], "--label_column does nothing here"),
    (["--all_layers"], "--all_layers does nothing here"),
    (["--reg=weight_decay", "--all_layers"], "--all_layers does nothing here"),
    (["--layers=0", "--regularizer=l1"], "--layers does nothing here"),
    (["--momentum=0.5"], "--momentum does nothing here"),
    (["--optimizer=adamw"], "--optimizer=adamw is Adam with decoupled weight decay"),
    (["--reg=l1", "--layers=5"], "--layers index 5 is out of range"),
    (["--reg=l1", "--layers=" + HUGE], "--layers index"),
    (["--reg=l1", "--layers=0,0"], None),  # a repeated index: the same layers, valid
    (["--regularizer=bogus"], "unknown regularizer 'bogus'"),
    (["--regularizer="], "unknown regularizer ''"),
    (["--regularizer=none"], "unknown regularizer 'none'"),
    (["--regularizer=l1@9"], "l1: layer 9 is out of range"),
    (["--regularizer=l1@a-b"], "layers 'a-b' must be all, an index"),
    (["--regularizer=l1@0-" + HUGE], "--regularizer="),
    (["--regularizer=l1,bogus=1"], "'bogus=1' is not PARAM=VALUE"),
    (["--regularizer=l1,l1=-1"], "--l1 must be >= 0"),
    (["--regularizer=weight_decay@0"], "weight_decay is not placed on layers"),
    (["--reg=l1", "--regularizer=l1"], "l1 is given in --reg and --regularizer"),
    (["--regularizer=l1", "--regularizer=l1@0"], "l1 is given twice in --regularizer"),
    (["--regularizer=l1@0-1,l1=0.001", "--regularizer=dropout@all,dropout_rate=0.3"], None),
    (["--reg=dropout", "--layers=0,1", "--dropout_rate=0.5,0.4,0.3"], "has 3 values"),
    (["--regularizer=dropout@0+1,dropout_rate=0.5+0.4+0.3"], "has 3 values"),
    (["--regularizer= l1", "--l1=0.5"], None),  # the spec's name is stripped: --l1 applies
    (["--regularizer=l1@0-1", "--l1=0.5"], None),
    (["--reg=augment", "--augment=translate=0.1,bogus=1"], "--augment must be a comma list"),
    (["--reg=augment", "--augment=flip,flip"], "--augment must be a comma list"),
    (["--reg=augment", "--augment=rotate=181"], "--augment must be a comma list"),
    (["--reg=augment", "--augment=translate=0.1,rotate=10,zoom=0.1,flip"], None),
    (["--regularizer=augment,augment=translate=0.1+flip=both"], None),
    (["--augment=flip"], "--augment does nothing here: --reg has no augment"),
    (["--reg=cutout", "--cutout_size=1.5"], "--cutout_size must be a fraction in (0, 1]"),
    (["--reg=cutout", "--cutout_probability=0"], "--cutout_probability must be in (0, 1]"),
    (["--reg=cutmix", "--cutmix_alpha=0"], "--cutmix_alpha must be a finite number > 0"),
    (["--reg=sam", "--sam_rho=0"], "--sam_rho must be a finite number > 0"),
    (["--reg=sam", "--sam_rho=-1"], "--sam_rho must be a finite number > 0"),
    (["--reg=spectral_norm", "--spectral_power_iterations=101"], "must be an integer in 1..100"),
    (["--reg=spectral_norm", "--spectral_power_iterations=1.5"], "--spectral_power_iterations"),
    (["--reg=clipnorm", "--clipnorm=nan"], "--clipnorm must be a finite number > 0"),
    (["--reg=clipnorm", "--clipnorm=1e309"], "--clipnorm"),
    (["--regularizer=spectral_norm@1,spectral_power_iterations=2"], None),
    (["--reg=augment", "--xla"], "--xla cannot compile --reg=augment"),
    (["--regularizer=augment", "--xla"], "--xla cannot compile --reg=augment"),
    (["--reg=cutmix,sam,spectral_norm,clipnorm,cutout", "--xla"], None),
    (["--gpus=0,0"], "--gpus"),
    (["--device=cpu", "--gpus=1"], "--gpus does nothing here"),
    (["--lr_schedule=step", "--lr_decay_epochs=400"], "--lr_decay_epochs"),
    (["--model=cnn", "--hidden=8"], "--hidden does nothing here"),
    (["--model=rnn"], "--model"),
    (["--dataset=csv:"], "--dataset"),
    (["--dataset=tfds:"], "--dataset"),
    (["--validate_on=test", "--val_fraction=0.3"], "--val_fraction does nothing here"),
    (["--log_every=0", "--hist_every=5"], "--hist_every does nothing here"),
    (["--flagfile="], None),  # absl reads no file: nothing to refuse
    (["--flagfile=/nonexistent/x.cfg"], "flagfile"),
    (["--flagfile=/"], "flagfile"),
    (["--no_such_flag=1"], "no_such_flag"),
    (["--epochs"], "--epochs"),
    (["stray"], "unexpected arguments"),
]


# ---- the in-process checker (this file run as a script) ---------------------------------------


def _kind(flag):
    from absl import flags

    if isinstance(flag, flags.MultiFlag):
        return "multi"
    return {
        "IntegerParser": "int",
        "FloatParser": "float",
        "ListParser": "list",
        "EnumParser": "enum",
        "BooleanParser": "bool",
        "ArgumentParser": "string",
    }[type(flag.parser).__name__]


def _contexts():
    """{flag: [(label, argv prefix)]}: the defaults, and the variant where the flag matters."""
    import options
    import regularizers

    enable = dict(ENABLE)
    for reg, p in regularizers.all_params():
        enable[p.name] = [f"--reg={reg}"]
    fv = _fresh()
    out = {}
    for name in fv:
        ctx = [("defaults", [])]
        if name in enable:
            ctx.append(("enabled", enable[name]))
        out[name] = ctx
    defaults = {name: fv[name].value for name in fv}
    idle = {name for name, matters, _ in options._unused_flags(defaults) if not matters}
    return out, idle, enable


def _fresh():
    from absl import flags

    import options

    fv = flags.FlagValues()
    options.define_flags(fv)
    return fv


def walk_cases():
    """[(flag, kind, context label, value, argv)] for every train.py flag and edge value."""
    contexts, _, _ = _contexts()
    fv = _fresh()
    cases = []
    for name in fv:
        kind = _kind(fv[name])
        values = list(EDGES[kind]) + EXTRA.get(name, [])
        if kind == "enum":
            values = [v if v != "UPPER" else str(fv[name].default).upper() for v in values]
        for label, prefix in contexts[name]:
            for value in values:
                arg = f"--{name}={value}"
                cases.append((name, kind, label, value, [*prefix, arg]))
            if kind == "bool":  # the flag's own spellings
                cases.append((name, kind, label, "--no", [*prefix, f"--no{name}"]))
                cases.append((name, kind, label, "--", [*prefix, f"--{name}"]))
    return cases


def check(argv, logdir):
    """What train.py does with `argv` before it creates anything, as cli.run reports it:
    {"code": 0 | exit code, "error": the one line, "output": anything else printed,
    "traceback": for an exception that is not a UserError}."""
    from absl import flags

    import cli
    import models
    import options
    import regularizers
    from errors import UserError
    from runs import rundir
    from runs.exit_codes import EXIT_USAGE

    fv = _fresh()
    out = io.StringIO()
    result = {"argv": argv, "code": 0, "error": None, "traceback": None}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                rest = fv(["train.py", f"--logdir={logdir}", *argv])
            except flags.Error as e:
                raise UserError(cli._one_line(e)) from e
            if len(rest) > 1:
                raise UserError(f"unexpected arguments {rest[1:]}; flags look like --name=value")
            cfg = options.config_from_flags(fv)
            active = regularizers.resolve(cfg, models.num_hidden(cfg))
            name = cfg.run_name or options.default_run_name(cfg, active)
            rundir.prepare(cfg, name, create=False, check_busy=True)
    except UserError as e:
        result["code"] = e.exit_code if isinstance(e.exit_code, int) else EXIT_USAGE
        result["error"] = f"train.py: error: {cli._one_line(e)}"
    except BaseException:  # noqa: BLE001 - the point: nothing else may escape
        result["code"] = 1
        result["traceback"] = traceback.format_exc()
    result["output"] = out.getvalue()
    return result


def _main():
    """Reads {"logdir", "traps": [argv]} on stdin; prints {"walk": [...], "traps": [...]}."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    request = json.load(sys.stdin)
    start = time.time()
    walk = []
    for flag, kind, label, value, argv in walk_cases():
        r = check(argv, request["logdir"])
        walk.append({**r, "flag": flag, "kind": kind, "context": label, "value": value})
    traps = [check(argv, request["logdir"]) for argv in request["traps"]]
    _, idle, enable = _contexts()
    alone = {flag: check(prefix, request["logdir"]) for flag, prefix in enable.items()}
    print(
        json.dumps(
            {
                "walk": walk,
                "traps": traps,
                "idle": sorted(idle),
                "enable": enable,
                "enable_alone": alone,
                "seconds": time.time() - start,
            }
        )
    )


# ---- the in-process cases ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """Every walk case and trap, checked in one process; the logdir they name stays absent."""
    logdir = tmp_path_factory.mktemp("fuzz") / "logs"
    request = {"logdir": str(logdir), "traps": [argv for argv, _ in TRAPS]}
    proc = subprocess.run(
        [sys.executable, __file__],
        input=json.dumps(request),
        cwd=ROOT,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    out = json.loads(proc.stdout)
    out["logdir"] = logdir
    return out


def _mentions(line, flag):
    return f"--{flag}" in line or f"flag --{flag}=" in line or f"--no{flag}" in line


def _problems(case, idle):
    """What is wrong with one walk case's outcome, or []."""
    flag, kind, value = case["flag"], case["kind"], case["value"]
    where = f"{' '.join(case['argv'])[:160]} ({case['context']})"
    if case["traceback"]:
        return [f"{where}: traceback\n{case['traceback']}"]
    problems = []
    must_fail = value in MUST_FAIL[kind] or value in MUST_FAIL_FLAG.get(flag, ())
    if case["context"] == "defaults" and flag in idle:
        must_fail = True  # given, the flag does nothing with the defaults
    if case["code"] == 0:
        if must_fail:
            problems.append(f"{where}: accepted")
        return problems
    line = case["error"]
    if case["code"] != 2:
        problems.append(f"{where}: exit {case['code']}, wanted 2")
    if case["output"].strip():
        problems.append(f"{where}: printed more than the error: {case['output'][:300]!r}")
    if kind == "multi":
        if "--regularizer" not in line:
            problems.append(f"{where}: the error does not name --regularizer: {line}")
    elif not _mentions(line, flag):
        problems.append(f"{where}: the error does not name --{flag}: {line}")
    if len(line.replace(value, "")) > 600:  # beyond the value it echoes
        problems.append(f"{where}: the error line is {len(line)} characters long")
    return problems


def test_every_train_flag_walks_its_edge_values(checked):
    walk = checked["walk"]
    idle = set(checked["idle"])
    problems = [p for case in walk for p in _problems(case, idle)]
    assert not problems, f"{len(problems)} of {len(walk)} cases:\n" + "\n".join(problems[:40])
    flags_walked = {case["flag"] for case in walk}
    assert len(walk) > 600 and len(flags_walked) > 60, (len(walk), len(flags_walked))
    assert not checked["logdir"].exists()  # nothing was written
    print(f"{len(walk)} walk cases over {len(flags_walked)} flags in {checked['seconds']:.1f}s")


def test_every_conditional_flag_has_a_variant_where_it_matters(checked):
    """A new flag that only matters in some variant needs its entry in ENABLE (or a regularizer's
    Param): else the walk would only see it refused."""
    missing = sorted(set(checked["idle"]) - set(checked["enable"]))
    assert not missing, f"add these to ENABLE in tests/test_fuzz.py: {missing}"
    # Each enabling variant is itself a valid run (with the flag left at its default).
    bad = {f: r["error"] or r["traceback"] for f, r in checked["enable_alone"].items() if r["code"]}
    assert not bad, bad


def test_every_edge_value_of_a_valid_value_set_is_accepted_where_it_should_be(checked):
    """Valid values stay valid: the walk is not passing because everything is refused."""
    ok = {(c["flag"], c["value"], c["context"]) for c in checked["walk"] if c["code"] == 0}
    for expected in [
        ("epochs", "1", "defaults"),
        ("seed", "0", "defaults"),
        ("l1", "0", "enabled"),
        ("l1", "1e308", "enabled"),
        ("dropout_rate", "0.5", "enabled"),
        ("layers", "0", "enabled"),
        ("lr_decay_epochs", "", "enabled"),
        ("xla", "--", "defaults"),
        ("all_layers", "--", "enabled"),
        ("run_name", "", "defaults"),
        ("logdir", "/", "defaults"),
        ("regularizer", "l1@all,l1=0.001", "defaults"),
    ]:
        assert expected in ok, expected


@pytest.mark.parametrize("index", range(len(TRAPS)), ids=[" ".join(a)[:60] for a, _ in TRAPS])
def test_known_trap(checked, index):
    argv, fragment = TRAPS[index]
    r = checked["traps"][index]
    assert r["traceback"] is None, r["traceback"]
    if fragment is None:
        assert r["code"] == 0, r["error"]
        return
    assert r["code"] == 2, (argv, r)
    assert r["error"].startswith("train.py: error: ") and fragment in r["error"], r["error"]
    assert not r["output"].strip(), r["output"]


# ---- real train.py processes ------------------------------------------------------------------


def _one_line(proc, prog, code=2):
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith(f"{prog}: error:")]
    assert len(lines) == 1, err[-3000:]
    assert err.splitlines()[-1] == lines[0], err[-3000:]
    # Nothing of a run that never started: no absl log lines (devices, data, model) before it.
    assert not [x for x in err.splitlines() if re.match(r"[IWE]\d{4} ", x)], err[-3000:]
    return lines[0]


def _csv(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return f"--dataset=csv:{path}"


CSV = {
    "empty": "",
    "header_only": "a,b,label\n",
    "blank_lines": "\n\n\n",
    "header_and_blank_lines": "a,b,label\n\n\n",
    "one_class": "a,b,label\n" + "".join(f"{i},{i + 1},x\n" for i in range(20)),
    "single_row_class": "a,b,label\n"
    + "".join(f"{i},{i + 1},{'x' if i % 2 else 'y'}\n" for i in range(20))
    + "1,2,z\n",
    "beyond_float32": "a,b,label\n"
    + "".join(f"{i},{i + 1},{i % 2}\n" for i in range(20))
    + "1e40,1,0\n",
    "many_bad_cells": "a,b,label\n" + "".join(f"{i},x{i},{i % 2}\n" for i in range(20)),
}
REAL = [
    (["--reg=l1", "--layers=9", "--hidden=8,8"], None, "--layers index 9 is out of range"),
    (["--epochs=" + HUGE], None, "--epochs must be in 1..1000000"),
    (["--train_size=100000"], None, "--train_size=100000 is larger than"),
    (["--device=gpu"], None, "--device=gpu but TensorFlow sees no GPU"),
    (["--regularizer=l1@0-1", "--hidden=8"], None, "l1: layer 1 is out of range"),
    (["--reg=augment"], None, "--reg=augment transforms images, but iris is tabular"),
    (["--reg=cutmix", "--dataset=wine"], None, "--reg=cutmix transforms images, but wine is"),
    *[([], key, "CSV file") for key in CSV],
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, csv_key, fragment", REAL, ids=[" ".join(a) or k for a, k, _ in REAL]
)
def test_real_train_process_fails_with_one_line(tmp_path, args, csv_key, fragment):
    from tests.conftest import run_train

    logdir = tmp_path / "logs"
    if csv_key:
        args = [*args, _csv(tmp_path, f"{csv_key}.csv", CSV[csv_key])]
    proc = run_train(
        *args,
        "--epochs=2" if "--epochs" not in str(args) else "--seed=0",
        f"--logdir={logdir}",
        "--log_every=0",
        timeout=180,
    )
    line = _one_line(proc, "train.py")
    if csv_key == "single_row_class":
        assert "cannot hold out a stratified test split" in line, line
    elif csv_key == "one_class":
        assert "only one class" in line, line
    elif csv_key == "beyond_float32":
        assert "line 22, column 'a': '1e40' is beyond float32's range" in line, line
    elif csv_key == "many_bad_cells":
        assert ": 20 bad cells: line 2, column 'b'" in line and "and 15 more" in line, line
    else:
        assert fragment in line, line
    assert not logdir.exists()


# ---- sweep.py and report.py -------------------------------------------------------------------


def _run(script, *args, cwd, timeout=180):
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=cwd,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


MODEL1 = f"--configs={ROOT}/configs/model1.cfg"
SWEEP = [
    (["--workers=0"], "--workers must be >= 1"),
    (["--seeds=0"], "--seeds must be between 1 and"),
    (["--seeds=-1"], "--seeds must be between 1 and"),
    (["--seeds=" + HUGE], "--seeds must be between 1 and"),
    (["--configs="], "--configs must list at least one flagfile"),
    (["--configs=missing.cfg"], "missing.cfg"),
    ([f"--configs={ROOT}/configs/nomatch*.cfg"], "no file matches"),
    ([f"--configs={ROOT}/configs"], "is not a file"),
    ([MODEL1, "--grid=bad"], "--grid"),
    ([MODEL1, "--grid==1"], "--grid"),
    ([MODEL1, "--grid=l2="], "--grid"),
    ([MODEL1, "--grid=no_such_flag=1,2"], "no_such_flag"),
    ([MODEL1, "--grid=epochs=" + HUGE], "--epochs must be in 1..1000000"),
    ([f"--configs={ROOT}/configs/model6.cfg", "--grid=l2=0.01,1e-2"], "train the same flags"),
    ([MODEL1, "--train_flag=--bogus=1"], "bogus"),
    ([MODEL1, "--train_flag=epochs=3"], "--train_flag"),
    ([MODEL1, "--train_flag="], "--train_flag"),
    ([MODEL1, "--train_flag=--seed=3"], "--seed"),
    ([MODEL1, "--train_flags=,"], "--train_flags"),
    ([MODEL1, "--train_flag=--epochs=" + HUGE], "--epochs must be in 1..1000000"),
    (["--executor=bogus"], "--executor"),
    (["--executor=slurm", "--runs_per_task=0"], "--runs_per_task must be between 1 and 1000"),
    (["--executor=slurm", "--runs_per_task=-3"], "--runs_per_task must be between 1 and 1000"),
    (["--executor=slurm", "--runs_per_task=" + HUGE], "--runs_per_task must be between 1 and"),
    (["--executor=slurm", "--runs_per_task=1.5"], "--runs_per_task"),
    (["--executor=slurm", "--runs_per_task=nan"], "--runs_per_task"),
    (["--executor=slurm", "--runs_per_task="], "--runs_per_task"),
    (["--runs_per_task=2"], "use it with --executor=slurm"),
    ([MODEL1, "--out=", "--dry_run"], "--out must name the sweep directory"),
]


def _sweep_id(case):
    args = case.values[0] if hasattr(case, "values") else case[0]
    return " ".join(a.replace(str(ROOT) + "/", "") for a in args)


@pytest.mark.slow
@pytest.mark.parametrize("args, fragment", SWEEP, ids=[_sweep_id(c) for c in SWEEP])
def test_sweep_bad_input_is_one_line(tmp_path, args, fragment):
    out = tmp_path / "sweep_out"
    if not any(a.startswith("--out=") for a in args):
        args = [*args, f"--out={out}"]
    proc = _run("sweep.py", *args, cwd=tmp_path)
    line = _one_line(proc, "sweep.py")
    assert fragment in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written


REPORT = {
    "missing": "does not exist; run sweep.py first",
    "a_file": "is a file, not a sweep's directory",
    "empty_flag": "--sweep_dir= does not exist",
    "not_a_sweep": "holds no sweep (no sweep.json)",
    "empty_dir": "holds no sweep (no sweep.json)",
    "bad_manifest": "sweep.json is not valid JSON",
    "no_runs": "holds no finished runs",
}


@pytest.mark.slow
@pytest.mark.parametrize("what", REPORT)
def test_report_bad_input_is_one_line(tmp_path, what):
    sweep_dir = tmp_path / "s"
    if what == "a_file":
        sweep_dir.write_text("hello")
    elif what == "not_a_sweep":
        sweep_dir.mkdir()
        (sweep_dir / "notes.txt").write_text("hello")
    elif what == "empty_dir":
        sweep_dir.mkdir()
    elif what == "bad_manifest":
        sweep_dir.mkdir()
        (sweep_dir / "sweep.json").write_text("{not json")
    elif what == "no_runs":
        sweep_dir.mkdir()
        (sweep_dir / "sweep.json").write_text(json.dumps({"runs": [], "variants": []}))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    arg = "--sweep_dir=" if what == "empty_flag" else f"--sweep_dir={sweep_dir}"
    proc = _run("report.py", arg, cwd=tmp_path)
    assert REPORT[what] in _one_line(proc, "report.py")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


# ---- help ---------------------------------------------------------------------------------------


def test_help_groups_hold_every_flag_exactly_once():
    import options
    import regularizers

    fv = _fresh()
    grouped = [n for names in options.GROUPS.values() for n in names]
    grouped += [p.name for _, p in regularizers.all_params()]
    assert sorted(grouped) == sorted(set(grouped)), "a flag is in two groups"
    assert set(grouped) == set(fv), (set(fv) - set(grouped), set(grouped) - set(fv))
    text = options.help_text(fv)
    for group in options.GROUPS:
        assert f"\n{group}:\n" in text
    for name in fv:
        assert len(re.findall(rf"^  --{name} \(default", text, re.M)) == 1, name


@pytest.mark.slow
def test_help_flags_print_grouped_help_and_exit_0():
    import options

    procs = {
        flag: subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), flag, *extra],
            cwd=ROOT,
            env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag, extra in [
            ("--help", []),
            ("-h", ["--epochs=bad"]),  # help wins over a bad flag
            ("--helpshort", []),
            ("--helpfull", []),
        ]
    }
    results = {flag: (p.communicate(timeout=180), p.returncode) for flag, p in procs.items()}
    for flag, ((stdout, stderr), code) in results.items():
        assert code == 0, (flag, stderr[-2000:])
        assert "Traceback" not in stderr and not stderr.strip(), (flag, stderr[-2000:])
        if flag == "--helpfull":
            assert "--run_name" in stdout and "--verbosity" in stdout  # absl's too
        else:
            for group in options.GROUPS:
                assert f"\n{group}:\n" in stdout, (flag, group)
            assert "--verbosity" not in stdout
            assert stdout.count("  --dropout_rate (default") == 1


# ---- default run names ------------------------------------------------------------------------


def _name(*argv):
    import models
    import options
    import regularizers

    fv = _fresh()
    fv(["train.py", *argv])
    cfg = options.config_from_flags(fv)
    return options.default_run_name(cfg, regularizers.resolve(cfg, models.num_hidden(cfg)))


def test_default_run_names_differ_for_every_trained_difference():
    long_dir = "/" + "d" * 80
    variants = [
        [],
        ["--epochs=351"],
        ["--hidden=512,256,128,64,33"],
        ["--hidden=512,256,128,64"],
        ["--activation=relu"],
        ["--last_activation=tanh"],
        ["--mixed_precision=bf16"],
        ["--mixed_precision=fp16"],
        ["--dataset=wine"],
        [f"--dataset=csv:{long_dir}/a/data.csv"],
        [f"--dataset=csv:{long_dir}/b/data.csv"],
        ["--reg=l1"],
        ["--reg=l1", "--l1=0.0100001"],  # the readable part rounds to l1-0.01 too
        ["--reg=l1", "--all_layers"],
        ["--reg=l2"],
        ["--regularizer=l1@0-1"],
        ["--learning_rate=0.0100001"],
        ["--test_fraction=0.25"],
        ["--label_noise=0.1"],
        ["--seed=1"],
        ["--xla"],
    ]
    names = {tuple(v): _name(*v) for v in variants}
    assert len(set(names.values())) == len(variants), names
    # Many regularizers make a long readable part: the seed must still tell runs apart.
    many = [
        "--reg="
        + ",".join(
            [
                "l1",
                "l2",
                "dropout",
                "batchnorm",
                "gaussian_noise",
                "gaussian_dropout",
                "layernorm",
                "max_norm",
                "orthogonal",
                "group_lasso",
                "activity",
                "prox_l1",
            ]
        ),
        f"--dataset=csv:{long_dir}/data.csv",
    ]
    assert _name(*many, "--seed=0") != _name(*many, "--seed=1")


def test_default_run_names_ignore_where_and_how_often_to_log():
    base = _name("--reg=l1")
    assert _name("--reg=l1", "--logdir=/tmp/elsewhere") == base
    assert _name("--reg=l1", "--log_every=5") == base
    assert _name("--reg=l1", "--checkpoint_every=7", "--keep_checkpoints=9") == base
    assert _name("--reg=l1", "--progress=lines", "--device=cpu") == base


if __name__ == "__main__":
    _main()


@pytest.mark.parametrize("script", ["train.py", "sweep.py"])
def test_a_flagfile_that_is_not_text_is_one_line(tmp_path, script):
    """A binary (or Latin-1) file given as a flagfile: absl reads it as UTF-8 and fails."""
    path = tmp_path / "binary.cfg"
    path.write_bytes(b"\xff\xfe--reg\n")
    work = tmp_path / "work"
    work.mkdir()
    arg = f"--flagfile={path}" if script == "train.py" else f"--configs={path}"
    proc = _run(
        script, arg, f"--out={work / 'sw'}" if script == "sweep.py" else "--epochs=1", cwd=work
    )
    line = _one_line(proc, script)
    assert str(path) in line and "not UTF-8 text (byte 0" in line, line
    assert sorted(p.name for p in work.iterdir()) == []  # nothing written

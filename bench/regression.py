#!/usr/bin/env python3
"""Bitwise regression check of train.py: run a fixed set of cases, compare metrics.json exactly.

    python bench/regression.py run --repo REPO --out DIR [--jobs 2] [--cases a,b]
    python bench/regression.py compare [--allow_new] BASE NEW [--cases a,b]
    python bench/regression.py list

`run` starts REPO/.venv/bin/python REPO/train.py for each case (cwd=REPO, CUDA_VISIBLE_DEVICES
empty) with --logdir DIR/runs --run_name <case>; DIR/results.json holds each case's exit code and
wall time, DIR/runs/<case>/metrics.json its numbers, DIR/logs/<case>.log its output.
`compare` compares every case field by field (floats bitwise via repr of the parsed JSON, which
round-trips exactly), ignoring only clock- and path-dependent fields (IGNORED below), plus the
exit code. Exit 1 if any case differs or is missing in NEW.

The chunk_* cases force the chunked evaluation of large splits: training/loop.py evaluates a split
in one pass when it has at most EVAL_BATCH rows; the launcher below sets EVAL_BATCH to 16 as
soon as training.loop is imported (an import hook, so nothing else in the process changes), so
every split these runs evaluate goes through the chunked tf.while_loop.
"""

import argparse
import concurrent.futures
import json
import math
import os
import shutil
import subprocess
import sys
import time

CHUNK_EVAL_BATCH = 16

# Launcher for chunk_* cases: run train.py as __main__ with training.loop.EVAL_BATCH forced.
CHUNK_LAUNCHER = r"""
import importlib.abc, importlib.util, runpy, sys
N = int(sys.argv[1])
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "training.loop":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        inner = spec.loader.exec_module
        def exec_module(module):
            inner(module)
            if not hasattr(module, "EVAL_BATCH"):
                raise SystemExit("regression: training.loop has no EVAL_BATCH any more")
            module.EVAL_BATCH = N
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Hook())
sys.argv = sys.argv[2:]
sys.path[0] = "."
runpy.run_path(sys.argv[0], run_name="__main__")
"""

SHORT = ["--train_size=300", "--dataset=digits"]


def _cases():
    """Case name -> (train.py flags, chunked evaluation?)."""
    c = {}
    for m in ("1", "2", "3", "5", "6", "7", "8", "9", "11"):
        for s in (0, 1):
            c[f"tut_model{m}_s{s}"] = ([f"--flagfile=configs/model{m}.cfg", f"--seed={s}"], False)
    c["dropout_l1_momentum_cosine_es"] = (
        [
            *SHORT,
            "--reg=dropout,l1",
            "--l1=0.001",
            "--optimizer=momentum",
            "--learning_rate=0.05",
            "--lr_schedule=cosine",
            "--warmup_epochs=3",
            "--epochs=40",
            "--early_stopping_patience=3",
            "--early_stopping_min_delta=0.02",
        ],
        False,
    )
    c["mixup_noise_ema"] = (
        [
            *SHORT,
            "--reg=mixup,gaussian_noise,ema",
            "--mixup_alpha=0.4",
            "--noise_stddev=0.2",
            "--ema_momentum=0.9",
            "--epochs=8",
            "--optimizer=adam",
            "--learning_rate=0.003",
        ],
        False,
    )
    c["bn_adamw_step_labelnoise"] = (
        [
            "--dataset=wine",
            "--reg=batchnorm,weight_decay",
            "--optimizer=adamw",
            "--learning_rate=0.003",
            "--lr_schedule=step",
            "--lr_decay_epochs=3,6",
            "--label_noise=0.1",
            "--batch_size=32",
            "--epochs=8",
        ],
        False,
    )
    c["proxl1_maxnorm_grouplasso"] = (
        [
            "--dataset=breast_cancer",
            "--reg=prox_l1,max_norm,group_lasso",
            "--prox_l1=0.001",
            "--max_norm=1.5",
            "--group_lasso=0.001",
            "--all_layers",
            "--batch_size=64",
            "--epochs=8",
        ],
        False,
    )
    c["summaries_off"] = (["--reg=l2", "--log_every=0", "--epochs=10"], False)
    c["summaries_every5"] = (
        ["--reg=dropout", "--log_every=5", "--hist_every=5", "--epochs=12"],
        False,
    )
    c["diverged"] = (["--learning_rate=1e12", "--epochs=6", "--checkpoint_every=2"], False)
    c["rollback"] = (
        [
            "--learning_rate=1e12",
            "--on_nan=rollback",
            "--rollback_lr_factor=1e-13",
            "--max_rollbacks=3",
            "--checkpoint_every=1",
            "--epochs=8",
        ],
        False,
    )
    c["cnn_digits"] = (
        [
            *SHORT,
            "--model=cnn",
            "--conv_filters=8,16",
            "--cnn_dense=32",
            "--optimizer=adam",
            "--learning_rate=0.003",
            "--epochs=3",
        ],
        False,
    )
    c["cnn_digits_dropout"] = (
        [
            *SHORT,
            "--model=cnn",
            "--conv_filters=8,16",
            "--cnn_dense=32",
            "--reg=dropout",
            "--dropout_rate=0.3",
            "--optimizer=adam",
            "--learning_rate=0.003",
            "--epochs=3",
        ],
        False,
    )
    c["layernorm_gaussian_dropout"] = (
        [
            *SHORT,
            "--reg=layernorm,gaussian_dropout",
            "--gaussian_dropout_rate=0.2",
            "--all_layers",
            "--epochs=6",
        ],
        False,
    )
    c["cnn_augment_cutout_cutmix_sam"] = (
        [
            *SHORT,
            "--model=cnn",
            "--conv_filters=8,16",
            "--cnn_dense=32",
            "--reg=augment,cutout,cutmix,sam",
            "--sam_rho=0.05",
            "--optimizer=adam",
            "--learning_rate=0.003",
            "--epochs=3",
        ],
        False,
    )
    c["spectral_norm_clipnorm_all"] = (
        [
            *SHORT,
            "--reg=spectral_norm,clipnorm",
            "--clipnorm=0.5",
            "--all_layers",
            "--hist_every=2",
            "--epochs=6",
        ],
        False,
    )
    c["measures_sharpness"] = (
        [
            "--flagfile=configs/model2.cfg",
            "--epochs=30",
            "--sharpness_samples=3",
            "--sharpness_steps=4",
            "--ece_bins=7",
        ],
        False,
    )
    for base in (
        "tut_model8_s0",
        "dropout_l1_momentum_cosine_es",
        "bn_adamw_step_labelnoise",
        "cnn_digits_dropout",
        "layernorm_gaussian_dropout",
    ):
        flags, _ = c[base]
        if base.startswith("tut_"):
            flags = [*flags, "--epochs=40"]  # the chunked loop is slower: keep it short
        c[f"chunk_{base}"] = (flags, True)
    return c


CASES = _cases()

# Fields that legitimately differ between two runs of the same flags: clocks and paths. Two runs
# of the unmodified code differ in exactly run_dir, wall_time_s and train_time_s; the suffixes
# cover a new clock (*_time_s) or path (*_dir, *_path) field.
IGNORED = {"run_dir", "wall_time_s", "train_time_s"}
IGNORED_SUFFIXES = ("_time_s", "_dir", "_path")


def ignored(key):
    return key in IGNORED or key.endswith(IGNORED_SUFFIXES)


def _run_case(repo, out, name):
    flags, chunked = CASES[name]
    py = os.path.join(repo, ".venv", "bin", "python")
    tail = [
        *flags,
        f"--logdir={os.path.join(out, 'runs')}",
        f"--run_name={name}",
        "--progress=lines",
    ]
    if chunked:
        cmd = [py, "-c", CHUNK_LAUNCHER, str(CHUNK_EVAL_BATCH), "train.py", *tail]
    else:
        cmd = [py, os.path.join(repo, "train.py"), *tail]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    shutil.rmtree(os.path.join(out, "runs", name), ignore_errors=True)
    t0 = time.time()
    with open(os.path.join(out, "logs", f"{name}.log"), "w") as log:
        shown = [py, "train.py", *tail] if chunked else cmd
        note = (
            f"# chunked evaluation: training.loop.EVAL_BATCH={CHUNK_EVAL_BATCH}\n"
            if chunked
            else ""
        )
        log.write(note + " ".join(shown) + "\n")
        log.flush()
        rc = subprocess.call(cmd, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
    return name, rc, round(time.time() - t0, 1)


def _read_json(path, **kw):
    with open(path) as f:
        return json.load(f, **kw)


def cmd_run(args):
    repo, out = os.path.abspath(args.repo), os.path.abspath(args.out)
    names = _selected(args.cases)
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    path = os.path.join(out, "results.json")
    results = _read_json(path) if os.path.exists(path) else {}
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(_run_case, repo, out, n) for n in names]
        for f in concurrent.futures.as_completed(futures):
            name, rc, secs = f.result()
            results[name] = {
                "exit_code": rc,
                "wall_s": secs,
                "flags": CASES[name][0],
                "chunked_eval": CASES[name][1],
            }
            print(f"{name}: exit {rc}, {secs} s", flush=True)
            with open(path, "w") as fh:
                json.dump(dict(sorted(results.items())), fh, indent=1)
    print(f"{len(names)} cases in {time.time() - t0:.0f} s -> {out}")


def _selected(cases):
    if not cases:
        return list(CASES)
    names = [c for c in cases.split(",") if c]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit(f"regression: unknown case(s) {', '.join(unknown)}; see `regression.py list`")
    return names


def _load(d, name):
    """(exit code or None, metrics dict or None) of a case in results dir `d`."""
    rpath = os.path.join(d, "results.json")
    rc = _read_json(rpath).get(name, {}).get("exit_code") if os.path.exists(rpath) else None
    mpath = os.path.join(d, "runs", name, "metrics.json")
    m = _read_json(mpath, parse_constant=lambda s: s) if os.path.exists(mpath) else None
    return rc, m


ALLOW_NEW = False


def _diff(a, b, key="", out=None):
    """Dotted keys where a and b differ (floats compared bitwise; NaN equals NaN)."""
    out = [] if out is None else out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if ignored(k):
                continue
            sub = f"{key}.{k}" if key else k
            if k not in a and ALLOW_NEW:
                continue  # a key added by new code: not a changed number
            if k not in a or k not in b:
                out.append(sub + (" (missing in NEW)" if k not in b else " (new in NEW)"))
            else:
                _diff(a[k], b[k], sub, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{key} (length {len(a)} vs {len(b)})")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{key}[{i}]", out)
    elif type(a) is not type(b) or (
        a != b and not (isinstance(a, float) and math.isnan(a) and math.isnan(b))
    ):
        out.append(f"{key} ({a!r} vs {b!r})")
    return out


def cmd_compare(args):
    global ALLOW_NEW
    ALLOW_NEW = getattr(args, "allow_new", False)
    rpath = os.path.join(args.base, "results.json")
    base_names = list(_read_json(rpath)) if os.path.exists(rpath) else []
    names = (
        _selected(args.cases)
        if args.cases
        else sorted(
            set(base_names)
            | set(
                os.listdir(os.path.join(args.base, "runs"))
                if os.path.isdir(os.path.join(args.base, "runs"))
                else []
            )
        )
    )
    if not names:
        sys.exit(f"regression: no cases in {args.base}")
    bad = 0
    for name in names:
        brc, bm = _load(args.base, name)
        nrc, nm = _load(args.new, name)
        if nrc is None and nm is None:
            print(f"{name}: missing in NEW")
            bad += 1
            continue
        diffs = [] if brc == nrc else [f"exit code ({brc} vs {nrc})"]
        if bm is None or nm is None:
            if bm is not nm:
                diffs.append("metrics.json " + ("missing in NEW" if nm is None else "new in NEW"))
        else:
            diffs += _diff(bm, nm)
        if diffs:
            bad += 1
            more = f" ... (+{len(diffs) - 5} more)" if len(diffs) > 5 else ""
            print(f"{name}: {'; '.join(diffs[:5])}{more}")
    if bad:
        print(f"{bad} of {len(names)} cases differ")
        return 1
    print(f"{len(names)} cases equal")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--repo", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--cases", default="")
    c = sub.add_parser("compare")
    c.add_argument("base")
    c.add_argument("new")
    c.add_argument("--cases", default="")
    c.add_argument("--allow_new", action="store_true", help="keys only NEW has are not differences")
    sub.add_parser("list")
    args = p.parse_args()
    if args.cmd == "run":
        cmd_run(args)
    elif args.cmd == "compare":
        sys.exit(cmd_compare(args))
    else:
        for n, (f, ch) in CASES.items():
            print(f"{n}{' [chunked eval]' if ch else ''}: {' '.join(f)}")


if __name__ == "__main__":
    main()

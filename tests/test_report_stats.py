"""report.py's statistics against hand computations, on made-up sweeps (no training)."""

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from sweeps import results, stats
from tests.conftest import ROOT
from tests.test_sweep import png_shape, read_csv

BASE = [0.90, 0.92, 0.88, 0.94, 0.90, 0.86, 0.92, 0.90]
DIFFS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]  # all positive, no ties


# ---- the statistics ------------------------------------------------------------------------
def test_bootstrap_ci_is_the_seeded_percentile_bootstrap():
    x = np.array([0.9, 0.8, 1.0, 0.95, 0.85])
    means = x[np.random.default_rng(0).integers(0, 5, (10_000, 5))].mean(axis=1)
    expected = (np.percentile(means, 2.5), np.percentile(means, 97.5))
    assert stats.bootstrap_ci(x) == pytest.approx(expected, abs=0)
    assert stats.bootstrap_ci(x) == stats.bootstrap_ci(list(x))  # reproducible
    low, high = stats.bootstrap_ci(x)
    assert low < x.mean() < high
    # scipy's percentile bootstrap (another random stream) agrees to resampling noise.
    ref = scipy_stats.bootstrap(
        (x,), np.mean, method="percentile", n_resamples=10_000, rng=np.random.default_rng(1)
    ).confidence_interval
    assert (low, high) == pytest.approx((ref.low, ref.high), abs=0.01)
    assert stats.bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert all(math.isnan(v) for v in stats.bootstrap_ci([0.5]))


def test_describe_uses_the_sample_standard_deviation():
    d = stats.describe([0.90, 0.95, 1.00])
    assert d["n"] == 3 and d["mean"] == pytest.approx(0.95)
    assert d["std"] == pytest.approx(0.05)  # sqrt(((-.05)^2 + 0 + .05^2) / (3 - 1))
    assert math.isnan(stats.describe([0.9])["std"])


def test_probability_of_improvement_by_hand():
    x, y = [1, 2, 3], [2, 2, 0]
    # x=1 beats 0 (1); x=2 ties 2,2 (0.5+0.5) and beats 0 (1); x=3 beats all (3): 6 of 9 pairs.
    assert stats.probability_of_improvement(x, y) == pytest.approx(6 / 9)
    assert stats.probability_of_improvement(x, y, higher_is_better=False) == pytest.approx(3 / 9)
    assert stats.probability_of_improvement(y, y) == pytest.approx(0.5)
    assert math.isnan(stats.probability_of_improvement([], y))


def test_wilcoxon_by_hand_and_against_scipy():
    # n=3 positive differences: rank sum 6 is the most extreme of 2^3 sign patterns, two-sided.
    assert stats.wilcoxon_p([0.1, 0.2, 0.3]) == pytest.approx(2 / 8)
    assert stats.wilcoxon_p([0.1, 0.0, 0.2, 0.3]) == pytest.approx(2 / 8)  # zero dropped
    assert stats.wilcoxon_p(DIFFS) == pytest.approx(2 / 256)
    d = np.random.default_rng(3).normal(0.01, 0.02, 12)
    assert stats.wilcoxon_p(d) == pytest.approx(scipy_stats.wilcoxon(d).pvalue)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all-zero differences: p = 1, no warning
        assert stats.wilcoxon_p([0.0, 0.0, 0.0]) == 1.0
    assert math.isnan(stats.wilcoxon_p([]))
    assert stats.smallest_p(5) == pytest.approx(0.0625) and stats.smallest_p(6) < 0.05


def test_holm_by_hand():
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> running max keeps .06.
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = stats.holm([0.2, math.nan, 0.9])
    assert adjusted[0] == pytest.approx(0.4) and adjusted[2] == pytest.approx(0.9)
    assert math.isnan(adjusted[1])
    assert stats.holm([0.7, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([]) == []


def test_paired_uses_only_the_seeds_both_finished():
    c = stats.paired({0: 0.9, 1: 0.8, 2: 1.0}, {0: 0.85, 2: 0.9, 3: 0.5})
    assert c["seeds"] == [0, 2] and c["n_pairs"] == 2
    assert c["diff_mean"] == pytest.approx(0.075)
    # x = (0.9, 1.0), y = (0.85, 0.9): 1 + 0.5 (tie) + 1 + 1 of 4 pairs.
    assert c["prob_improvement"] == pytest.approx(3.5 / 4)


def test_regularized_layers_read_in_either_format():
    weights = {f"dense{i}": {"sparsity": i / 10, "l2_norm": i} for i in range(12)}
    weights["output"] = {"sparsity": 0.0, "l2_norm": 99.0}
    old = {"regularized_layers": {"l1": [], "l2": [10], "dropout": {"2": 0.5}}, "weights": weights}
    new = {"regularized_layers": {"l2": [10], "dropout": [2]}, "weights": weights}
    for m in (old, new):
        assert results.regularized_layer_names(m) == ["dense2", "dense10"]  # natural order
        assert results.layer_stat(m, "l2_norm") == pytest.approx(6.0)
    none = {"regularized_layers": {}, "weights": weights}
    assert len(results.regularized_layer_names(none)) == 12  # every hidden layer


def test_direction_of_improvement_follows_the_metric():
    assert results.higher_is_better("test_accuracy")
    assert not results.higher_is_better("test_data_loss")
    assert not results.higher_is_better("val_mse")
    assert results.higher_is_better("test_data_loss", "higher")


# ---- a made-up sweep through report.py -----------------------------------------------------
def _metrics(acc, sparsity, norm, reg_layers):
    return {
        "status": "finished",
        "epochs": 2,
        "epochs_completed": 2,
        "best_epoch": 2,
        "final": {"test_accuracy": acc, "test_data_loss": 1 - acc, "train_accuracy": acc},
        "history": {
            "train_accuracy": [acc / 2, acc],
            "val_accuracy": [acc / 3, acc],
            "train_data_loss": [1.0, 1 - acc],
            "val_data_loss": [1.1, 1 - acc],
        },
        "weights": {
            "dense0": {"sparsity": sparsity, "l2_norm": norm},
            "dense1": {"sparsity": 0.0, "l2_norm": 5.0},
            "output": {"sparsity": 0.0, "l2_norm": 1.0},
        },
        "regularized_layers": reg_layers,
    }


def make_sweep(root, variants, grid=None):
    """variants: [(name, config, grid values, {seed: accuracy, or None for a failed run})]."""
    manifest = {"protocol": {"configs": ["made/up.cfg"], "seeds": 0, "grid": grid or {}}}
    manifest["variants"], manifest["runs"] = [], []
    for name, config, point, accs in variants:
        label = ", ".join(f"{k}={v}" for k, v in {**config, **point}.items())
        manifest["variants"].append(
            {"variant": name, "label": label, "config": config, "grid": point, "flagfile": "m.cfg"}
        )
        for seed, acc in accs.items():
            run = f"{name}_s{seed}"
            manifest["runs"].append({"variant": name, "label": label, "seed": seed, "name": run})
            (root / "runs" / run).mkdir(parents=True)
            (root / "logs").mkdir(exist_ok=True)
            (root / "status").mkdir(exist_ok=True)
            if acc is None:
                (root / "logs" / f"{run}.log").write_text(
                    "I1125 starting\ntrain.py: error: --layers index 9 is out of range\n"
                )
                (root / "status" / f"{run}.json").write_text(
                    json.dumps({"exit": 2, "log": f"logs/{run}.log"})
                )
                continue
            strength = float(point.get("l2", 0.0))
            m = _metrics(acc, 0.1 + strength, 10 - 100 * strength, {"l2": [0]})
            (root / "runs" / run / "metrics.json").write_text(json.dumps(m))
        manifest["protocol"]["seeds"] = max(manifest["protocol"]["seeds"], len(accs))
    (root / "sweep.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def made_up(tmp_path_factory):
    better = {s: b + d for s, (b, d) in enumerate(zip(BASE, DIFFS, strict=True))}
    same = dict(enumerate(BASE))
    same[7] = None  # failed: exit 2
    return make_sweep(
        tmp_path_factory.mktemp("made_up"),
        [
            ("better", {"reg": ["l2"]}, {}, better),
            ("none", {"reg": ["none"], "l2": 0.01}, {}, dict(enumerate(BASE))),
            ("same", {"reg": ["dropout"]}, {}, same),
        ],
    )


def report_cli(out, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "report.py"), f"--sweep_dir={out}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_report_on_a_made_up_sweep_equals_hand_computation(made_up):
    proc = report_cli(made_up)
    assert proc.returncode == 0, proc.stderr
    out = made_up / "report" / "test_accuracy"
    rows = {r["variant"]: r for r in read_csv(out / "results.csv")}
    assert list(rows) == ["better", "none", "same"]
    base = np.array(BASE)
    better = base + np.array(DIFFS)
    r = rows["better"]
    assert float(r["mean"]) == pytest.approx(better.mean())
    assert float(r["std"]) == pytest.approx(better.std(ddof=1))
    assert (float(r["ci_low"]), float(r["ci_high"])) == pytest.approx(stats.bootstrap_ci(better))
    assert r["per_seed"].split(";")[0] == f"s0={better[0]:.6g}"
    # Baseline: the variant without regularization, though it is listed second.
    assert {row["baseline"] for row in rows.values()} == {"none"}
    assert rows["none"]["p_value"] == ""
    assert float(r["diff_mean"]) == pytest.approx(np.mean(DIFFS))
    pairs = [(x > y) + 0.5 * (x == y) for x in better for y in base]
    assert float(r["prob_improvement"]) == pytest.approx(np.mean(pairs))
    assert float(r["p_value"]) == pytest.approx(2 / 256)
    assert float(r["p_holm"]) == pytest.approx(2 * 2 / 256)  # the smaller of m=2 p-values
    assert r["significant"] == "True"
    s = rows["same"]  # seed 7 failed: 7 pairs, every difference zero
    assert s["finished"] == "7" and s["not_finished"] == "1" and s["n_pairs"] == "7"
    assert float(s["diff_mean"]) == 0 and float(s["p_value"]) == 1.0
    assert float(s["p_holm"]) == 1.0 and s["significant"] == "False"
    assert float(s["prob_improvement"]) == pytest.approx(0.5)
    # Layer statistics: dense0 only (regularized_layers), sparsity 0.1 / norm 10.
    assert float(r["reg_layers_sparsity_mean"]) == pytest.approx(0.1)

    runs = read_csv(out / "runs.csv")
    assert len(runs) == 24
    failed = next(x for x in runs if x["run"] == "same_s7")
    assert failed["status"] == "failed" and failed["exit_code"] == "2"
    assert "index 9 is out of range" in failed["error"]
    assert float(runs[0]["test_accuracy"]) == pytest.approx(better[0])

    md = (out / "results.md").read_text()
    assert "## Protocol" in md and "`test_accuracy`" in md and "higher is better" in md
    assert "Baseline**: `none`" in md and "first variant without regularization" in md
    assert "beyond seed noise (Holm-adjusted p < 0.05): `better` (+4.5 points, better)" in md
    assert "| same_s7 | 7 | failed | 2 | `logs/same_s7.log`: train.py: error: --layers" in md
    assert "rliable" in md and "Holm" in md
    assert "| 8 / 8 | 2 [2] | 2 [2] | 0.100 | 10.0 |" in md  # norm to 3 digits, not "10"
    for name in ("test_accuracy.png", "curves_val_accuracy.png", "curves_train_data_loss.png"):
        height, width, _ = png_shape(out / name)
        assert width == 1000 and height >= 300


def test_report_loss_metric_lower_is_better(made_up, tmp_path):
    proc = report_cli(made_up, "--metric=test_data_loss", "--baseline=same")
    assert proc.returncode == 0, proc.stderr
    out = made_up / "report" / "test_data_loss"
    rows = {r["variant"]: r for r in read_csv(out / "results.csv")}
    assert float(rows["better"]["diff_mean"]) == pytest.approx(-np.mean(DIFFS[:7]))
    assert float(rows["better"]["prob_improvement"]) > 0.5  # lower loss: an improvement
    assert "lower is better" in (out / "results.md").read_text()
    # Each metric's report in its own folder, whole: no figure of another metric beside it.
    assert sorted(p.name for p in out.glob("*.png") if not p.name.startswith("curves_")) == [
        "paired_test_data_loss.png",
        "test_data_loss.png",
    ]
    assert (made_up / "report" / "test_accuracy" / "results.md").exists()


def test_report_says_when_nothing_beats_seed_noise_and_draws_grid_paths(tmp_path):
    out = make_sweep(
        tmp_path,
        [
            (f"m_l2-{v}", {"reg": ["l2"]}, {"l2": v}, {0: 0.9, 1: 0.8 + i / 100, 2: 0.9})
            for i, v in enumerate(["0", "0.001", "0.01"])
        ],
        grid={"l2": ["0", "0.001", "0.01"]},
    )
    proc = report_cli(out, f"--out={out}/rep")
    assert proc.returncode == 0, proc.stderr
    out = out / "rep"
    md = (out / "results.md").read_text()
    assert "No variant differs from the baseline beyond seed noise" in md
    assert "smallest possible two-sided Wilcoxon p-value is 0.25" in md
    assert "the first variant: every variant has a regularizer (--baseline chooses" in md
    assert "`l2` ∈ {0, 0.001, 0.01}" in md
    height, width, _ = png_shape(out / "path_l2.png")
    assert width == 1500 and height == 450


@pytest.mark.parametrize(
    "args, message",
    [
        (["--baseline=nope"], "--baseline=nope is not a variant of this sweep; choose one of"),
        (["--metric=nope"], "--metric=nope: the runs' metrics.json 'final' has no such value"),
        (["--out=SWEEP"], "would replace the sweep itself"),
        (["--out=SWEEP/.."], "would replace the sweep itself"),
        (["--out=SWEEP/sweep.json"], "is a file; name a folder for the report"),
        (["--out=SWEEP/runs"], "holds files that are not a report; name another folder"),
    ],
)
def test_report_bad_input_is_one_line(made_up, args, message):
    args = [a.replace("SWEEP", str(made_up)) for a in args]
    proc = report_cli(made_up, *args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"report.py: error: {message}"] or (
        message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    )
    assert "Traceback" not in proc.stderr


# ---- counts, families, curves ----------------------------------------------------------------
def test_count_metrics_tie_exactly_where_float32_does_not(tmp_path):
    """Differences equal in test examples (3 of 120) differ in float32; as counts they tie, and
    the p-value is scipy's exact permutation p on the counts."""
    n = 120
    base = [100, 104, 98, 110, 101, 99, 105, 102]
    shift = [3, -3, 3, 3, -1, 3, 2, 0]  # ties: five |3|s; one zero
    f32 = lambda k: float(np.float32(k) / np.float32(n))  # noqa: E731  # as the loop computes it
    as_float = np.array([f32(b + d) - f32(b) for b, d in zip(base, shift, strict=True)])
    assert len({round(x, 12) for x in as_float[np.array(shift) == 3]}) > 1  # no tie in floats
    oracle = scipy_stats.wilcoxon(
        np.array(shift, float), method=scipy_stats.PermutationMethod(n_resamples=np.inf)
    ).pvalue
    assert stats.wilcoxon_p(shift) == pytest.approx(oracle, abs=1e-12)
    assert stats.wilcoxon_p(as_float) != pytest.approx(oracle)  # what rounding noise gives

    def sweep(root, with_examples):
        out = make_sweep(
            root,
            [
                ("none", {"reg": ["none"]}, {}, {s: f32(b) for s, b in enumerate(base)}),
                (
                    "l2",
                    {"reg": ["l2"]},
                    {},
                    {s: f32(b + d) for s, (b, d) in enumerate(zip(base, shift, strict=True))},
                ),
            ],
        )
        for run in (out / "runs").iterdir():
            m = json.loads((run / "metrics.json").read_text())
            if with_examples:
                m["examples"] = {"train": 60, "val": 30, "test": n}
            (run / "metrics.json").write_text(json.dumps(m))
        return out

    out = sweep(tmp_path / "counts", True)
    assert report_cli(out).returncode == 0
    rep = out / "report" / "test_accuracy"
    row = {r["variant"]: r for r in read_csv(rep / "results.csv")}["l2"]
    assert float(row["p_value"]) == pytest.approx(oracle, abs=1e-12)
    assert float(row["diff_mean"]) == pytest.approx(np.mean(shift) / n, abs=1e-15)
    runs = {r["run"]: r for r in read_csv(rep / "runs.csv")}
    assert runs["l2_s0"]["test_accuracy_count"] == "103"
    assert runs["l2_s0"]["test_accuracy_examples"] == "120"
    md = (rep / "results.md").read_text()
    assert "count of correct predictions among the split's 120 examples" in md
    assert 'zero_method="wilcox"' in md and "average rank" in md
    # Runs that do not record their split's size: compared as floats, and results.md says so.
    out = sweep(tmp_path / "floats", False)
    assert report_cli(out).returncode == 0
    rep = out / "report" / "test_accuracy"
    row = {r["variant"]: r for r in read_csv(rep / "results.csv")}["l2"]
    assert float(row["p_value"]) == pytest.approx(stats.wilcoxon_p(as_float))
    assert "compared as a real number" in (rep / "results.md").read_text()


def test_two_regularizers_with_their_own_grids_are_one_holm_family(tmp_path):
    rng = np.random.default_rng(5)
    base = dict(enumerate(rng.uniform(0.8, 0.9, 8)))
    variants = [("none", {"reg": ["none"]}, {}, base)]
    for flag, values in (("l2", ["1e-3", "1e-2"]), ("dropout_rate", ["0.2", "0.5"])):
        for i, v in enumerate(values):
            accs = {s: a + rng.normal(0.01 * (i + 1), 0.01) for s, a in base.items()}
            variants.append((f"{flag}-{v}", {"reg": [flag]}, {flag: v}, accs))
    out = make_sweep(tmp_path, variants)
    manifest = json.loads((out / "sweep.json").read_text())
    manifest["protocol"]["config_grids"] = {"l2.cfg": {"l2": ["1e-3", "1e-2"]}}
    manifest["protocol"]["config_grids"]["dropout.cfg"] = {"dropout_rate": ["0.2", "0.5"]}
    (out / "sweep.json").write_text(json.dumps(manifest))
    assert report_cli(out).returncode == 0
    rep = out / "report" / "test_accuracy"
    rows = [r for r in read_csv(rep / "results.csv") if r["variant"] != "none"]
    p = np.array([float(r["p_value"]) for r in rows])
    # Holm by hand over all four comparisons: sorted p times 4, 3, 2, 1, running maximum.
    order = np.argsort(p)
    hand = np.empty(4)
    hand[order] = np.maximum.accumulate(np.minimum(1, (4 - np.arange(4)) * p[order]))
    assert [float(r["p_holm"]) for r in rows] == pytest.approx(hand)
    md = (rep / "results.md").read_text()
    assert "Holm's correction is over all 4 comparisons" in md
    assert "**Grid of `l2.cfg` alone**: `l2` ∈ {1e-3, 1e-2}" in md
    assert (rep / "path_l2.png").exists() and (rep / "path_dropout_rate.png").exists()


def test_a_path_without_0_shows_the_separate_baseline_in_the_0_slot():
    from sweeps import plots

    def variant(name, grid):
        return {"variant": name, "label": name, "grid": grid, "flagfile": f"{name}.cfg"}

    variants = [variant("none", {}), *[variant(f"l1-{v}", {"l1": v}) for v in ("1e-5", "1e-3")]]
    rows = [{"variant": v["variant"], "label": v["label"]} for v in variants]
    series, base, positive, log, zero_at = plots.path_layout("l1", variants, rows, "none")
    assert base is rows[0] and positive == [1e-5, 1e-3] and log and zero_at == pytest.approx(1e-6)
    # Without a separate baseline no 0 slot is drawn (it would stay empty).
    assert plots.path_layout("l1", variants, rows)[1:] == (None, [1e-5, 1e-3], True, 0.0)
    # A grid with 0 draws its own 0; the baseline inside the grid is not drawn twice.
    variants[0]["grid"] = {"l1": "0"}
    _, base, _, _, zero_at = plots.path_layout("l1", variants, rows, "none")
    assert base is None and zero_at == pytest.approx(1e-6)


def test_a_sweep_whose_runs_all_failed_says_so(tmp_path):
    out = make_sweep(tmp_path, [("v", {"reg": ["none"]}, {}, {0: None, 1: None})])
    proc = report_cli(out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "none of its 2 runs finished (2 failed)" in line
    assert "logs/v_s0.log: train.py: error: --layers index 9 is out of range" in line
    assert "run sweep.py first" not in line


def test_curves_average_only_while_every_seed_runs():
    from sweeps import plots

    hist = [[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0], [3.0, 3.0, 3.0, 3.0]]
    epochs, mean, (low, high), stops = plots.curve_series(hist)
    assert list(epochs) == [1, 2, 3] and list(mean) == pytest.approx([5 / 3, 2, 7 / 3])
    runs = np.array([[1, 2, 3], [1, 1, 1], [3, 3, 3]])
    std = np.std(runs, axis=0)
    assert low == pytest.approx(np.maximum(mean - std, runs.min(0)))  # epoch 1: 0.72 -> 1
    assert low[0] == 1.0 and high == pytest.approx(np.minimum(mean + std, runs.max(0)))
    # A fraction seldom above 0: the band stays within what the seeds measured.
    _, mean, (low, high), _ = plots.curve_series([[0.0, 0.0], [0.0, 0.0], [0.3, 0.0]])
    assert (
        mean[0] - np.std([0, 0, 0.3]) < 0
        and low[0] == 0.0
        and high[0] == pytest.approx(0.1 + np.std([0, 0, 0.3]))
    )
    assert stops == [(5, 5.0), (3, 1.0), (4, 3.0)]
    assert not plots.says_something([[0.001] * 5, [0.001] * 3])  # a constant learning rate
    assert plots.says_something([[0.0, 0.0], [0.0, 0.1]])

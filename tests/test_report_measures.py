"""report.py's calibration and generalization-measure sections on a made-up sweep."""

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats

from sweeps import measures as measures_report
from sweeps import results
from tests.conftest import ROOT

# Per variant and seed: (test ECE, dist_init, loss gap); 2 variants x 4 seeds.
RUNS = {
    "none": [(0.10, 3.0, 0.30), (0.12, 2.5, 0.20), (0.11, 3.5, 0.35), (0.13, 2.0, 0.05)],
    "ls": [(0.05, 1.0, 0.10), (0.06, 1.5, 0.15), (0.04, 0.5, 0.02), (0.07, 1.2, 0.25)],
}
COUNTS = [[0, 2, 3], [1, 1, 3]]  # two seeds' test reliability bins (3 bins), repeated


def _metrics(ece, dist, gap, seed):
    counts = COUNTS[seed % 2]
    return {
        "status": "finished",
        "final": {
            "test_accuracy": 0.9,
            "test_data_loss": 0.3,
            "test_ece": ece,
            "test_ece_ts": ece / 2,
            "generalization_gap": gap,
        },
        "history": {"val_data_loss": [1.0, 0.5]},
        "weights": {"dense0": {"sparsity": 0.0, "l2_norm": 1.0}},
        "measures": {"dist_init": dist, "train_accuracy_eval": 0.95 + gap / 10},
        "reliability": {
            "bins": 3,
            "test": {
                "count": counts,
                "confidence": [None if c == 0 else 0.2 + 0.3 * i for i, c in enumerate(counts)],
                "accuracy": [
                    None if c == 0 else 0.1 * (i + seed % 2) for i, c in enumerate(counts)
                ],
            },
        },
    }


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    manifest = {
        "protocol": {"configs": ["m.cfg"], "seeds": 4, "grid": {}},
        "variants": [],
        "runs": [],
    }
    for name, runs in RUNS.items():
        reg = ["none"] if name == "none" else ["label_smoothing"]
        manifest["variants"].append(
            {"variant": name, "label": name, "config": {"reg": reg}, "grid": {}, "flagfile": "m"}
        )
        for seed, values in enumerate(runs):
            run = f"{name}_s{seed}"
            manifest["runs"].append({"variant": name, "label": name, "seed": seed, "name": run})
            (root / "runs" / run).mkdir(parents=True)
            (root / "runs" / run / "metrics.json").write_text(json.dumps(_metrics(*values, seed)))
    (root / "sweep.json").write_text(json.dumps(manifest))
    return root


def test_ece_is_lower_is_better():
    assert not results.higher_is_better("test_ece")
    assert not results.higher_is_better("test_ece_ts")
    assert not results.higher_is_better("test_brier")


def test_report_on_test_ece_with_tables_tau_and_reliability(sweep):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "report.py"), f"--sweep_dir={sweep}", "--metric=test_ece"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = sweep / "report" / "test_ece"
    text = (report / "results.md").read_text()
    assert "## Calibration (test split, means over seeds)" in text
    ls_mean = np.mean([r[0] for r in RUNS["ls"]])
    assert f"| ls | 4 | {ls_mean:.4g} | {ls_mean / 2:.4g} |" in text
    # Kendall tau of distance from init with the loss gap, pooled over the 8 runs.
    runs = [r for rs in RUNS.values() for r in rs]
    tau, p = scipy.stats.kendalltau([r[1] for r in runs], [r[2] for r in runs])
    assert f"| distance from init | + | {tau:.4g} | {p:.4g} | 8 |" in text
    assert (report / "reliability_test.png").stat().st_size > 1000
    assert "![reliability diagrams](./reliability_test.png)" in text
    # The paired statistics apply to ECE, lower being better: ls improves on every seed.
    assert "- **Metric**: `test_ece`" in text and "; lower is better." in text
    assert "| ls | ls | 4 | -0.06 [-0.0675, -0.0525] | 1.00 |" in text


def test_pooled_reliability_by_hand(sweep):
    _, by_variant = results.load(sweep, json.loads((sweep / "sweep.json").read_text()))
    t = measures_report.pooled_reliability(by_variant["none"])
    # Seeds 0 and 2 have counts [0, 2, 3], seeds 1 and 3 have [1, 1, 3].
    np.testing.assert_array_equal(t["count"], [2, 6, 12])
    # Bin 1: accuracy 0.1 (even seeds, 2 examples each) and 0.2 (odd seeds, 1 example each).
    assert t["accuracy"][1] == pytest.approx((2 * 2 * 0.1 + 2 * 1 * 0.2) / 6)
    assert t["confidence"][2] == pytest.approx(0.8)

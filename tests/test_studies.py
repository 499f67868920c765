"""The study scripts (studies/*.sh) end to end on their tiny grid (TINY=1), into a temp folder."""

import csv
import os
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# script: the report folders it writes under DOCS, and the variants its results.csv must hold
STUDIES = {
    "tutorial": ([""], {f"model{i}" for i in (1, 2, 3, 5, 6, 7, 8, 9, 11)}),
    "overfit": (["test_accuracy", "test_ece"], {"none", "batchnorm", "spectral-norm"}),
    "images": (["test_accuracy", "test_ece"], {"none", "augment", "cutout", "cutmix", "sam"}),
}


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Runs every study script once with TINY=1, OUT and DOCS in a temp folder."""
    tmp = tmp_path_factory.mktemp("studies")
    for name in STUDIES:
        env = {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": "",
            "TINY": "1",
            "OUT": str(tmp / "out" / name),
            "DOCS": str(tmp / "docs" / name),
        }
        proc = subprocess.run(
            ["bash", str(ROOT / "studies" / f"{name}.sh")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"{name}.sh exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return tmp


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_study_script_writes_its_reports(studies, name):
    folders, variants = STUDIES[name]
    for folder in folders:
        report = studies / "docs" / name / folder
        md = (report / "results.md").read_text()
        assert "## Paired comparison with the baseline" in md
        with open(report / "results.csv") as f:
            rows = list(csv.DictReader(f))
        assert variants <= {r["variant"] for r in rows}
        baseline = "model1" if name == "tutorial" else "none"
        assert {r["baseline"] for r in rows} == {baseline}
        assert all(r["finished"] == r["runs"] == "2" for r in rows)  # TINY: 2 seeds each
        assert (report / "runs.csv").exists() and list(report.glob("*.png"))
        if name != "tutorial":  # the calibration study metrics, measures and reliability
            assert "## Calibration (test split" in md
            assert "## Generalization measures" in md
            assert (report / "reliability_test.png").exists()


def test_overfit_is_one_family_with_the_kendall_table(studies):
    report = studies / "docs" / "overfit" / "test_accuracy"
    md = (report / "results.md").read_text()
    assert "Kendall τ" in md
    with open(report / "results.csv") as f:
        rows = list(csv.DictReader(f))
    # none + the first point of 7 grids + batchnorm, mixup and spectral norm: 11 variants, 10
    # comparisons in one Holm family.
    assert len(rows) == 11
    assert sum(1 for r in rows if r["p_value"]) == 10
    assert "Holm's correction is over all 10 comparisons" in md
    assert (studies / "docs" / "overfit" / "paths.png").exists()

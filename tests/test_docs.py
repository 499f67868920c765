"""The README's two commands are the ones a user and CI run."""

import re

from tests.conftest import ROOT


def readme_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_gives_exactly_two_commands_using_the_venv():
    train_cmd, test_cmd = readme_commands()
    for cmd in (train_cmd, test_cmd):
        assert cmd.startswith("python3 -m venv .venv && .venv/bin/pip install")
    assert train_cmd.endswith(".venv/bin/python train.py --reg=l1 --all_layers")
    assert "pytest" in test_cmd


def test_ci_runs_the_readme_test_command():
    _, test_cmd = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci


def test_train_help_explains_every_flag():
    from tests.conftest import run_train

    proc = run_train("--help")  # absl prints the help on stdout (and exits 1)
    for name in (
        "--reg",
        "--all_layers",
        "--layers",
        "--l1",
        "--l2",
        "--dropout_rate",
        "--epochs",
        "--optimizer",
        "--learning_rate",
        "--seed",
        "--logdir",
        "--run_name",
        "--device",
        "--log_every",
        "--stats_every",
        "--hist_every",
        "--checkpoint_every",
    ):
        assert f"  {name}" in proc.stdout, name

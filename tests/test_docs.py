"""The documents: the README's two commands are the ones a user and CI run, every relative link
resolves, and no file names a path outside the repository."""

import os
import re
import subprocess
from pathlib import Path

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


DOC_PAGES = [
    "README.md",
    "BUILD.md",
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md")),
]
SKIP_DIRS = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "runs_out",
    "sweeps_out",
    "logs",
}


def _prose(text):
    """Markdown without its fenced code blocks and inline code spans (links there are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchors(path):
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated heading numbered -1, -2, ..."""
    seen, anchors = {}, set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", _prose(path.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_every_relative_link_in_the_documents_resolves():
    broken = []
    for page in DOC_PAGES:
        path = ROOT / page
        for target in re.findall(r"\]\(<?([^)\s>]+)>?(?: \"[^\"]*\")?\)", _prose(path.read_text())):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists() or ROOT not in (linked, *linked.parents):
                broken.append(f"{page}: {target} (no such file in the repository)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page}: {target} (no heading with that anchor)")
    assert not broken, "\n".join(broken)


def _repository_files():
    """The repository's files: git's list (tracked and new, ignored ones left out), or a walk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # no git, or not a clone
        files = []
        for dirpath, dirnames, filenames in os.walk(ROOT):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            files += [Path(dirpath) / name for name in filenames]
        return files


def test_no_file_names_a_path_outside_the_repository():
    """A path that climbs to a parent folder must lead, from its file's folder, to a file or
    folder of the repository: a document or script never points at the machine it came from."""
    outside = []
    for path in _repository_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # images and other binary files, a file deleted but still listed
        for match in re.finditer(r"(?:\.\./)+[\w.\-/]*", text):
            target = (path.parent / match.group()).resolve()
            if not target.exists() or ROOT not in target.parents:
                outside.append(f"{path.relative_to(ROOT)}: {match.group()}")
    assert not outside, "\n".join(outside)

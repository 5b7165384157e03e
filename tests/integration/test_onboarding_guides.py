"""The onboarding guides (docs/onboarding.en.md, docs/onboarding.th.md) work exactly as written.

Every ```sh block of a guide runs, in order, in one bash (so `. activate`, `eval` and exports carry
over), with `set -e -o pipefail`, in a temporary copy of the repository: its configs, suites,
schemas and .gitignore copied, bin/, include/devstack and include/demo linked, and .local/ holding
a link to this worktree's venv. The environment points the `harvest` settings (HARVEST_SOURCES_DIR,
HARVEST_EXPECTATIONS_DIR, HARVEST_STAGING_DIR) and bin/services (HARVEST_LOCAL) at that copy, so the
relative paths the guide shows are the ones written. The copy is a git repository with a bare
repository as `origin`, for the pull-request step. The demo site the guide starts is stopped by PID.

A fenced block right after the line `<!-- output -->` is what the sh block before it prints: each
line must appear in that block's output (stdout and stderr), `…` standing for any text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import services as devstack  # include/devstack/services.py (on sys.path: tests/conftest.py)
from harvesters.settings import REPO_ROOT

pytestmark = pytest.mark.integration
DOCS = REPO_ROOT / "docs"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```$", re.S | re.M)
OUTPUT_MARK = "<!-- output -->"
DONE = "@@ block {} done @@"


def guide_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(shell code, expected output lines) per ```sh block, in order."""
    blocks: list[tuple[str, list[str]]] = []
    for m in FENCE.finditer(text):
        info, body = m.group(1).strip(), m.group(2)
        if info == "sh":
            blocks.append((body, []))
        elif text[: m.start()].rstrip().endswith(OUTPUT_MARK):
            assert blocks, "an output block before any sh block"
            blocks[-1][1].extend(line for line in body.splitlines() if line.strip())
    return blocks


def shown_in(expected: str, output: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in expected.strip().split("…"))
    return any(re.search(pattern, line) for line in output.splitlines())


def repo_copy(root: Path) -> dict[str, str]:
    for name in ("include/sources", "include/schemas", "expectations"):
        shutil.copytree(REPO_ROOT / name, root / name)
    shutil.copy(REPO_ROOT / ".gitignore", root / ".gitignore")
    for name in ("bin", "include/devstack", "include/demo"):
        (root / name).symlink_to(REPO_ROOT / name)
    (root / ".local").mkdir()
    (root / ".local" / "venv").symlink_to(REPO_ROOT / ".local" / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEST_", "VIRTUAL_ENV"))}
    env.update({
        "HARVEST_LOCAL": str(root / ".local"),
        "HARVEST_SOURCES_DIR": str(root / "include" / "sources"),
        "HARVEST_EXPECTATIONS_DIR": str(root / "expectations"),
        "HARVEST_STAGING_DIR": str(root / ".local" / "staging"),
        "GIT_AUTHOR_NAME": "Agency Staff", "GIT_AUTHOR_EMAIL": "staff@agency.example.go.th",
        "GIT_COMMITTER_NAME": "Agency Staff", "GIT_COMMITTER_EMAIL": "staff@agency.example.go.th",
        "COLUMNS": "200",
    })
    origin = root.parent / "origin.git"
    for argv in (["git", "init", "-q", "--bare", str(origin)], ["git", "init", "-q", "-b", "main", str(root)],
                 ["git", "-C", str(root), "add", "-A"], ["git", "-C", str(root), "commit", "-qm", "the repository"],
                 ["git", "-C", str(root), "remote", "add", "origin", str(origin)]):
        subprocess.run(argv, check=True, env=env, capture_output=True)
    return env


def test_every_command_of_the_guides_works_as_written(tmp_path):
    """Both guides, run once each; the Thai one is run only when its commands or outputs differ from
    the English one's (today they are the same: translated prose around the same commands)."""
    english, thai = (guide_blocks((DOCS / f"onboarding.{lang}.md").read_text(encoding="utf-8")) for lang in ("en", "th"))
    assert len(english) >= 7 and any("harvest new-source" in code for code, _ in english)
    run_guide(english, tmp_path / "en")
    if thai != english:
        run_guide(thai, tmp_path / "th")


def run_guide(blocks: list[tuple[str, list[str]]], tmp_path: Path) -> None:
    root = tmp_path / "repo"
    env = repo_copy(root)
    script = "set -e -o pipefail\n" + "".join(f"{code}\necho '{DONE.format(i)}'\n" for i, (code, _) in enumerate(blocks))
    try:
        proc = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True,
                              timeout=540, stdin=subprocess.DEVNULL)
    finally:
        devstack.stop(root / ".local" / "state")  # the demo site the guide started, by its PID file
    output = proc.stdout + proc.stderr
    segments = re.split(r"@@ block \d+ done @@\n", proc.stdout)
    assert proc.returncode == 0, f"block {len(segments) - 1} failed:\n{blocks[len(segments) - 1][0]}\n{output[-3000:]}"
    # stderr has no block markers: check each block's expected lines against its stdout and all of stderr.
    for i, (code, expected) in enumerate(blocks):
        for line in expected:
            assert shown_in(line, segments[i] + proc.stderr), f"block {i} ({code.splitlines()[0]}) lacks: {line}"
    # What the guide promised was written, and pushed for the pull request.
    assert (root / "include/sources/pcd/pcd-pm25-stations-hourly.yaml").is_file()
    branches = subprocess.run(["git", "-C", str(tmp_path / "origin.git"), "branch", "--list"], capture_output=True,
                              text=True, check=True).stdout
    assert "add-pcd-pm25-stations-hourly" in branches
    shown = subprocess.run(["git", "-C", str(tmp_path / "origin.git"), "show", "--stat", "add-pcd-pm25-stations-hourly"],
                           capture_output=True, text=True, check=True).stdout
    assert "expectations/pcd_pm25_stations_hourly.json" in shown


def test_the_readme_links_the_guides():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/onboarding.en.md" in readme and "docs/onboarding.th.md" in readme

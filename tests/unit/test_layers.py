"""The layer rules are executable: `lint-imports` (in `make lint`) passes on the tree, fails on a breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("gateway/sse.py", "from hubserve.runtimes.base import LoadedEncoder", "the gateway reaches models"),
        ("gateway/hf/service.py", "from hubserve.gateway.openai import protocol", "the dialects do not"),
        ("runners/child/app.py", "from hubserve.config import Settings", "a runner process gets its config"),
        ("scheduler/batcher.py", "from hubserve.tasks import base", "the scheduler knows runners"),
        ("hub/store.py", "from hubserve.gateway import sse", "layers, top to bottom"),
        ("client/hf_hub.py", "from hubserve.protocol import dumps", "the SDK imports nothing"),
    ],
)
def test_a_forbidden_import_breaks_the_lint(tmp_path: Path, module: str, line: str, contract: str) -> None:
    root = _copy(tmp_path)
    path = root / "src" / "hubserve" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402,F401\n")
    result = _lint(root)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout

"""The tree is clean under the project's ruff configuration (``[tool.ruff]`` in pyproject.toml)."""

import subprocess
from pathlib import Path

from ruff.__main__ import find_ruff_bin  # a test dependency: missing ruff fails the suite, never skips

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    proc = subprocess.run([find_ruff_bin(), "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""Time the test suite as CI runs it (issue 17: `make test` under 15 minutes on 2 cores, `make test-fast` under 3).

Clones the repository's committed HEAD into a clean directory (what CI
checks out), links this checkout's ``.venv`` into it (``make`` would build
the same one), and runs the two tiers with the Makefile's own pytest
arguments (``-n auto --dist loadfile``; ``-m "not slow"`` for the fast
tier).  Reports per tier the wall and CPU time of the whole process, the
pytest summary line and, for the whole suite, the 15 slowest test phases.

Usage::

    python benchmarks/suite.py                    # both tiers
    python benchmarks/suite.py --tiers fast       # the edit-test loop only
    python benchmarks/suite.py --json suite.json  # also write the figures
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from rerun import timed  # noqa: E402 - the sibling benchmark's timer (wall and CPU with the children)

ROOT = Path(__file__).resolve().parent.parent
TIERS = {"full": [], "fast": ["-m", "not slow"]}


def run_tier(clone: Path, tier: str, workers: str) -> dict[str, object]:
    """One tier in the clone: wall/CPU, pytest's summary line, the slowest phases (whole suite)."""
    log = clone.parent / f"{tier}.log"
    cmd = [str(clone / ".venv" / "bin" / "python"), "-m", "pytest", "-n", workers, "--dist", "loadfile", "-q",
           "-p", "no:cacheprovider", *TIERS[tier], *(["--durations=15"] if tier == "full" else [])]
    old = os.getcwd()
    os.chdir(clone)
    try:
        figures: dict[str, object] = dict(timed(cmd, dict(os.environ), log))
    finally:
        os.chdir(old)
    text = log.read_text()
    summary = [ln.strip("= ") for ln in text.splitlines() if re.search(r"\d+ passed", ln)]
    figures["summary"] = summary[-1] if summary else ""
    figures["slowest"] = re.findall(r"^\s*(\d+\.\d+s \w+ +\S+)", text, flags=re.M)[:15]
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiers", default="full,fast", help="comma-separated, of full, fast")
    ap.add_argument("--workers", default="auto", help="pytest-xdist processes (the Makefile's TEST_WORKERS)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    tiers = [t for t in args.tiers.split(",") if t]
    if unknown := sorted(set(tiers) - set(TIERS)):
        ap.error(f"--tiers: unknown {', '.join(unknown)} (known: {', '.join(TIERS)})")
    if not (ROOT / ".venv" / "bin" / "python").exists():
        ap.error(f"{ROOT / '.venv'} not found: run `make venv` first")
    with tempfile.TemporaryDirectory(prefix="jwstspec-suite-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        (clone / ".venv").symlink_to(ROOT / ".venv")
        head = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
        figures = {"commit": head, "cores": os.cpu_count(), **{t: run_tier(clone, t, args.workers) for t in tiers}}
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

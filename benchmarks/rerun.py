"""Whole-command cost of a rerun with nothing to do (issue 16 item 5).

Times ``jwstspec demo`` (or ``jwstspec run``) as a whole process, the way a
user meets it: Python start, imports, the embedded Prefect API, the demo's
data check, the flows.  Reported per command: wall time and the CPU time of
the process and everything it waited for (server, workers), from
``os.wait4``.  On a shared, loaded machine the CPU time is the steadier
figure; the fraction "cached / first" is given for both.

Usage::

    python benchmarks/rerun.py --output /tmp/demo --first      # a clean first demo, then the reruns
    python benchmarks/rerun.py --output /tmp/demo --reruns 2   # reruns only (the demo exists)
    python benchmarks/rerun.py --output /tmp/demo --run miri   # also `jwstspec run <output>/miri.toml`, cached

``--pycache DIR`` runs the commands with byte-compiled sources kept in
``DIR`` (``PYTHONPYCACHEPREFIX``, ``PYTHONDONTWRITEBYTECODE`` unset), as in
an installed environment; without it the environment is left as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, float]:
    """Run ``cmd``; its wall time and CPU time (with the children it waited for)."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}; see {log}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", type=Path, default=Path(tempfile.gettempdir()) / "jwstspec-bench-rerun",
                    help="demo directory (default: in the temporary directory, kept for reruns)")
    ap.add_argument("--first", action="store_true", help="time a clean first demo (--clean) before the reruns")
    ap.add_argument("--reruns", type=int, default=1, help="cached `jwstspec demo` reruns to time")
    ap.add_argument("--run", action="append", default=[], help="also time a cached `jwstspec run <output>/<NAME>.toml`")
    ap.add_argument("--pycache", type=Path, help="keep byte-compiled sources here (an installed environment)")
    ap.add_argument("--first-from", type=Path, help="JSON of an earlier first run (wall_s, cpu_s) to compare with")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--label", default="", help="prefix of the figures' names (e.g. before/after)")
    args = ap.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")  # a loaded machine starts slowly
    if args.pycache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(args.pycache)
    exe = str(Path(sys.executable).with_name("jwstspec"))
    logs = args.output.parent / f"{args.output.name}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    figures: dict[str, object] = {}
    if args.first:
        figures["first"] = timed([exe, "demo", "--output", str(args.output), "--clean"], env, logs / "first.log")
    elif args.first_from:
        figures["first"] = json.loads(args.first_from.read_text())["first"]
    for i in range(args.reruns):
        figures[f"{args.label}rerun{i + 1}"] = timed([exe, "demo", "--output", str(args.output)], env, logs / f"{args.label}rerun{i + 1}.log")
    for name in args.run:
        figures[f"{args.label}run-{name}"] = timed([exe, "run", str(args.output / f"{name}.toml")], env, logs / f"{args.label}run-{name}.log")
    first = figures.get("first")
    if isinstance(first, dict):
        for key, value in list(figures.items()):
            if key != "first" and isinstance(value, dict):
                value["fraction_wall"] = round(value["wall_s"] / first["wall_s"], 4)
                value["fraction_cpu"] = round(value["cpu_s"] / first["cpu_s"], 4)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

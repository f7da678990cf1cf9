"""Time and check each observing mode of the demo (issues 13 and 15: time per mode, figures per mode).

Runs ``jwstspec demo`` as a whole process, once per selection of
observations (the default demo, the NIRSpec modes, the MIRI modes), each in
a clean directory, and reports per run:

* wall and CPU time of the process (with the server and workers it waited
  for), the command's own split (``generate``, one entry per configuration)
  and the console lines it printed;
* per observation, the mean time of each pipeline per exposure
  (``detector1``, ``spec2``, ``spec3``, ``tso3``: the "done in" lines of the
  per-exposure logs);
* each final product's ``demo_truth.json`` record (median flux/truth,
  points within 3 %, white-light depth/injected);
* for a stitched MIRI MRS spectrum, its coverage of 4.9-27.9 um (the range
  less the steps more than 5x the median step) and its ``NOVERLAP``.

Usage::

    python benchmarks/demo_modes.py --output /tmp/modes                 # all three runs
    python benchmarks/demo_modes.py --output /tmp/modes --runs nirspec  # one of default, nirspec, miri
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from rerun import timed  # noqa: E402 - the sibling benchmark's timer (wall and CPU with the children)

RUNS = {
    "default": None,
    "nirspec": "nirspec-ifu,nirspec-fs,nirspec-mos,nirspec-bots",
    "miri": "miri-mrs-full,miri-lrs,miri-lrs-tso",
}
DONE = re.compile(r" (detector1|spec2|spec3|tso3): (jw\d{5}(?:-o)?\d{3})\S* done in ([0-9.]+) s")
FINISHED = re.compile(r"jwstspec demo finished in \d+ s \((.*)\)")
MRS_RANGE = (4.9, 27.9)


def pipeline_times(data: Path) -> dict[str, dict[str, float]]:
    """``{observation: {pipeline: mean seconds per exposure}}`` from the per-exposure logs."""
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    for log in data.glob("*/Obs*/logs/*.log"):
        for step, name, secs in DONE.findall(log.read_text(errors="replace")):
            seconds[(name[-3:], step)].append(float(secs))
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (obs, step), values in sorted(seconds.items()):
        out[obs][step] = round(sum(values) / len(values), 1)
    return dict(out)


def stitched_coverage(path: Path) -> dict[str, float]:
    """Coverage of :data:`MRS_RANGE` by a stitched spectrum and its ``NOVERLAP``."""
    import numpy as np
    from astropy.io import fits

    from jwstspec.spectrum import read_spectrum

    w = np.sort(np.asarray(read_spectrum(path).wavelength, float))
    steps = np.diff(w)
    holes = steps[steps > 5 * np.median(steps)].sum()
    lo, hi = max(w[0], MRS_RANGE[0]), min(w[-1], MRS_RANGE[1])
    covered = max(hi - lo - holes, 0.0) / (MRS_RANGE[1] - MRS_RANGE[0])
    header = fits.getheader(path, 0)
    return {"coverage": round(float(covered), 4), "wavelength_um": [round(float(w[0]), 3), round(float(w[-1]), 3)],
            "noverlap": header.get("NOVERLAP", fits.getheader(path, 1).get("NOVERLAP"))}


def one_run(label: str, only: str | None, output: Path) -> dict:
    out = output / label
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    log = output / f"{label}.log"
    cmd = [str(Path(sys.executable).with_name("jwstspec")), "demo", "--output", str(out)] + (["--only", only] if only else [])
    result = {"command": " ".join(cmd[1:]), **timed(cmd, dict(os.environ), log)}
    text = log.read_text(errors="replace")
    result["console_lines"] = text.count("\n")
    split = FINISHED.search(text)
    result["split_s"] = split.group(1) if split else None
    data = out / "data"
    result["per_exposure_s"] = pipeline_times(data)
    truth = {}
    for path in sorted(data.glob("*/Obs*/combined*/demo_truth.json")):
        for name, record in json.loads(path.read_text()).items():
            keep = {k: record[k] for k in ("median_ratio", "frac_within_3pct", "depth_ratio") if k in record}
            truth[f"{path.parent.parent.name}/{path.parent.name}/{name}"] = keep  # combined or a variant
    result["truth"] = truth
    result["stitched_mrs"] = {p.name: stitched_coverage(p) for p in sorted(data.glob("*/Obs011/combined/*_stitched_x1d.fits"))}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(tempfile.gettempdir()) / "jwstspec-bench-modes",
                        help="where the runs go (default: in the temporary directory)")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    args = parser.parse_args()
    results = {label: one_run(label, RUNS[label], args.output) for label in args.runs.split(",")}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

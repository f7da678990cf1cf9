"""Stage-1 1/f benchmark: constant and moving-median destriping, vectorised vs a per-column loop.

    .venv/bin/python benchmarks/stage1.py [--size 2048] [--nints 4] [--window 201]

Times and peak memory of ``destripe_constant`` and ``destripe_moving_median``
on a full-frame rate image and on a rateints cube, against the research
code's approach in the same run: a Python loop over the columns with a
masked-array sigma clip (``astropy.stats.sigma_clip``, 3 sigma, until
convergence), then the clipped median (constant) or
``numbamisc.median_filter`` with a ``window x 1`` kernel (moving median).

Peak memory is the rise of the process's resident set (``VmHWM``, reset
through ``/proc/self/clear_refs`` before each call, so it also counts
buffers allocated inside numba), over the resident size before the call.
Results are compared where the loop gives a value (it leaves NaN where a
column's window holds no sky pixel; the project's version interpolates
there, and the number of such pixels is printed).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jwstspec.stages.clean1f import destripe_constant, destripe_moving_median  # noqa: E402


def _clipped_column(column: np.ndarray, usable: np.ndarray, clip: float) -> np.ma.MaskedArray:
    from astropy.stats import sigma_clip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sigma_clip(np.ma.masked_array(column, mask=~usable), sigma=clip, maxiters=None)


def loop_constant(data: np.ndarray, mask: np.ndarray, clip: float = 3.0) -> np.ndarray:
    """Research-code approach, one column at a time: clipped median per column."""
    out = data.astype(float)
    for c in range(data.shape[1]):
        level = np.ma.median(_clipped_column(data[:, c], mask[:, c] & np.isfinite(data[:, c]), clip))
        out[:, c] -= 0.0 if np.ma.is_masked(level) else float(level)
    return out


def loop_moving_median(data: np.ndarray, mask: np.ndarray, window: int = 201, clip: float = 3.0) -> np.ndarray:
    """Research-code approach, one column at a time: sigma clip, then numbamisc's masked median filter."""
    from numbamisc import median_filter

    kernel = np.ones(window, dtype=bool)
    out = data.astype(float)
    for c in range(data.shape[1]):
        clipped = _clipped_column(data[:, c], mask[:, c] & np.isfinite(data[:, c]), clip)
        out[:, c] -= median_filter(clipped.data, kernel, np.ma.getmaskarray(clipped))  # NaN where nothing usable
    return out


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float, float]:
    """Result, seconds, peak resident-memory rise (MB)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    before = _rss_kb("VmRSS:")
    t0 = time.perf_counter()
    result = fn()
    dt = time.perf_counter() - t0
    return result, dt, max(_rss_kb("VmHWM:") - before, 0) / 1024


def scene(n: int, nints: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noise + 1/f-like stripes (offset and smooth drift per column and integration), a masked slice region."""
    rng = np.random.default_rng(seed)
    mask = np.ones((n, n), bool)
    mask[n // 4: n // 4 + 300, 100:-100] = False  # taller than the window: rows with no sky pixel in it
    for k in range(12):  # narrow "slices" at the centre
        mask[n // 2 + 30 * k: n // 2 + 30 * k + 20, 20:-20] = False
    y = np.arange(n)[None, :, None] / n
    drift = rng.normal(0, 0.1, (nints, 1, n)) * np.sin(2 * np.pi * (y + rng.random((nints, 1, n))))
    data = rng.normal(0, 0.05, (nints, n, n)) + rng.normal(0, 0.2, (nints, 1, n)) + drift
    data[:, ~mask] += 3.0  # the illuminated region
    return data, mask


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--nints", type=int, default=4)
    parser.add_argument("--window", type=int, default=201)
    args = parser.parse_args()
    cube, mask = scene(args.size, args.nints)
    # compile numba (ours is cached on disk; numbamisc's is not) outside the timings
    destripe_moving_median(cube[0, :300, :8], mask[:300, :8], args.window)
    loop_moving_median(cube[0, :300, :8], mask[:300, :8], args.window)
    print(f"1/f destriping, {args.size}x{args.size}, window {args.window}, clip 3 sigma; "
          f"per-column loop = the research code's approach")
    for label, data in ((f"{args.size}x{args.size} rate", cube[0]), (f"{args.nints}-int rateints", cube)):
        for method in ("constant", "moving_median"):
            if method == "constant":
                fast = lambda: destripe_constant(data, mask, 3.0)  # noqa: E731
                slow_one: Callable[[np.ndarray], np.ndarray] = lambda p: loop_constant(p, mask, 3.0)  # noqa: E731
            else:
                fast = lambda: destripe_moving_median(data, mask, args.window, 3.0)  # noqa: E731
                slow_one = lambda p: loop_moving_median(p, mask, args.window, 3.0)  # noqa: E731
            fast_out, t_fast, m_fast = timed(fast)
            slow_out, t_slow, m_slow = timed(lambda: np.array([slow_one(p) for p in (data if data.ndim == 3 else data[None])]))
            fast_cmp = fast_out if fast_out.ndim == 3 else fast_out[None]
            ok = np.isfinite(slow_out)
            rel = float(np.max(np.abs(fast_cmp[ok] - slow_out[ok])) / np.max(np.abs(slow_out[ok])))
            print(f"{label:>16} {method:>13}: vectorised {t_fast:7.2f} s {m_fast:6.0f} MB | per-column loop "
                  f"{t_slow:7.2f} s {m_slow:6.0f} MB | speed-up {t_slow / t_fast:5.1f}x | max rel. diff {rel:.1e} | "
                  f"loop NaN where ours is finite: {int((~ok & np.isfinite(fast_cmp)).sum())} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())

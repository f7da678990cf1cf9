"""Stage-1 1/f benchmark: constant and moving-median destriping, vectorised vs a per-column loop.

    .venv/bin/python benchmarks/stage1.py [--size 2048] [--nints 4]

Times and peak memory (tracemalloc) of ``destripe_constant`` and
``destripe_moving_median`` on a full-frame rate image and on a rateints
cube, against the research code's approach in the same run: a Python loop
over columns with a masked-array sigma clip (constant) or
``numbamisc.median_filter`` with a 201x1 kernel (moving median).  Results
are compared to 1e-6 relative.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jwstspec.stages.clean1f import destripe_constant, destripe_moving_median  # noqa: E402


def loop_constant(data: np.ndarray, mask: np.ndarray, clip: float) -> np.ndarray:
    from astropy.stats import sigma_clip

    out = data.copy()
    for c in range(data.shape[1]):
        col = np.ma.masked_array(data[:, c], mask=~mask[:, c])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            level = np.ma.median(sigma_clip(col, sigma=clip, maxiters=5))
        out[:, c] -= 0.0 if np.ma.is_masked(level) else float(level)
    return out


def loop_moving_median(data: np.ndarray, mask: np.ndarray, window: int) -> np.ndarray:
    from numbamisc import median_filter

    kernel = np.ones(window, dtype=bool)
    out = data.copy()
    for c in range(data.shape[1]):
        est = median_filter(data[:, c].astype(float), kernel, ~mask[:, c])
        out[:, c] -= np.nan_to_num(est, nan=0.0)
    return out


def timed(fn, *args):  # noqa: ANN001, ANN202
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn(*args)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, dt, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--nints", type=int, default=4)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.size
    mask = np.ones((n, n), bool)
    mask[n // 4: n // 2, 100:-100] = False  # a source/slice region
    image = rng.normal(0, 0.05, (n, n)) + rng.normal(0, 0.2, (1, n))
    # warm numba's compilation outside the timing
    destripe_moving_median(image[:300, :8], mask[:300, :8], 201)
    loop_moving_median(image[:300, :8], mask[:300, :8], 201)
    for label, data in (("2048x2048 rate", image), (f"{args.nints}-int rateints", np.repeat(image[None], args.nints, axis=0))):
        for method, fast, slow, extra in (("constant", destripe_constant, loop_constant, 3.0),
                                          ("moving_median", destripe_moving_median, loop_moving_median, 201)):
            fast_out, t_fast, m_fast = timed(fast, data, mask, extra)
            planes = data if data.ndim == 3 else data[None]
            slow_out, t_slow, m_slow = timed(lambda d, m, e: np.array([slow(p, m, e) for p in d]), planes, mask, extra)
            fast_cmp = fast_out if fast_out.ndim == 3 else fast_out[None]
            rel = np.nanmax(np.abs(fast_cmp - slow_out)) / np.nanmax(np.abs(slow_out))
            print(f"{label:>18} {method:>14}: vectorised {t_fast:6.2f} s ({m_fast:6.0f} MB peak), per-column loop "
                  f"{t_slow:6.2f} s ({m_slow:6.0f} MB): {t_slow / t_fast:5.1f}x, max rel. difference {rel:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Test helper: how much 1/f striping a NIRSpec rate image or cube holds."""

from __future__ import annotations

import numpy as np


def column_stripes(data: np.ndarray, dark: np.ndarray, min_pixels: int = 8) -> float:
    """Robust rms (DN/s) of the columns' median over their ``dark`` pixels, about the image's median.

    ``data`` is a rate image ``(ny, nx)`` or cube ``(nints, ny, nx)`` (each
    integration measured apart); ``dark`` the ``(ny, nx)`` pixels without
    light.  Columns with fewer than ``min_pixels`` dark pixels are left out.
    """
    cube = np.asarray(data, float).reshape((-1,) + np.shape(data)[-2:])
    keep = np.asarray(dark, bool).sum(axis=0) >= min_pixels
    medians = np.nanmedian(np.where(dark, cube, np.nan)[:, :, keep], axis=1)  # (nints, columns)
    offsets = medians - np.nanmedian(medians, axis=1, keepdims=True)
    return float(1.4826 * np.nanmedian(np.abs(offsets)))

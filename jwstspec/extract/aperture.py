"""Extraction regions (circle, box, annulus) as per-slice pixel weights, and weighted sums."""

from __future__ import annotations

import numpy as np

__all__ = ["annulus_mask", "annulus_weights", "box_weights", "circle_weights", "weighted_sum"]

_QUANTUM = 0.01  # px: centres closer than this share one photutils mask


def _per_centre(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, make) -> np.ndarray:
    """Weights (nw, ny, nx) built once per distinct (quantised) centre, or (ny, nx) for a fixed centre."""
    qx = np.round(np.atleast_1d(cx) / _QUANTUM).astype(np.int64)
    qy = np.round(np.atleast_1d(cy) / _QUANTUM).astype(np.int64)
    pairs, inverse = np.unique(np.stack([qx, qy], axis=1), axis=0, return_inverse=True)
    masks = np.stack([make((px * _QUANTUM, py * _QUANTUM), shape) for px, py in pairs])
    if len(pairs) == 1:
        return masks[0]
    return masks[inverse.ravel()]


def circle_weights(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, radius: float) -> np.ndarray:
    """Exact partial-pixel weights of a circle of ``radius`` px (photutils) around each slice's centre."""
    from photutils.aperture import CircularAperture

    return _per_centre(shape, cx, cy, lambda c, s: CircularAperture(c, radius).to_mask(method="exact").to_image(s))


def annulus_weights(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, rin: float, rout: float,
                    method: str = "exact") -> np.ndarray:
    """Partial-pixel weights of an annulus ``rin``-``rout`` px (photutils) around each slice's centre."""
    from photutils.aperture import CircularAnnulus

    return _per_centre(shape, cx, cy, lambda c, s: CircularAnnulus(c, rin, rout).to_mask(method=method).to_image(s))


def annulus_mask(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, rin: float, rout: float) -> np.ndarray:
    """Boolean background annulus (pixel centres inside) per slice."""
    return annulus_weights(shape, cx, cy, rin, rout, method="center") > 0


def box_weights(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, half: float) -> np.ndarray:
    """A square of side ``2 * half + 1`` spaxels centred on the (sub-pixel) source: exact pixel overlaps."""
    ny, nx = shape
    cx, cy = np.atleast_1d(cx).astype(float), np.atleast_1d(cy).astype(float)

    def overlap(n: int, c: np.ndarray) -> np.ndarray:
        lo, hi = c - half - 0.5, c + half + 0.5
        edges = np.arange(n, dtype=float)
        return np.clip(np.minimum(edges[None] + 0.5, hi[:, None]) - np.maximum(edges[None] - 0.5, lo[:, None]), 0.0, 1.0)

    w = overlap(ny, cy)[:, :, None] * overlap(nx, cx)[:, None, :]
    if np.all(cx == cx[0]) and np.all(cy == cy[0]):
        return w[0]
    return w


def weighted_sum(values: np.ndarray, weights: np.ndarray, power: int = 1) -> np.ndarray:
    """``sum(values * weights**power)`` over each slice; weights (ny, nx) or (nw, ny, nx)."""
    w = weights**power if power != 1 else weights
    if w.ndim == 2:
        return np.einsum("kij,ij->k", values, w)
    return np.einsum("kij,kij->k", values, w)

"""Extraction regions (circle, box, annulus) as per-slice pixel weights, and weighted sums."""

from __future__ import annotations

import numpy as np

__all__ = ["annulus_mask", "annulus_weights", "box_weights", "circle_weights", "disc_overlap", "weighted_sum"]

_QUANTUM = 0.01  # px: centres closer than this share one mask


def _per_centre(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, make) -> np.ndarray:
    """Weights (nw, ny, nx) built once per distinct (quantised) centre, or (ny, nx) for a fixed centre."""
    qx = np.round(np.atleast_1d(cx) / _QUANTUM).astype(np.int64)
    qy = np.round(np.atleast_1d(cy) / _QUANTUM).astype(np.int64)
    pairs, inverse = np.unique(np.stack([qx, qy], axis=1), axis=0, return_inverse=True)
    masks = np.stack([make((px * _QUANTUM, py * _QUANTUM), shape) for px, py in pairs])
    if len(pairs) == 1:
        return masks[0]
    return masks[inverse.ravel()]


def _half_chord_area(x: np.ndarray, r: float) -> np.ndarray:
    """``integral_0^x sqrt(r**2 - u**2) du`` for ``|x| <= r`` (odd in ``x``)."""
    return 0.5 * (x * np.sqrt(np.maximum(r * r - x * x, 0.0)) + r * r * np.arcsin(np.clip(x / r, -1.0, 1.0)))


def _below_left(x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Area of the disc of radius ``r`` (centred on the origin) with ``u <= x`` and ``v <= y``."""
    x, y = np.clip(x, -r, r), np.clip(y, -r, r)
    ax, ay = np.abs(x), np.abs(y)
    hx, hy = _half_chord_area(ax, r), _half_chord_area(ay, r)
    a = np.sqrt(np.maximum(r * r - ay * ay, 0.0))  # where the circle crosses v = ay
    inner = np.where(ax <= a, ax * ay, a * ay + hx - _half_chord_area(np.minimum(a, ax), r))
    quadrant = 0.25 * np.pi * r * r + hx + hy + inner  # x, y >= 0
    half = 0.5 * np.pi * r * r
    # the other quadrants by symmetry: a strip {u <= x} holds half + 2 H(x) of the disc
    return np.where(x >= 0, np.where(y >= 0, quadrant, half + 2 * hx - quadrant),
                    np.where(y >= 0, half + 2 * hy - quadrant, quadrant - 2 * hx - 2 * hy))


def disc_overlap(shape: tuple[int, int], cx: float, cy: float, radius: float) -> np.ndarray:
    """Exact area of each pixel (``shape``) inside the circle of ``radius`` around (``cx``, ``cy``), pixels 1 x 1 centred on integers.

    What photutils' ``CircularAperture(...).to_mask("exact").to_image(shape)``
    gives (its ``circular_overlap_grid``), from the closed-form area of a
    disc below and left of a point; in numpy, as photutils' import costs a
    small extraction more than the extraction.
    """
    ny, nx = shape
    if radius <= 0:
        return np.zeros(shape)
    xe = np.arange(nx + 1, dtype=float) - 0.5 - cx  # pixel edges relative to the centre
    ye = np.arange(ny + 1, dtype=float) - 0.5 - cy
    f = _below_left(xe[None, :], ye[:, None], float(radius))  # (ny + 1, nx + 1)
    return np.clip(f[1:, 1:] - f[:-1, 1:] - f[1:, :-1] + f[:-1, :-1], 0.0, 1.0)


def _centres_within(shape: tuple[int, int], cx: float, cy: float, radius: float) -> np.ndarray:
    """1 for the pixels whose centre lies inside the circle (photutils' ``method="center"``), else 0."""
    yy, xx = np.indices(shape)
    return ((xx - cx) ** 2 + (yy - cy) ** 2 < radius * radius).astype(float)


def circle_weights(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, radius: float) -> np.ndarray:
    """Exact partial-pixel weights of a circle of ``radius`` px around each slice's centre (:func:`disc_overlap`)."""
    return _per_centre(shape, cx, cy, lambda c, s: disc_overlap(s, c[0], c[1], radius))


def annulus_weights(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, rin: float, rout: float,
                    method: str = "exact") -> np.ndarray:
    """Partial-pixel weights of an annulus ``rin``-``rout`` px around each slice's centre.

    ``method`` ``exact`` (areas) or ``center`` (pixel centres inside), as
    photutils' ``CircularAnnulus(...).to_mask(method)``.
    """
    area = disc_overlap if method == "exact" else _centres_within
    return _per_centre(shape, cx, cy, lambda c, s: area(s, c[0], c[1], rout) - area(s, c[0], c[1], rin))


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

"""Spectral extraction from IFU cubes (``s3d``) and slit images (``s2d``).

Modules: :mod:`.reading` (arrays, wavelengths from the WCS, Jy conversion),
:mod:`.centering` (centroid track per wavelength bin, robustly smoothed),
:mod:`.outliers` (empirical profile, outliers against the scaled profile),
:mod:`.aperture` (circle / box / annulus weights), :mod:`.psf` (weighted
least-squares PSF fit), :mod:`.covariance` (spatial noise correlation of
drizzled cubes and the error inflation of weighted sums), :mod:`.api`
(:func:`extract_file`).  Everything is
vectorised over wavelength.
"""

from __future__ import annotations

from jwstspec.extract.api import METHODS, ExtractResult, extract_file, parse_length
from jwstspec.extract.centering import centroid, centroid_track
from jwstspec.extract.covariance import Correlation, estimate_correlation, inflation
from jwstspec.extract.outliers import flag_outliers, local_profile
from jwstspec.extract.reading import Cube, Slit, read_cube, read_slits

__all__ = [
    "METHODS",
    "Correlation",
    "Cube",
    "ExtractResult",
    "Slit",
    "centroid",
    "centroid_track",
    "estimate_correlation",
    "extract_file",
    "flag_outliers",
    "inflation",
    "local_profile",
    "parse_length",
    "read_cube",
    "read_slits",
]

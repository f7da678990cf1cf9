"""jwstspec: end-to-end JWST NIRSpec and MIRI spectroscopy.

The science library. It never imports Prefect: orchestration lives in the
top-level ``flows`` package, which wraps these plain functions in tasks.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jwstspec")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

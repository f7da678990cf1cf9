"""Synthetic JWST data with known truth: exposures, cubes, spectra and the offline CRDS references."""

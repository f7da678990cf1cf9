"""The data directory layout: the only place that builds paths.

::

    <data_dir>/<program>/
        download/                      MAST staging area (default)
        Obs<NNN>/
            uncal/                     raw inputs (never modified)
            stage1[-<variant>]/        rate(ints), 1/f-corrected, background-subtracted, spec2 asn files
            stage2[-<variant>]/        cal, s2d/s3d, x1d per exposure
            stage3[-<variant>]/        spec3/tso3 associations and combined products
            extract[-<variant>]/       one EXTRACT1D spectrum per cube or slit image
            combined[-<variant>]/      per-band and stitched spectra, plots, config.toml,
                                       manifest.json, summary.md
            logs/                      one log file per exposure and stage
    <data_dir>/.jwstspec/
        cache/                         Prefect task-result storage (cache)
        footprints/                    NIRSpec IFU slice footprints of the 1/f masks (one per setting and detector)
        locks/                         run locks
        prefect/                       the embedded Prefect API's database

The variant names are the research code's directory suffixes
(``stage1_suffix`` ...): an empty variant gives the plain stage name.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from jwstspec.config import PipelineConfig

STAGE_DIRS: tuple[str, ...] = ("stage1", "stage2", "stage3", "extract", "combined")

#: the demo's check of its final spectra against the injected truth, beside the summary
DEMO_TRUTH_FILE = "demo_truth.json"

#: raw inputs of a run, in an observation's ``uncal/`` directory
INPUT_PATTERNS: tuple[str, ...] = ("*_uncal.fits",)


def _with_variant(stage: str, variant: str) -> str:
    return f"{stage}-{variant}" if variant else stage


def product_name(path: str | Path) -> str:
    """The exposure/product root of a ``jwst`` file name.

    ``jw01234001001_01101_00001_mirifushort_uncal.fits`` ->
    ``jw01234001001_01101_00001_mirifushort``.
    """
    stem = Path(path).name
    stem = re.sub(r"\.(fits|json|asdf|ecsv)$", "", stem)
    return re.sub(
        r"_(uncal|rate|rateints|ratecorr|rateintscorr|rate_bkgsub|rateints_bkgsub|ratecorr_bkgsub|cal|calints|s2d|s3d|x1d|x1dints|crf|crfints|bsub|bsubints|spec2_asn|spec3_asn|tso3_asn|asn)$",
        "",
        stem,
    )


def extraction_suffix(mode: str) -> str:
    """Suffix of the products extraction reads: ``s3d`` (IFU cubes) or ``s2d`` (slit images)."""
    return "s3d" if mode == "ifu" else "s2d"


def is_extraction_source(path: str | Path, mode: str) -> bool:
    """Whether ``path`` names a product extraction reads in ``mode`` (``*_s3d.fits`` or ``*_s2d.fits``)."""
    return Path(path).name.endswith(f"_{extraction_suffix(mode)}.fits")


def is_cal(path: str | Path, tso: bool = False) -> bool:
    """Whether ``path`` names a calibrated Stage 2 product (``*_cal.fits``; ``*_calints.fits`` for TSO)."""
    return Path(path).name.endswith("_calints.fits" if tso else "_cal.fits")


def is_x1dints(path: str | Path) -> bool:
    """Whether ``path`` names ``calwebb_tso3``'s per-integration spectra (``*_x1dints.fits``)."""
    return Path(path).name.endswith("_x1dints.fits")


#: the time-series products of one Tso3 product, by kind (:meth:`Layout.timeseries_paths`)
TIMESERIES_PRODUCTS: dict[str, str] = {
    "whitelight": "_whitelight.ecsv",
    "whitelight_png": "_whitelight.png",
    "speclc": "_speclc.fits",
    "speclc_ecsv": "_speclc.ecsv",
    "speclc_png": "_speclc.png",
    "oot_spectrum": "_oot_x1d.fits",
    "oot_spectrum_ecsv": "_oot_x1d.ecsv",
    "spectra": "_x1dints.fits",
}


def bkgsub_name(rate: str | Path) -> str:
    """``<root>_rate.fits`` -> ``<root>_rate_bkgsub.fits`` (``_rateints``, ``_ratecorr`` likewise)."""
    suffix = "rateints" if "_rateints" in Path(rate).name else "rate"
    return f"{product_name(rate)}_{suffix}_bkgsub.fits"


def leakcorr_path(source: Path, band: str, shared: bool) -> Path:
    """The spectral-leak corrected spectrum of ``band`` written beside its input ``source``.

    ``<stem>_<band>_leakcorr_x1d.fits`` when ``source`` holds more bands than
    ``band`` (``shared``), else ``source`` with ``_combined_x1d`` replaced by
    ``_leakcorr_x1d``; never ``source`` itself (a rerun must not correct twice).
    """
    if shared:
        return source.with_name(f"{source.stem.removesuffix('_x1d')}_{band}_leakcorr_x1d{source.suffix}")
    out = source.with_name(source.name.replace("_combined_x1d", "_leakcorr_x1d"))
    return out if out != source else source.with_name(f"{source.stem}_leakcorr{source.suffix}")


def cleaned_cube_path(spectrum: Path) -> Path:
    """Where ``save_cleaned`` writes the cleaned cube: ``<spectrum stem without _x1d>_cleaned_s3d.fits``."""
    return spectrum.with_name(spectrum.stem.removesuffix("_x1d") + "_cleaned_s3d.fits")


def _visible(paths: list[Path]) -> list[Path]:
    """Sorted, without hidden files (temporaries of an atomic write start with a dot)."""
    return sorted(p for p in paths if not p.name.startswith("."))


@dataclasses.dataclass(frozen=True)
class Layout:
    """Paths of one program's data and products.

    Parameters
    ----------
    data_dir : Path
        Top-level data directory.
    program : str
        Five-digit program number.
    variants : dict
        Variant name per stage directory (``stage1`` ... ``combined``).
    download_dir : Path, optional
        MAST staging area (default ``<data_dir>/<program>/download``).
    """

    data_dir: Path
    program: str
    variants: tuple[tuple[str, str], ...] = ()
    download_override: Path | None = None
    instrument: str = ""

    @classmethod
    def from_config(cls, config: PipelineConfig) -> Layout:
        """The layout of a validated configuration."""
        variants = (
            ("stage1", config.stage1.variant),
            ("stage2", config.stage2.variant),
            ("stage3", config.stage3.variant),
            ("extract", config.extract.variant),
            ("combined", config.combine.variant),
        )
        return cls(Path(config.data_dir), config.program, variants, config.download.directory, config.instrument)

    # ----------------------------------------------------------------- dirs
    @property
    def program_dir(self) -> Path:
        """Directory of the program: ``<data_dir>/<program>``."""
        return self.data_dir / self.program

    @property
    def download_dir(self) -> Path:
        """Where downloads go: ``[download] directory`` if set, else ``<program>/download``."""
        return self.download_override or self.program_dir / "download"

    @property
    def internal_dir(self) -> Path:
        """The state jwstspec keeps for itself (cache, locks, manifest): ``<data_dir>/.jwstspec``."""
        return self.data_dir / ".jwstspec"

    @property
    def cache_dir(self) -> Path:
        """Where Prefect persists task results (the cache)."""
        return self.internal_dir / "cache"

    @property
    def footprint_dir(self) -> Path:
        """NIRSpec IFU slice footprints of the 1/f sky masks, shared by every observation of the data directory.

        Each file is keyed by what the footprint depends on (setting, detector, references:
        :mod:`jwstspec.stages.clean1f`), so the science, imprint and background exposures of a setting pay
        for one ``assign_wcs``, whichever process corrects them.
        """
        return self.internal_dir / "footprints"

    @property
    def lock_dir(self) -> Path:
        """Directory of the per-observation lock files."""
        return self.internal_dir / "locks"

    @property
    def prefect_dir(self) -> Path:
        """The embedded Prefect API's database, kept between commands (``flows.server``)."""
        return self.internal_dir / "prefect"

    def obs_dir(self, observation: str) -> Path:
        """Directory of one observation: ``<program>/Obs<observation>``."""
        return self.program_dir / f"Obs{observation}"

    def uncal_dir(self, observation: str) -> Path:
        """Directory of an observation's raw ``uncal`` exposures (never written by a stage)."""
        return self.obs_dir(observation) / "uncal"

    def stage_dir(self, observation: str, stage: str) -> Path:
        """Directory of a stage's products (``stage1`` ... ``combined``)."""
        if stage not in STAGE_DIRS:
            raise ValueError(f"unknown stage directory {stage!r}")
        return self.obs_dir(observation) / _with_variant(stage, dict(self.variants).get(stage, ""))

    def log_dir(self, observation: str) -> Path:
        """Directory of an observation's per-exposure jwst logs."""
        return self.obs_dir(observation) / "logs"

    def log_file(self, observation: str, name: str, stage: str) -> Path:
        """Log file of one exposure (or group) and stage."""
        return self.log_dir(observation) / f"{product_name(name)}_{stage}.log"

    def create(self, observations: list[str]) -> None:
        """Create the directory tree for these observations."""
        for obs in observations:
            for sub in ("uncal", "logs"):
                (self.obs_dir(obs) / sub).mkdir(parents=True, exist_ok=True)
            for stage in STAGE_DIRS:
                self.stage_dir(obs, stage).mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.lock_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------- products
    def rate_path(self, observation: str, uncal: str | Path, tso: bool = False) -> Path:
        """Where Detector1 writes the rate (rateints for TSO) of an uncal file."""
        suffix = "rateints" if tso else "rate"
        return self.stage_dir(observation, "stage1") / f"{product_name(uncal)}_{suffix}.fits"

    def uncal_files(self, observation: str) -> list[Path]:
        """Raw inputs present for one observation (:data:`INPUT_PATTERNS`), sorted."""
        directory = self.uncal_dir(observation)
        if not directory.is_dir():
            return []
        return _visible([p for pattern in INPUT_PATTERNS for p in directory.glob(pattern)])

    def placed_uncal(self) -> list[Path]:
        """Raw inputs of every observation of the program already in the layout, sorted."""
        return _visible([p for pattern in INPUT_PATTERNS for p in self.program_dir.glob(f"Obs*/uncal/{pattern}")])

    def corrected_rate_path(self, observation: str, name: str | Path, tso: bool = False) -> Path:
        """Where the NIRSpec 1/f correction writes: ``<root>_ratecorr.fits`` (``_rateintscorr`` for TSO)."""
        suffix = "rateintscorr" if tso else "ratecorr"
        return self.stage_dir(observation, "stage1") / f"{product_name(name)}_{suffix}.fits"

    def bkgsub_path(self, observation: str, name: str | Path) -> Path:
        """Where the pixel-based background subtraction writes: ``<root>_rate_bkgsub.fits``."""
        return self.stage_dir(observation, "stage1") / f"{product_name(name)}_rate_bkgsub.fits"

    def bkgsub_products(self, observation: str, name: str | Path) -> list[Path]:
        """Background-subtracted rates of one exposure an earlier run left in Stage 1 (any kind), sorted."""
        return sorted(self.stage_dir(observation, "stage1").glob(f"{product_name(name)}_*bkgsub.fits"))

    def stage2_products(self, observation: str, name: str | Path) -> list[Path]:
        """Every Stage 2 FITS product of one exposure (``<root>*.fits``), sorted."""
        return sorted(self.stage_dir(observation, "stage2").glob(f"{product_name(name)}*.fits"))

    def stage2_cube_path(self, observation: str, name: str | Path) -> Path:
        """A Stage 2 IFU cube of one exposure: ``<root>_s3d.fits``."""
        return self.stage_dir(observation, "stage2") / f"{product_name(name)}_s3d.fits"

    def extraction_sources(self, observation: str, stage: str, mode: str) -> list[Path]:
        """Products of ``stage`` (``stage2`` or ``stage3``) that extraction reads in ``mode``, sorted."""
        return _visible(list(self.stage_dir(observation, stage).glob(f"*_{extraction_suffix(mode)}.fits")))

    def spectra(self, observation: str) -> list[Path]:
        """Extracted spectra present in the extraction directory, sorted."""
        return sorted(self.stage_dir(observation, "extract").glob("*_x1d.fits"))

    def spec2_asn_path(self, observation: str, name: str) -> Path:
        """The Stage 2 association of one exposure: ``<product>_spec2_asn.json``."""
        return self.stage_dir(observation, "stage1") / f"{product_name(name)}_spec2_asn.json"

    def spec3_asn_path(self, observation: str, group: str, tso: bool = False) -> Path:
        """The Stage 3 (or Tso3) association of one group."""
        kind = "tso3" if tso else "spec3"
        return self.stage_dir(observation, "stage3") / f"jw{self.program}-o{observation}_{group}_{kind}_asn.json"

    def stage3_product(self, observation: str, group: str) -> str:
        """Product name of a Stage 3 group, the ``jwst`` Level-3 style.

        MIRI: ``jw01234-o001_t001_miri`` (``calwebb_spec3`` appends the
        channel and band, e.g. ``_ch1-short``); NIRSpec:
        ``jw01234-o001_t001_nirspec_g395h-f290lp``.
        """
        if self.instrument == "miri":
            return f"jw{self.program}-o{observation}_t001_miri"
        if self.instrument == "nirspec":
            return f"jw{self.program}-o{observation}_t001_nirspec_{group}"
        return f"jw{self.program}-o{observation}_t001_{group}"

    def spectrum_path(self, observation: str, source: str | Path, method: str, slit: str | None = None) -> Path:
        """Extracted spectrum of one cube or slit image.

        A two-channel MIRI MRS cube gives one file per channel, the band key
        inserted before ``_x1d`` (:func:`jwstspec.extract.channels.channel_output_path`).
        """
        tag = f"_{slit}" if slit else ""
        return self.stage_dir(observation, "extract") / f"{product_name(source)}{tag}_{method}_x1d.fits"

    def combined_path(self, observation: str, group: str) -> Path:
        """The combined spectrum of one group (band) of an observation."""
        return self.stage_dir(observation, "combined") / f"jw{self.program}-o{observation}_{group}_combined_x1d.fits"

    def stitched_path(self, observation: str, slit: str = "") -> Path:
        """The stitched spectrum of an observation (of one slit's source, when it holds several: MOS)."""
        tag = f"_{slit}" if slit else ""
        return self.stage_dir(observation, "combined") / f"jw{self.program}-o{observation}{tag}_stitched_x1d.fits"

    def x1dints_products(self, observation: str) -> list[Path]:
        """``calwebb_tso3``'s per-integration spectra in the Stage 3 directory (``*_x1dints.fits``), sorted."""
        return _visible(list(self.stage_dir(observation, "stage3").glob("*_x1dints.fits")))

    def timeseries_paths(self, observation: str, x1dints: str | Path) -> dict[str, Path]:
        """The time-series products of one ``x1dints`` product, in ``combined/``, by kind.

        ``<product>_whitelight.ecsv``/``.png`` (white-light curve),
        ``<product>_speclc.fits``/``.ecsv``/``.png`` (spectroscopic light
        curves), ``<product>_oot_x1d.fits``/``.ecsv`` (mean out-of-transit
        spectrum) and ``<product>_x1dints.fits`` (the per-integration
        spectra, one ``EXTRACT1D`` row each), where ``<product>`` is the
        Tso3 product name (:data:`TIMESERIES_PRODUCTS`).
        """
        root = self.stage_dir(observation, "combined") / product_name(x1dints)
        return {kind: root.with_name(root.name + suffix) for kind, suffix in TIMESERIES_PRODUCTS.items()}

    def run_file(self, observation: str, name: str) -> Path:
        """Run-level files beside the outputs: config.toml, manifest.json, summary.md."""
        return self.stage_dir(observation, "combined") / name

"""The pipeline configuration: one typed model, validated once.

:class:`PipelineConfig` is the single source of truth for a run.  It is
loaded from a TOML file (``jwstspec run config.toml``), or given as the
Prefect flow's parameter (the Prefect UI renders it as a form from this
model's JSON schema), validated with cross-field checks, and saved beside
the outputs (:func:`save_config`).  ``jwstspec init`` writes a commented
template generated from the field descriptions below (:func:`template`),
so the template can never drift from the model.

The ``[extract]`` and ``[combine]`` sections are :class:`OptionSet` s: the
same model gives the configuration keys, the flags of ``jwstspec extract``
and ``jwstspec combine`` (:mod:`jwstspec.commands.options`) and the options
of the library functions (:meth:`OptionSet.resolve`), so a field added here
is all three.  Extraction lengths are :class:`~jwstspec.length.Length`
values, parsed here once.

Every option of the research code's ``example_run_jwstspec.py`` has a home
here; :data:`RESEARCH_CODE_NAMES` maps the old variable names to fields.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from jwstspec.errors import ConfigError, InputFileError, OptionError
from jwstspec.fileio import atomic_write_text
from jwstspec.length import Length

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.+-]*$")

StageName = Literal["download", "stage1", "stage2", "stage3", "extract", "combine"]
STAGES: tuple[str, ...] = ("download", "stage1", "stage2", "stage3", "extract", "combine")

#: Research-code variable -> field of this model (``example_run_jwstspec.py``).
RESEARCH_CODE_NAMES: dict[str, str] = {
    "prog_id": "program",
    "obs_numb": "observation",
    "bkg_obs_numb": "background_observation",
    "instrument": "instrument",
    "obs_type": "mode",
    "tso_observation": "tso",
    "dwnld_dir": "download.directory",
    "data_dir": "data_dir",
    "download": "download.enabled",
    "dwnld_all": "download.all_products",
    "readnoise_correct": "stage1.readnoise_correct",
    "bkg_subtract": "stage1.bkg_subtract",
    "cube_align": "stage2.cube_align",
    "stage1_suffix": "stage1.variant",
    "stage2_suffix": "stage2.variant",
    "stage3_suffix": "stage3.variant",
    "extract_stage": "extract.stage",
    "extr_method": "extract.method",
    "extr_suffix": "extract.variant",
    "extr_aper_rad": "extract.radius / extract.annulus_radii",
    "bkg_aper_in": "extract.bkg_annulus[0]",
    "bkg_aper_out": "extract.bkg_annulus[1]",
    "window_width": "extract.window",
    "pix_sig_clip": "extract.clip_sigma",
    "bkg_sig_clip": "extract.bkg_clip_sigma",
    "fix_centroid": "extract.center / extract.center_offset",
    "save_cleaned": "extract.save_cleaned",
    "spec_bkg_sub": "extract.background",
    "spec_sig_clip": "combine.clip_sigma",
    "spec_window_half": "combine.window_half",
    "special_defringe": "combine.defringe",
    "run_stage0..run_combine": "stages",
    "params.stage1_rules": "stage1.steps",
    "params.stage2_rules": "stage2.steps",
    "params.stage3_rules": "stage3.steps",
    "CRDS_CONTEXT": "crds.context",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def _variant(value: str) -> str:
    if not _SAFE_NAME.match(value):
        raise ValueError("may contain only letters, digits and _ . + - (it becomes part of a directory name)")
    return value


def parse_length(value: float | str) -> tuple[float, str]:
    """Parse an extraction length: a number is arcsec, a ``px`` suffix is pixels.

    Parameters
    ----------
    value : float, int or str
        ``0.3``, ``"0.3"``, ``"0.3arcsec"``, ``"3px"``.

    Returns
    -------
    tuple of (float, str)
        The value and its unit, ``"arcsec"`` or ``"px"`` (:meth:`Length.parse` gives the typed value).
    """
    length = Length.parse(value)
    return length.value, length.unit


def _length_json_schema() -> dict[str, Any]:
    return {"anyOf": [{"type": "number"}, {"type": "string"}]}


#: A length field: validated into a :class:`~jwstspec.length.Length`, saved as the user wrote it.
LengthField = Annotated[
    Length,
    PlainValidator(Length.parse),
    PlainSerializer(lambda v: v.raw),
    WithJsonSchema(_length_json_schema()),
]


# --------------------------------------------------------------------------- sections
class DownloadOptions(_Model):
    """Stage 0: MAST download or ingest of files the user already has."""

    enabled: bool = Field(True, description="Download from MAST (false: ingest local files or use what is in the data directory).")
    directory: Path | None = Field(None, description="Staging area for MAST downloads (default: <data_dir>/<program>/download); the uncal files are linked from it into Obs<NNN>/uncal/.")
    all_products: bool = Field(False, description="Download all available products, not only uncal files.")
    products: list[str] = Field(default_factory=lambda: ["uncal"], description="Product types to download (file suffixes).")
    token_file: Path | None = Field(None, description="File holding the MAST API token (else the MAST_API_TOKEN environment variable). Never logged or saved.")
    ingest_from: list[Path] = Field(default_factory=list, description="Files or directories of existing products to ingest when download is off.")
    ingest_mode: Literal["link", "copy", "move"] = Field("link", description="How ingested files are placed in the data directory.")
    retries: int = Field(4, ge=0, le=20, description="Retries of a failed network request (exponential backoff with jitter).")


class CrdsOptions(_Model):
    """Calibration references."""

    context: str | None = Field(None, description="CRDS context to pin, e.g. 'jwst_1413.pmap' (default: the server's operational context). Recorded in the manifest.")
    path: Path | None = Field(None, description="Local CRDS cache (CRDS_PATH). Default: the CRDS_PATH environment variable or ~/crds_cache.")
    server_url: str | None = Field(None, description="CRDS server (default https://jwst-crds.stsci.edu; 'https://jwst-serverless-mode.stsci.edu' = offline, cache only).")

    @field_validator("context")
    @classmethod
    def _pmap(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^jwst_\d{4}\.pmap$", v):
            raise ValueError(f"{v!r} is not a CRDS context name like 'jwst_1413.pmap'")
        return v


StepOverrides = dict[str, dict[str, Any]]


class Stage1Options(_Model):
    """Stage 1: calwebb_detector1, 1/f correction, background handling."""

    variant: str = Field("", description="Name of this processing variant: products go to stage1-<variant> (research code: stage1_suffix).")
    readnoise_correct: Literal["pipeline", "constant", "moving_median", "none"] | None = Field(
        None,
        description="NIRSpec 1/f correction: 'pipeline' (jwst clean_flicker_noise), 'constant', 'moving_median' or 'none'. Default: 'pipeline' for NIRSpec, 'none' for MIRI.",
    )
    readnoise_window: int = Field(201, ge=3, description="Length of the moving median along each column (moving_median).")
    readnoise_clip_sigma: float = Field(3.0, gt=0, description="Sigma clipping of the column statistics (constant, moving_median).")
    bkg_subtract: Literal["asn", "pixel", "none"] = Field(
        "none",
        description="Background: 'asn' (spec2 associations with background members), 'pixel' (subtract the clipped mean background image; nod subtraction when background_observation == observation), or 'none'.",
    )
    tilt_tolerance: float = Field(1e-8, gt=0, description="NIRSpec grating-wheel tilt tolerance (GWA_XTIL/GWA_YTIL, absolute) for 'asn' background, the same as jwst's BackgroundStep; outside it falls back to 'pixel' with a warning.")
    steps: StepOverrides = Field(default_factory=dict, description="Per-step parameters of calwebb_detector1, e.g. [stage1.steps.jump] rejection_threshold = 5.0.")

    _variant = field_validator("variant")(classmethod(lambda cls, v: _variant(v)))

    @field_validator("readnoise_correct", mode="before")
    @classmethod
    def _alias(cls, v: Any) -> Any:
        if v == "nsclean":  # the research code's name for the pipeline method
            return "pipeline"
        return v


class Stage2Options(_Model):
    """Stage 2: calwebb_spec2."""

    variant: str = Field("", description="Processing variant: products go to stage2-<variant> (research code: stage2_suffix).")
    cube_align: Literal["sky", "ifu", "internal"] = Field("sky", description="IFU cube alignment: 'sky' (default), 'ifu' (detector/IFU plane) or 'internal' (slices).")
    residual_fringe: bool | None = Field(None, description="MIRI MRS: run jwst's 2-D residual_fringe step on each exposure (references FRINGEFREQ, REGIONS; about 0.5-3 s per detector column with signal). Default: on for MIRI MRS (as the research code), off for other modes.")
    steps: StepOverrides = Field(default_factory=dict, description="Per-step parameters of calwebb_spec2, e.g. [stage2.steps.cube_build] weighting = 'drizzle'.")

    _variant = field_validator("variant")(classmethod(lambda cls, v: _variant(v)))


class Stage3Options(_Model):
    """Stage 3: calwebb_spec3 or calwebb_tso3."""

    variant: str = Field("", description="Processing variant: products go to stage3-<variant> (research code: stage3_suffix).")
    steps: StepOverrides = Field(default_factory=dict, description="Per-step parameters of calwebb_spec3 / calwebb_tso3, e.g. [stage3.steps.outlier_detection] skip = true.")

    _variant = field_validator("variant")(classmethod(lambda cls, v: _variant(v)))


class OptionSet(_Model):
    """Options shared by the configuration, the command line and one library function: one definition.

    Every field is at once a configuration key (``[section] field``), a
    command-line flag generated from the field's name, type, default and
    description (:func:`jwstspec.commands.options.add_option_arguments`:
    ``--field-name`` or the spelling in :attr:`cli_flags`; booleans ``--x``
    when off by default, ``--no-x`` when on), and a keyword of the library
    function that takes the set (:meth:`resolve`).  Fields in
    :attr:`run_only` say where the flow reads and writes products: they have
    no flag and the library ignores them.
    """

    #: The configuration section, ``[section]``.
    section: ClassVar[str] = ""
    #: Fields of the run only (product directories, which products): no flag, not passed to the library.
    run_only: ClassVar[frozenset[str]] = frozenset({"variant"})
    #: Flags spelled other than ``--field-name`` (contracts of the command line older than this model).
    cli_flags: ClassVar[dict[str, str]] = {}
    #: Names of the values of two-value flags in ``--help``.
    cli_metavars: ClassVar[dict[str, tuple[str, ...]]] = {}
    _flags: frozenset[str] = PrivateAttr(default_factory=frozenset)

    def __eq__(self, other: object) -> bool:
        """Equal values are equal options, however the user wrote them."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    @classmethod
    def flag(cls, field: str) -> str:
        """The command-line flag of ``field`` (``--no-x`` for a boolean that is on by default)."""
        if field in cls.cli_flags:
            return cls.cli_flags[field]
        info = cls.model_fields[field]
        spelled = field.replace("_", "-")
        return f"--no-{spelled}" if info.annotation is bool and info.default is True else f"--{spelled}"

    @classmethod
    def key(cls, field: str) -> str:
        """The configuration key of ``field``: ``[section] field``."""
        return f"[{cls.section}] {field}"

    def option_name(self, field: str) -> str:
        """``field`` as the user wrote it: its flag when it came as a flag or keyword, else its configuration key."""
        return self.flag(field) if field in self._flags else self.key(field)

    def library_options(self) -> dict[str, Any]:
        """The options as JSON-able values, without the run-only fields (what the flow hands a task)."""
        return self.model_dump(mode="json", exclude=set(self.run_only))

    @classmethod
    def resolve(cls, options: OptionSet | Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None,
                *, path: str | Path | None = None) -> Self:
        """Validate a configuration section and keyword overrides into one option set.

        Parameters
        ----------
        options : OptionSet or mapping, optional
            The validated section of a configuration, or its dump
            (:meth:`library_options`).  None: every option comes from
            ``overrides`` or the model's defaults.
        overrides : mapping, optional
            Values given as command-line flags or keyword arguments; they
            replace those of ``options``.
        path : str or Path, optional
            The input file, named in errors.

        Returns
        -------
        OptionSet
            The validated set; :meth:`option_name` names each field the way
            the user wrote it.

        Raises
        ------
        OptionError
            An invalid value or combination, naming the flag (for options
            given as flags or keywords, or when there is no configuration)
            or the configuration key ``[section] field``.
        TypeError
            A keyword that is not a field of the set.
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(cls.model_fields))
        if unknown:
            raise TypeError(f"{cls.__name__} has no option {', '.join(unknown)}")
        if options is None:
            flags = set(cls.model_fields)
        else:
            flags = set(overrides) | set(options._flags if isinstance(options, OptionSet) else ())
        if isinstance(options, cls) and not overrides:
            return options
        data = options.model_dump() if isinstance(options, BaseModel) else dict(options or {})
        try:
            result = cls.model_validate({**data, **overrides})
        except ValidationError as exc:
            field, reason = _option_error(exc.errors()[0])
            name = (cls.flag(field) if field in flags else cls.key(field)) if field in cls.model_fields else field
            raise OptionError(name, reason, path) from None
        result._flags = frozenset(flags)
        return result


class ExtractionOptions(OptionSet):
    """Spectral extraction from s3d cubes or s2d slit images."""

    section: ClassVar[str] = "extract"
    run_only: ClassVar[frozenset[str]] = frozenset({"variant", "stage"})
    cli_metavars: ClassVar[dict[str, tuple[str, ...]]] = {
        "annulus_radii": ("RIN", "ROUT"),
        "bkg_annulus": ("RIN", "ROUT"),
        "center": ("X", "Y"),
        "center_radec": ("RA", "DEC"),
        "center_offset": ("DX", "DY"),
    }

    variant: str = Field("", description="Extraction variant: spectra go to extract-<variant> (research code: extr_suffix).")
    stage: Literal["stage2", "stage3"] = Field("stage2", description="Extract from Stage 2 products (each dither/nod) or Stage 3 combined products.")
    method: Literal["aperture", "box", "annulus", "psf"] = Field("psf", description="aperture (circle, exact partial pixels), box (square of side 2R+1 spaxels), annulus, psf (empirical PSF fit).")
    radius: LengthField = Field("3px", validate_default=True, description="Aperture radius / box half-size: a number is arcsec, '3px' is pixels.")
    annulus_radii: tuple[LengthField, LengthField] | None = Field(None, description="Inner and outer radius of the annular extraction region (method annulus).")
    bkg_annulus: tuple[LengthField, LengthField] | None = Field(None, description="Inner and outer radius of the background annulus (IFU) or distance of the side regions from the trace (slit). Default: IFU 10-12 px; slit: every row of the slit outside the extraction region plus a 3 px margin, clipped to the rows holding data and kept off negative nod traces (none left: no background, header BKGMODE).")
    background: bool = Field(True, description="Subtract a sigma-clipped background from the annulus (IFU) or side regions (slit) (research code: spec_bkg_sub).")
    fit_background: bool = Field(False, description="psf only: fit a constant background with the PSF amplitude in each slice (on top of the subtracted one when background is on).")
    window: int = Field(10, ge=1, description="Half-width in slices of the window of neighbouring slices that builds the empirical profile.")
    clip_sigma: float = Field(5.0, gt=0, description="Outlier threshold against the scaled spatial profile (research code: pix_sig_clip).")
    bkg_clip_sigma: float = Field(5.0, gt=0, description="Sigma clipping of the background region (research code: bkg_sig_clip).")
    center: tuple[float, float] | None = Field(None, description="Fixed centre (x, y) in 0-based pixels.")
    center_radec: tuple[float, float] | None = Field(None, description="Fixed centre (RA, Dec) in degrees.")
    center_offset: tuple[float, float] | None = Field(None, description="Offset (dx, dy) in pixels added to the measured centroid.")
    save_cleaned: bool = Field(False, description="Also save the outlier-cleaned cube (<spectrum stem>_cleaned_s3d.fits; s3d cubes only).")
    nod_subtracted: bool | None = Field(None, description="Slit images: the image is nod-subtracted (negative copies of the trace one nod offset away); their rows, from the nod positions in the headers and negative profile peaks, are kept out of the background. Default: detected from the headers (background subtracted on a nodded exposure).")
    slits: list[str] | None = Field(None, description="Slit images: the slits to extract, e.g. ['S200A1', 'S400A1']. Default: the primary slit named in the header (FXD_SLIT) of a fixed-slit product, every slit of other slit products (MOS).")
    apcorr: Literal["auto", "none"] = Field("auto", description="Aperture correction of point sources from the CRDS apcorr reference, as jwst's extract_1d applies it (IFU cubes; NIRSpec fixed-slit, BOTS and MOS slits; MIRI LRS; methods aperture and psf): auto applies it when a reference is at hand (apcorr_file, or the CRDS cache in server-less mode; never a network call) and the source is not EXTENDED, else extracts without and says why (header APCORR, APCNOTE); none: the flux inside the aperture.")
    apcorr_file: Path | None = Field(None, description="apcorr reference file for apcorr auto, instead of the CRDS cache's: NrsIfuApcorrModel / MirMrsApcorrModel ASDF for cubes, NrsFsApcorrModel / NrsMosApcorrModel / MirLrsApcorrModel FITS for slits.")
    covariance: Literal["auto", "none"] = Field("auto", description="Correlated noise of drizzled cubes: auto estimates the spatial noise correlation from the cube's sky voxels and inflates the extraction errors by it (header ERRCOV); none treats voxels as independent (jwst's assumption). Slit images: the correlation along the slit.")

    _variant = field_validator("variant")(classmethod(lambda cls, v: _variant(v)))

    @field_validator("annulus_radii", "bkg_annulus")
    @classmethod
    def _radii(cls, v: tuple[Length, Length] | None) -> tuple[Length, Length] | None:
        if v is None:
            return v
        inner, outer = v
        if inner.unit == outer.unit and not inner.value < outer.value:
            raise ValueError(f"inner radius {inner.raw!r} must be smaller than outer radius {outer.raw!r}")
        return v

    @model_validator(mode="after")
    def _cross(self) -> ExtractionOptions:
        if self.method == "annulus" and self.annulus_radii is None:
            raise ValueError("annulus_radii: method 'annulus' needs annulus_radii = [inner, outer]")
        if self.center is not None and self.center_radec is not None:
            raise ValueError("center_radec: give one fixed centre (center or center_radec), not both")
        if self.fit_background and self.method != "psf":
            raise ValueError(f"fit_background: a background is fitted with the PSF, so it needs method 'psf', not {self.method!r}")
        return self


class CombineOptions(OptionSet):
    """Dither cleaning, averaging, MIRI 1-D corrections, stitching."""

    section: ClassVar[str] = "combine"
    run_only: ClassVar[frozenset[str]] = frozenset({"variant", "stitch"})
    cli_flags: ClassVar[dict[str, str]] = {"window_half": "--window", "mask_ranges": "--mask-range", "scale_bands": "--scale"}
    cli_metavars: ClassVar[dict[str, tuple[str, ...]]] = {"mask_ranges": ("LO", "HI")}

    variant: str = Field("", description="Combination variant: products go to combined-<variant>.")
    clip_sigma: float = Field(5.0, gt=0, description="Threshold for flagging single-dither deviations from the running median (research code: spec_sig_clip).")
    window_half: int = Field(10, ge=1, description="Half-width of the running median (research code: spec_window_half).")
    mask_ranges: list[tuple[float, float]] = Field(default_factory=list, description="Wavelength ranges [lo, hi] in micron to mask in every dither.")
    rescale_errors: bool = Field(False, description="Multiply the combined errors by how much more the dithers scatter than their errors say (ERRSCALE; resampled cubes' ERR ignores their covariance). Off: errors propagated from the inputs.")
    defringe: bool | None = Field(None, description="MIRI MRS: 1-D residual-fringe correction of the combined sub-band spectra, with spectral lines masked from the fit in channels 1-3 (research code: special_defringe; header DEFRINGE = T/F). Default: on for MIRI MRS spectra, off for other modes.")
    spectral_leak: bool = Field(True, description="MIRI MRS: correct channel 3A for the spectral leak from 1B.")
    leak_reference: Path | None = Field(None, description="mrsptcorr reference file for the spectral leak (default: from the run's CRDS context).")
    stitch: bool = Field(True, description="Stitch all bands into one spectrum.")
    scale_bands: bool = Field(False, description="Scale each band to its neighbour in the overlap when stitching.")

    _variant = field_validator("variant")(classmethod(lambda cls, v: _variant(v)))

    @field_validator("mask_ranges")
    @classmethod
    def _ranges(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for lo, hi in v:
            if not lo < hi:
                raise ValueError(f"range [{lo}, {hi}]: lower bound must be below upper bound")
        return v


class TimeSeriesOptions(OptionSet):
    """Time-series products (tso = true): white-light and spectroscopic light curves from calwebb_tso3's x1dints."""

    section: ClassVar[str] = "timeseries"
    cli_metavars: ClassVar[dict[str, tuple[str, ...]]] = {"baseline_integrations": ("FIRST", "LAST"), "wavelength_range": ("LO", "HI")}

    bins: int = Field(20, ge=1, le=1000, description="Wavelength channels of the spectroscopic light curves, each holding the same number of valid wavelength points.")
    baseline_fraction: float = Field(0.25, gt=0, le=0.5, description="Out-of-transit baseline when baseline_integrations is empty: this fraction of the integrations at the start and the same at the end.")
    baseline_integrations: list[tuple[int, int]] = Field(default_factory=list, description="Out-of-transit baseline as inclusive ranges of integration numbers (1-based, as INT_NUM), e.g. [[1, 100], [301, 400]]; replaces baseline_fraction.")
    baseline_order: int = Field(1, ge=0, le=2, description="Degree of the polynomial in time fitted to the baseline points and divided out (0: the baseline mean; 1: a linear drift).")
    wavelength_range: tuple[float, float] | None = Field(None, description="Wavelengths [lo, hi] in micron summed into the light curves (default: every valid point).")
    min_snr: float = Field(5.0, ge=0, description="Wavelength points whose mean out-of-transit spectrum has a lower signal-to-noise ratio are left out of the light curves (0: keep every valid point).")

    @field_validator("wavelength_range")
    @classmethod
    def _wave_range(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"range [{v[0]}, {v[1]}]: lower bound must be below upper bound")
        return v

    @field_validator("baseline_integrations")
    @classmethod
    def _int_ranges(cls, v: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for first, last in v:
            if not 1 <= first <= last:
                raise ValueError(f"range [{first}, {last}]: integration numbers start at 1 and first <= last")
        return v


class RuntimeOptions(_Model):
    """How the flow runs."""

    task_runner: Literal["process", "thread", "dask", "serial"] = Field("process", description="Concurrency: a process pool (default), threads, Dask, or one task at a time.")
    workers: int | None = Field(None, ge=1, description="Workers of the pool (default: number of CPU cores).")
    dask_address: str | None = Field(None, description="Address of a running Dask scheduler (task_runner = 'dask'); default: a local cluster.")
    cache: bool = Field(True, description="Reuse results of tasks whose inputs and options did not change.")
    force: list[StageName] = Field(default_factory=list, description="Stages to recompute even when cached, e.g. ['extract'].")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level of jwstspec and the jwst pipelines (the per-exposure log files get every record at this level; DEBUG also shows the pipelines' detail on the console).")
    verbose: bool = Field(False, description="Show the jwst pipelines' INFO records (each step's parameters and references) on the console and in the Prefect run log; they are always in the per-exposure log files.")


class PipelineConfig(_Model):
    """Everything that defines a jwstspec run."""

    program: str = Field(..., description="JWST program number, five digits, e.g. '01272'.")
    observation: str = Field(..., description="Observation number, three digits, e.g. '106'.")
    background_observation: str | None = Field(None, description="Observation with dedicated background exposures; equal to observation = nod subtraction; none = no background observation.")
    instrument: Literal["nirspec", "miri"] = Field(..., description="'nirspec' or 'miri'.")
    mode: Literal["ifu", "slit", "slitless"] = Field("ifu", description="'ifu', 'slit' (fixed slit, MOS, MIRI LRS slit) or 'slitless'.")
    tso: bool = Field(False, description="Time-series observation (calwebb_tso3 instead of calwebb_spec3).")
    data_dir: Path = Field(..., description="Top-level directory for data and outputs (must exist).")
    description: str = Field("", description="Free text about this run, shown in its log and summary.")
    stages: list[StageName] = Field(default_factory=lambda: list(STAGES), description="Stages to run, in order: download, stage1, stage2, stage3, extract, combine.")
    download: DownloadOptions = Field(default_factory=DownloadOptions)
    crds: CrdsOptions = Field(default_factory=CrdsOptions)
    stage1: Stage1Options = Field(default_factory=Stage1Options)
    stage2: Stage2Options = Field(default_factory=Stage2Options)
    stage3: Stage3Options = Field(default_factory=Stage3Options)
    extract: ExtractionOptions = Field(default_factory=ExtractionOptions)
    combine: CombineOptions = Field(default_factory=CombineOptions)
    timeseries: TimeSeriesOptions = Field(default_factory=TimeSeriesOptions)
    runtime: RuntimeOptions = Field(default_factory=RuntimeOptions)

    @model_validator(mode="before")
    @classmethod
    def _tso_table(cls, data: Any) -> Any:
        """``[tso] bins = 20`` (a table, the issue's spelling) is ``tso = true`` plus ``[timeseries] bins = 20``.

        TOML cannot hold both ``tso = true`` and a ``[tso]`` table, so the
        table form carries ``enabled`` (default true) and the options.
        """
        if isinstance(data, dict) and isinstance(data.get("tso"), dict):
            data = dict(data)
            table = dict(data.pop("tso"))
            data["tso"] = table.pop("enabled", True)
            data["timeseries"] = {**dict(data.get("timeseries") or {}), **table}
        return data

    @field_validator("program", mode="before")
    @classmethod
    def _program(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 100000:
            return f"{v:05d}"
        if not (isinstance(v, str) and re.fullmatch(r"\d{5}", v)):
            raise ValueError(f"{v!r} is not a five-digit program number such as '01272'")
        return v

    @field_validator("observation", "background_observation", mode="before")
    @classmethod
    def _observation(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 1000:
            return f"{v:03d}"
        if not (isinstance(v, str) and re.fullmatch(r"\d{3}", v)):
            raise ValueError(f"{v!r} is not a three-digit observation number such as '001'")
        return v

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, v: Path) -> Path:
        v = Path(v).expanduser()
        if not v.is_dir():
            raise ValueError(f"directory {str(v)!r} does not exist (create it first)")
        return v.resolve()

    @field_validator("stages")
    @classmethod
    def _stages(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("no stage selected")
        if len(set(v)) != len(v):
            raise ValueError("a stage is listed twice")
        return sorted(v, key=STAGES.index)

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        s1 = self.stage1
        if self.instrument == "miri" and s1.readnoise_correct not in (None, "none"):
            raise ValueError(f"stage1.readnoise_correct: '{s1.readnoise_correct}' is a NIRSpec 1/f correction; MIRI takes 'none'")
        if s1.bkg_subtract != "none" and self.background_observation is None:
            raise ValueError(f"stage1.bkg_subtract: '{s1.bkg_subtract}' needs background_observation")
        if s1.bkg_subtract == "asn" and self.background_observation == self.observation:
            raise ValueError("stage1.bkg_subtract: nod subtraction (background_observation == observation) uses 'pixel', not 'asn'")
        if self.instrument == "nirspec" and self.mode == "slitless":
            raise ValueError("mode: NIRSpec has no slitless mode (BOTS is mode 'slit' with tso = true)")
        if self.mode == "ifu" and self.tso:
            raise ValueError("tso: IFU observations are not time series")
        if self.mode != "ifu" and self.stage2.cube_align != "sky":
            raise ValueError("stage2.cube_align: only IFU observations build cubes")
        if self.mode != "ifu" and self.extract.method in ("box", "annulus"):
            raise ValueError(f"extract.method: '{self.extract.method}' is for IFU cubes; slit images take 'aperture' or 'psf'")
        if self.mode != "ifu" and self.extract.save_cleaned:
            raise ValueError("extract.save_cleaned: the cleaned product is written for IFU cubes only")
        if self.combine.defringe and not self.is_mrs:
            raise ValueError("combine.defringe: the 1-D residual-fringe correction is for MIRI MRS only")
        if self.stage2.residual_fringe and not self.is_mrs:
            raise ValueError("stage2.residual_fringe: the 2-D residual-fringe step is for MIRI MRS only")
        skip = self._residual_fringe_skip
        if self.stage2.residual_fringe is not None and skip is not None and bool(skip) == self.stage2.residual_fringe:
            raise ValueError(f"stage2.residual_fringe: {str(self.stage2.residual_fringe).lower()} contradicts "
                             f"[stage2.steps.residual_fringe] skip = {str(bool(skip)).lower()}; set one of them")
        if self.download.enabled and "download" in self.stages and self.download.ingest_from:
            raise ValueError("download.ingest_from: set download.enabled = false to ingest local files")
        for src in self.download.ingest_from:
            if not Path(src).expanduser().exists():
                raise ValueError(f"download.ingest_from: {str(src)!r} does not exist")
        if self.download.token_file is not None and not Path(self.download.token_file).expanduser().is_file():
            raise ValueError(f"download.token_file: {str(self.download.token_file)!r} is not a file")
        for section, pipeline in (("stage1", "detector1"), ("stage2", "spec2"), ("stage3", "tso3" if self.tso else "spec3")):
            _check_steps(f"{section}.steps", getattr(self, section).steps, pipeline)
        return self

    # ------------------------------------------------------------------ helpers
    @property
    def readnoise_method(self) -> str:
        """The 1/f method in force ('none' for MIRI)."""
        if self.stage1.readnoise_correct is not None:
            return self.stage1.readnoise_correct
        return "pipeline" if self.instrument == "nirspec" else "none"

    @property
    def is_mrs(self) -> bool:
        """MIRI MRS (instrument 'miri', mode 'ifu')."""
        return self.instrument == "miri" and self.mode == "ifu"

    @property
    def _residual_fringe_skip(self) -> Any:
        """``[stage2.steps.residual_fringe] skip`` when given, else None."""
        params = self.stage2.steps.get("residual_fringe")
        return params.get("skip") if isinstance(params, dict) else None

    @property
    def residual_fringe_on(self) -> bool:
        """Whether Stage 2 runs the 2-D ``residual_fringe`` step (default: MIRI MRS; a step override wins)."""
        if not self.is_mrs:
            return False
        skip = self._residual_fringe_skip
        if skip is not None:
            return not bool(skip)
        return self.stage2.residual_fringe is not False

    @property
    def defringe_on(self) -> bool:
        """Whether the combination applies the 1-D residual-fringe correction (default: MIRI MRS)."""
        return self.is_mrs and self.combine.defringe is not False

    @property
    def nod_subtraction(self) -> bool:
        """Background observation is the science observation itself."""
        return self.background_observation is not None and self.background_observation == self.observation

    def digest(self) -> str:
        """Short hash of the validated configuration (for logs and artifacts)."""
        import hashlib

        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- step overrides
_GENERIC_STEP_PARAMS = {
    "skip",
    "save_results",
    "output_dir",
    "output_file",
    "output_ext",
    "output_use_model",
    "output_use_index",
    "suffix",
    "search_output_file",
    "input_dir",
    "pre_hooks",
    "post_hooks",
    "save_logs",
    "maximum_cores",
    "n_jobs",
}


@functools.cache
def pipeline_steps(pipeline: str) -> dict[str, frozenset[str]]:
    """Step names of a ``jwst`` pipeline and the parameters of each step.

    Read from a table kept per installed ``jwst`` version
    (:func:`steps_table_path`), written on first use: checking a
    configuration then does not import ``jwst`` (seconds; most of a cached
    rerun's start).

    Parameters
    ----------
    pipeline : {'detector1', 'spec2', 'spec3', 'tso3'}

    Returns
    -------
    dict
        step name -> accepted parameter names (from the step's spec,
        plus the generic stpipe parameters and ``override_<reftype>``).
    """
    import json

    path = steps_table_path()
    try:
        table = json.loads(path.read_text())[pipeline]
        return {step: frozenset(params) for step, params in table.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    tables = {name: jwst_pipeline_steps(name) for name in ("detector1", "spec2", "spec3", "tso3")}
    try:
        atomic_write_text(path, json.dumps({name: {step: sorted(params) for step, params in table.items()}
                                            for name, table in tables.items()}, indent=1))
    except OSError:
        pass  # an unwritable cache directory: asked of jwst again next time
    return tables[pipeline]


def steps_table_path() -> Path:
    """``$XDG_CACHE_HOME/jwstspec/jwst-<version>-steps.json`` (``~/.cache`` by default)."""
    import os
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "jwstspec" / f"jwst-{version('jwst')}-steps.json"


def jwst_pipeline_steps(pipeline: str) -> dict[str, frozenset[str]]:
    """:func:`pipeline_steps`, asked of the installed ``jwst`` (imports it)."""
    from jwst import pipeline as jp  # imported lazily: takes ~2 s (much more without byte-compiled sources)

    cls = {
        "detector1": jp.Detector1Pipeline,
        "spec2": jp.Spec2Pipeline,
        "spec3": jp.Spec3Pipeline,
        "tso3": jp.Tso3Pipeline,
    }[pipeline]
    out: dict[str, frozenset[str]] = {}
    for name, step_cls in cls.step_defs.items():
        params = set(_GENERIC_STEP_PARAMS)
        for line in (getattr(step_cls, "spec", "") or "").splitlines():
            m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
            if m:
                params.add(m.group(1))
        # (override_<reftype> parameters are accepted for every step, see _check_steps)
        if hasattr(step_cls, "step_defs"):  # nested pipeline (e.g. master_background_mos)
            params.update(step_cls.step_defs)
        out[name] = frozenset(params)
    return out


def _check_steps(field: str, steps: StepOverrides, pipeline: str) -> None:
    if not steps:
        return
    known = pipeline_steps(pipeline)
    for step, params in steps.items():
        if step not in known:
            raise ValueError(f"{field}: '{step}' is not a step of calwebb_{pipeline} (steps: {', '.join(sorted(known))})")
        if not isinstance(params, dict):
            raise ValueError(f"{field}.{step}: expected a table of step parameters")
        for key in params:
            if key not in known[step] and not key.startswith("override_"):
                raise ValueError(f"{field}.{step}: '{key}' is not a parameter of the {step} step")


# --------------------------------------------------------------------------- loading
def _format_error(err: dict[str, Any]) -> tuple[str, str]:
    loc = ".".join(str(p) for p in err.get("loc", ()) if not str(p).startswith("function-"))
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
    elif err.get("type") == "missing" and err.get("loc") and isinstance(err["loc"][-1], int):
        loc = loc.rsplit(".", 1)[0]
        msg = "too few items (give a list of two values)"
    elif err.get("type") == "missing":
        msg = "required field is missing"
    elif err.get("type") == "literal_error":
        msg = f"{err.get('input')!r} is not allowed; " + msg.replace("Input should be", "use")
    elif "input" in err and err.get("type", "").endswith(("_type", "_parsing")):
        msg = f"{err.get('input')!r}: {msg.lower()}"
    # a model-level check names its field at the start of the message
    m = re.match(r"^([a-z_0-9.]+(?:, [a-z_0-9.]+)*): (.*)$", msg)
    if m and ("." in m.group(1) or m.group(1) in PipelineConfig.model_fields or any(m.group(1).split(",")[0] in s.model_fields for s in (ExtractionOptions, CombineOptions))):
        sub = m.group(1)
        loc = f"{loc}.{sub}" if loc and not sub.startswith(loc) else sub
        msg = m.group(2)
    return loc or "config", msg


def _option_error(err: dict[str, Any]) -> tuple[str, str]:
    """(field, one-line reason) of a validation error of an :class:`OptionSet`."""
    loc, reason = _format_error(err)
    ctx = err.get("ctx") or {}
    if err.get("type") == "greater_than" and ctx.get("gt") == 0:
        reason = "must be positive"
    elif err.get("type") == "greater_than_equal":
        reason = f"must be at least {ctx.get('ge')}"
    return loc.split(".")[0], reason


def validate_config(data: dict[str, Any] | PipelineConfig) -> PipelineConfig:
    """Validate a mapping (e.g. from TOML) into a :class:`PipelineConfig`.

    Raises
    ------
    ConfigError
        One line naming the (first) offending field and the reason.
    """
    if isinstance(data, PipelineConfig):
        data = data.model_dump()
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        field, reason = _format_error(errors[0])
        if len(errors) > 1:
            more = "; ".join("{}: {}".format(*_format_error(e)) for e in errors[1:4])
            reason = f"{reason} (also {more})"
        raise ConfigError(field, reason) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read and validate a TOML configuration file.

    Parameters
    ----------
    path : str or Path
        The TOML file.  Relative ``data_dir`` and other paths are resolved
        against the file's directory.
    overrides : dict, optional
        Top-level values replacing those of the file (e.g. from the CLI).
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "configuration file not found")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(p, f"not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputFileError(p, "not a text (TOML) file") from None
    if overrides:
        data.update(overrides)
    base = p.resolve().parent
    if isinstance(data.get("data_dir"), str) and not Path(data["data_dir"]).expanduser().is_absolute():
        data["data_dir"] = str(base / data["data_dir"])
    return validate_config(data)


def config_to_toml(config: PipelineConfig) -> str:
    """The validated configuration as TOML text (no secrets; None values omitted)."""
    import tomli_w

    data = config.model_dump(mode="json", exclude_none=True)
    return tomli_w.dumps(data)


def save_config(config: PipelineConfig, path: str | Path) -> Path:
    """Save the validated configuration beside the outputs (atomic)."""
    return atomic_write_text(path, "# Validated jwstspec configuration of this run\n" + config_to_toml(config))


# --------------------------------------------------------------------------- template
def template(program: str = "01234", observation: str = "001", data_dir: str = "./data") -> str:
    """A commented TOML template generated from the model's field descriptions."""
    lines = [
        "# jwstspec configuration. Generated by `jwstspec init`; every option is listed with its default.",
        "# Validate with `jwstspec validate THIS_FILE`, run with `jwstspec run THIS_FILE`.",
        "",
    ]
    top_values = {"program": program, "observation": observation, "instrument": "nirspec", "data_dir": data_dir}

    def fmt(value: Any) -> str:
        import tomli_w

        if value is None:
            return ""
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, tuple):
            value = list(value)
        return tomli_w.dumps({"x": value}).split("=", 1)[1].strip()

    def emit(model: type[BaseModel], values: dict[str, Any]) -> None:
        for name, info in model.model_fields.items():
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                continue
            desc = info.description or ""
            lines.append(f"# {desc}")
            if name in values:
                lines.append(f"{name} = {fmt(values[name])}")
                continue
            default = info.get_default(call_default_factory=True)
            if default is None:
                lines.append(f"# {name} =")
            elif isinstance(default, dict) and not default:
                lines.append(f"# [{{section}}.{name}.<step>] parameter = value")
            else:
                lines.append(f"{name} = {fmt(default)}")

    emit(PipelineConfig, top_values)
    for name, info in PipelineConfig.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            lines += ["", f"[{name}]", f"# {ann.__doc__.strip().splitlines()[0]}"]
            start = len(lines)
            emit(ann, {})
            lines[start:] = [ln.replace("{section}", name) for ln in lines[start:]]
    lines += [
        "",
        "# Example of a jwst step parameter:",
        "# [stage1.steps.jump]",
        "# rejection_threshold = 5.0",
        "",
    ]
    return "\n".join(lines)

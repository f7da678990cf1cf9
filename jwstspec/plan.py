"""What a run has to do: the exposures, their groups and their products.

Plain functions that the flow calls to decide which tasks to submit.  They
read headers and list directories; they never run a pipeline.  Keeping
these decisions out of ``flows/`` makes them unit-testable without Prefect.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from astropy.io import fits

from jwstspec.config import PipelineConfig
from jwstspec.exposures import (
    Exposure,
    Selection,
    check_compatible,
    check_time_series,
    match_backgrounds,
    select_exposures,
)
from jwstspec.layout import Layout


@dataclasses.dataclass
class RunPlan:
    """Exposures of a run: science groups and their background exposures."""

    science: Selection
    background: dict[str, list[Exposure]]
    skipped: list[tuple[Path, str]]
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def groups(self) -> dict[str, list[Exposure]]:
        """Science exposures by group (band/setting)."""
        return self.science.groups

    @property
    def all_exposures(self) -> list[Exposure]:
        """Science, imprint and background exposures, each once (what Stage 1 processes)."""
        seen: dict[Path, Exposure] = {}
        for exp in self.science.exposures:
            seen.setdefault(exp.path, exp)
        for group in self.science.imprints.values():
            for exp in group:
                seen.setdefault(exp.path, exp)
        for group in self.background.values():
            for exp in group:
                seen.setdefault(exp.path, exp)
        return list(seen.values())

    @property
    def is_empty(self) -> bool:
        """Tell whether the plan holds no science exposure."""
        return not self.science.groups


def plan_run(config: PipelineConfig, layout: Layout) -> RunPlan:
    """Select and group the run's exposures from their headers.

    Raises
    ------
    ConfigError
        A science group has no matching background group, or ``tso``
        disagrees with the exposures' headers.
    InputFileError
        An input file is unreadable or belongs to another program/instrument.
    """
    instrument = config.instrument.upper()
    science = select_exposures(
        layout.uncal_files(config.observation),
        instrument=instrument,
        program=config.program,
        observation=config.observation,
        mode=config.mode,
    )
    check_time_series(science.exposures, config.tso)  # before anything runs
    skipped = list(science.skipped)
    background: dict[str, list[Exposure]] = {}
    notes: list[str] = []
    bkg_obs = config.background_observation
    if bkg_obs is not None and config.stage1.bkg_subtract != "none" and science.groups:
        if config.nod_subtraction:
            background = {key: list(group) for key, group in science.groups.items()}
        else:
            bsel = select_exposures(
                layout.uncal_files(bkg_obs),
                instrument=instrument,
                program=config.program,
                observation=bkg_obs,
                mode=config.mode,
            )
            skipped += bsel.skipped
            background = match_backgrounds(science.groups, bsel.groups)
            for key, group in science.groups.items():
                for exp in group:
                    check_compatible(exp, background[key][0])
    return RunPlan(science, background, skipped, notes)


def without_exposures(plan: RunPlan, reasons: dict[Path, str]) -> RunPlan:
    """``plan`` less the exposures of ``reasons`` (path -> why), which join its skipped list.

    Science groups and background lists lose those exposures; a science
    group left empty goes with its backgrounds.  Imprints are kept with
    their group.
    """
    if not reasons:
        return plan
    groups = {key: [e for e in group if e.path not in reasons] for key, group in plan.science.groups.items()}
    groups = {key: group for key, group in groups.items() if group}
    background = {key: [e for e in group if e.path not in reasons] for key, group in plan.background.items()
                  if key in groups}
    dropped = [(e.path, f"no data on detector {e.detector}: {reasons[e.path]} (jwst assign_wcs)")
               for e in plan.all_exposures if e.path in reasons]
    science = dataclasses.replace(plan.science, groups=groups,
                                  imprints={k: v for k, v in plan.science.imprints.items() if k in groups})
    return RunPlan(science, background, list(plan.skipped) + dropped, list(plan.notes))


def check_inputs(config: PipelineConfig, layout: Layout) -> None:
    """Checks of the configuration against the exposures already present (before a run starts anything).

    Raises
    ------
    ConfigError
        ``tso`` disagrees with the headers of the science exposures.
    InputFileError
        An exposure is unreadable or belongs to another program/instrument.
    """
    science = select_exposures(layout.uncal_files(config.observation), instrument=config.instrument.upper(),
                               program=config.program, observation=config.observation, mode=config.mode)
    check_time_series(science.exposures, config.tso)


def product_band(path: str | Path) -> str:
    """Band/grating key of a product for combination, from its own header (never its file name).

    MIRI MRS: ``ch1-short`` (one-channel cube), ``ch12-short`` (Stage 2
    two-channel cube); NIRSpec: ``g395h-f290lp_nrs1`` (Stage 2, one
    detector) or ``g395h-f290lp`` (Stage 3); MIRI LRS: ``p750l``.  An
    extracted spectrum is read from its ``EXTRACT1D`` header.  See
    :func:`jwstspec.bands.band_key`.
    """
    from jwstspec.bands import band_key

    with fits.open(path) as hdul:
        header = dict(hdul[0].header)
        if "EXTRACT1D" in hdul:
            header.update(hdul["EXTRACT1D"].header)
    if str(header.get("INSTRUME", "")).upper() == "NIRSPEC" and "_t0" in Path(path).name:
        header.pop("DETECTOR", None)  # a Stage 3 product combines both detectors
    return band_key(header, Path(path).stem)


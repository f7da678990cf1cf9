"""What a run has to do: the exposures, their groups and their products.

Plain functions that the flow calls to decide which tasks to submit.  They
read headers and list directories; they never run a pipeline.  Keeping
these decisions out of ``flows/`` makes them unit-testable without Prefect.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from astropy.io import fits

from jwstspec.config import PipelineConfig
from jwstspec.exposures import Exposure, Selection, check_compatible, match_backgrounds, select_exposures
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
        return self.science.groups

    @property
    def all_exposures(self) -> list[Exposure]:
        """Science and background exposures, each once."""
        seen: dict[Path, Exposure] = {}
        for exp in self.science.exposures:
            seen.setdefault(exp.path, exp)
        for group in self.background.values():
            for exp in group:
                seen.setdefault(exp.path, exp)
        return list(seen.values())

    @property
    def is_empty(self) -> bool:
        return not self.science.groups


def plan_run(config: PipelineConfig, layout: Layout) -> RunPlan:
    """Select and group the run's exposures from their headers.

    Raises
    ------
    ConfigError
        A science group has no matching background group.
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


def product_band(path: str | Path) -> str:
    """Band/grating key of a product for combination, from its header.

    MIRI MRS: ``ch1-short``; NIRSpec: ``g395h-f290lp_nrs1`` (Stage 2, one
    detector) or ``g395h-f290lp`` (Stage 3); MIRI LRS: ``p750l``.
    """
    header = fits.getheader(path, 0)
    instrument = str(header.get("INSTRUME", "")).upper()
    if instrument == "MIRI" and str(header.get("EXP_TYPE", "")).upper() == "MIR_MRS":
        channel = str(header.get("CHANNEL", "")).strip()
        band = str(header.get("BAND", "")).strip().lower()
        match = re.search(r"_ch(\d)-(short|medium|long)", Path(path).name)
        if match:  # cube per channel/band: the file name says which
            channel, band = match.group(1), match.group(2)
        return f"ch{channel}-{band}"
    if instrument == "MIRI":
        return str(header.get("FILTER", "p750l")).lower()
    setting = f"{header.get('GRATING', '')}-{header.get('FILTER', '')}".lower()
    detector = str(header.get("DETECTOR", "")).lower()
    if detector in ("nrs1", "nrs2") and "_t0" not in Path(path).name:
        return f"{setting}_{detector}"
    return setting

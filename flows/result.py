"""What one run of the flow returns: :class:`RunResult`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

STATUSES: tuple[str, ...] = ("completed", "no data")


@dataclasses.dataclass
class RunResult(Mapping[str, Any]):
    """The result of one flow run.

    It reads like the dict the flow used to return (``result["products"]``,
    ``result.get("summary")``); :meth:`to_dict` gives a JSON-able dict.

    Parameters
    ----------
    status : str
        ``completed``, or ``no data`` (no spectroscopic exposure to process).
    message : str
        One line for the console (why nothing was done, or where the summary is).
    summary : str or None
        Path of ``summary.md`` (None when nothing was processed).
    products : dict
        Final product record per band (and ``stitched``).
    tasks : list of dict
        Final state of every task: ``{"stage", "task", "state"}`` with state
        ``ran``, ``cached`` or ``failed``.
    notes : list of str
        Notes of the run (the configuration's description, warnings for the user).
    flow_run_id : str or None
        Prefect flow-run id.
    artifact_keys : list of str
        Keys of the run's Prefect artifacts (summary, exposures, plots).
    crds_context : str
        The CRDS context the run resolved at its start and used (``jwst_NNNN.pmap``).
    failed_slits : list of dict
        Slits that could not be extracted: ``{"product", "slit", "reason"}``
        (slit ``*``: no slit of that product; the run completes when at
        least one spectrum was written).
    """

    status: str
    message: str = ""
    summary: str | None = None
    products: dict[str, Any] = dataclasses.field(default_factory=dict)
    tasks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    flow_run_id: str | None = None
    artifact_keys: list[str] = dataclasses.field(default_factory=list)
    crds_context: str = ""
    failed_slits: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"RunResult.status: {self.status!r} is not one of {', '.join(STATUSES)}")

    def __getitem__(self, key: str) -> Any:
        if key not in _FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the fields (records copied as they are)."""
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunResult))

"""A hand-written local CRDS cache: mappings + synthetic references.

The real ``jwst`` pipelines ask CRDS for every reference they need.  This
module writes a small, self-consistent CRDS cache so that those look-ups
resolve locally, exactly as they do from a user's synced cache, with CRDS
in *serverless* mode (no network):

* ``config/jwst/server_config`` (the cache's operational context);
* ``mappings/jwst/<context>.pmap``: one selector entry per instrument;
* ``mappings/jwst/jwst_<instr>_<serial>.imap``: every reference type any
  ``jwst`` step or pipeline may ask for.  A type with no registered
  reference is declared ``N/A`` *in the imap*, which CRDS answers with
  ``NOT FOUND n/a`` and ``stpipe`` turns into ``"N/A"``: optional steps skip
  themselves, exactly as with a real context that has no such reference.
  (A type *absent* from an imap is an error instead: ``CrdsLookupError``
  ``Unknown reference type``.)
* ``mappings/jwst/jwst_<instr>_<reftype>_<serial>.rmap``: a ``Match`` on the
  registered CRDS parameter keys (``"A|B"`` alternatives allowed) then a
  ``UseAfter`` on the observation date.  The rmaps are marked
  ``reffile_required = NO``: a dataset that matches no row gets ``N/A``.
* ``references/jwst/<instr>/``: the reference files themselves (written
  by the callers, e.g. :func:`jwstspec.synthetic.miri_mrs.write_miri_references`).

Registered entries are kept in ``config/jwst/jwstspec_refs.json``, so
several writers can add references to the same cache one after the other.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jwstspec.errors import InputFileError, OptionError
from jwstspec.fileio import atomic_write_text

SERVERLESS_URL = "https://jwst-serverless-mode.stsci.edu"
REGISTRY_NAME = "jwstspec_refs.json"
DEFAULT_CONTEXT = "jwst_0000.pmap"
#: instruments that always get an imap (all-N/A if nothing is registered)
BASE_INSTRUMENTS = ("MIRI", "NIRSPEC")
_USEAFTER = "1900-01-01 00:00:00"
_ANY = "N/A"  # rmap match value meaning "any value of this parameter"
_DATE_KEYS = ("META.OBSERVATION.DATE", "META.OBSERVATION.TIME")


@dataclass(frozen=True)
class RefEntry:
    """One reference file registered in the local CRDS cache.

    Attributes
    ----------
    instrument : str
        ``"MIRI"`` or ``"NIRSPEC"`` (any JWST instrument name works).
    reftype : str
        Lower-case CRDS reference type, e.g. ``"gain"``.
    filename : str
        Basename of a file already written into
        :func:`reference_dir` ``(crds_path, instrument)``.
    match : Mapping[str, str]
        CRDS parameter key -> value, e.g.
        ``{"META.INSTRUMENT.DETECTOR": "MIRIFUSHORT"}``; ``"A|B"``
        alternatives are allowed; ``{}`` matches any dataset.
    """

    instrument: str
    reftype: str
    filename: str
    match: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        """JSON-friendly form (for the registry file)."""
        return {
            "instrument": self.instrument.upper(),
            "reftype": self.reftype.lower(),
            "filename": self.filename,
            "match": {str(k).upper(): str(v) for k, v in dict(self.match).items()},
        }

    @classmethod
    def from_json(cls, d: Mapping) -> RefEntry:
        """Inverse of :meth:`to_json`."""
        return cls(d["instrument"], d["reftype"], d["filename"], dict(d.get("match", {})))


def reference_dir(crds_path: Path, instrument: str) -> Path:
    """Directory of the references of ``instrument`` (created if missing).

    Parameters
    ----------
    crds_path : Path
        Root of the CRDS cache (``CRDS_PATH``).
    instrument : str
        JWST instrument name, any case.

    Returns
    -------
    Path
        ``<crds_path>/references/jwst/<instrument lower>/``.
    """
    d = Path(crds_path) / "references" / "jwst" / instrument.lower()
    d.mkdir(parents=True, exist_ok=True)
    return d


@functools.lru_cache(maxsize=1)
def known_reftypes() -> tuple[str, ...]:
    """Every reference type any ``jwst`` step or pipeline may ask CRDS for.

    Collected from the ``reference_file_types`` of every step class exported
    by :mod:`jwst.step` (instantiated, because some are properties) and of
    every pipeline in :mod:`jwst.pipeline` (Tso3Pipeline declares its own).
    """
    import jwst.pipeline
    import jwst.step

    types: set[str] = set()
    classes = [getattr(jwst.step, n) for n in jwst.step.__all__]
    classes += [getattr(jwst.pipeline, n) for n in jwst.pipeline.__all__]
    for cls in classes:
        try:
            obj = cls()
        except Exception:  # noqa: BLE001  (any step that cannot be built bare: use its class attribute)
            obj = None
        if obj is None:
            class_types = getattr(cls, "reference_file_types", [])
            if isinstance(class_types, (list, tuple)):
                types.update(class_types)
            continue
        for name in getattr(cls, "step_defs", {}) or {}:
            sub = getattr(obj, name, None)
            types.update(getattr(sub, "reference_file_types", []) or [])
        types.update(getattr(obj, "reference_file_types", []) or [])
    return tuple(sorted(t.lower() for t in types if isinstance(t, str)))


def _serial(context: str) -> str:
    m = re.fullmatch(r"jwst_(\d+)\.pmap", context)
    if not m:
        raise OptionError("context", f"{context!r} must look like 'jwst_NNNN.pmap'")
    return m.group(1)


def _registry_path(crds_path: Path) -> Path:
    return Path(crds_path) / "config" / "jwst" / REGISTRY_NAME


@contextlib.contextmanager
def _registry_lock(crds_path: Path) -> Iterator[None]:
    """Serialise writers of one cache (blocking ``flock``; released if the process dies)."""
    lock = Path(crds_path) / "config" / "jwst" / ".jwstspec_refs.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def registered_entries(crds_path: Path) -> list[RefEntry]:
    """The entries already registered in the cache at ``crds_path``."""
    p = _registry_path(crds_path)
    if not p.exists():
        return []
    try:
        data = json.loads(p.read_text())
        return [RefEntry.from_json(d) for d in data["entries"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputFileError(p, f"unreadable jwstspec CRDS registry ({exc})") from exc


def _merge(old: Iterable[RefEntry], new: Iterable[RefEntry]) -> list[RefEntry]:
    """Later entries replace earlier ones with the same (instrument, reftype, match)."""
    out: dict[tuple, RefEntry] = {}
    for e in list(old) + list(new):
        e = RefEntry.from_json(e.to_json())  # normalise case
        key = (e.instrument, e.reftype, tuple(sorted(e.match.items())))
        out[key] = e  # a replacement keeps the old position: re-registering is a no-op
    return list(out.values())


def _rmap_text(name: str, instrument: str, reftype: str, entries: list[RefEntry]) -> str:
    keys = sorted({k for e in entries for k in e.match})
    if not keys:
        keys = ["META.INSTRUMENT.NAME"]
    header = {
        "derived_from": "jwstspec synthetic",
        "filekind": reftype.upper(),
        "instrument": instrument,
        "mapping": "REFERENCE",
        "name": name,
        "observatory": "JWST",
        "parkey": (tuple(keys), _DATE_KEYS),
        "reffile_required": "NO",
        "sha1sum": "0",
    }
    rows = []
    for e in entries:
        if keys == ["META.INSTRUMENT.NAME"] and not e.match:
            values = (instrument,)
        else:
            values = tuple(str(e.match.get(k, _ANY)) for k in keys)
        rows.append(f"    {values!r} : UseAfter({{\n        {_USEAFTER!r} : {e.filename!r},\n    }}),")
    return (
        "header = {\n" + "".join(f"    {k!r} : {v!r},\n" for k, v in header.items()) + "}\n\n"
        "selector = Match({\n" + "\n".join(rows) + "\n})\n"
    )


def _imap_text(name: str, instrument: str, selections: Mapping[str, str]) -> str:
    header = {
        "derived_from": "jwstspec synthetic",
        "instrument": instrument,
        "mapping": "INSTRUMENT",
        "name": name,
        "observatory": "JWST",
        "parkey": ("META.EXPOSURE.TYPE",),
        "sha1sum": "0",
    }
    return (
        "header = {\n" + "".join(f"    {k!r} : {v!r},\n" for k, v in header.items()) + "}\n\n"
        "selector = {\n" + "".join(f"    {k!r} : {v!r},\n" for k, v in sorted(selections.items())) + "}\n"
    )


def _pmap_text(name: str, selections: Mapping[str, str]) -> str:
    header = {
        "derived_from": "jwstspec synthetic",
        "mapping": "PIPELINE",
        "name": name,
        "observatory": "JWST",
        "parkey": ("META.INSTRUMENT.NAME",),
        "sha1sum": "0",
    }
    return (
        "header = {\n" + "".join(f"    {k!r} : {v!r},\n" for k, v in header.items()) + "}\n\n"
        "selector = {\n" + "".join(f"    {k!r} : {v!r},\n" for k, v in sorted(selections.items())) + "}\n"
    )


def write_crds_cache(crds_path: Path, entries: Iterable[RefEntry], *, context: str = DEFAULT_CONTEXT) -> Path:
    """Write (or update) the mappings of a local CRDS cache.

    Parameters
    ----------
    crds_path : Path
        Root of the cache (``CRDS_PATH``); created if missing.
    entries : iterable of RefEntry
        References to register, merged with those already registered in
        this cache (an entry with the same instrument, reftype and match
        replaces the old one).  Every file must already exist in
        :func:`reference_dir`.
    context : str
        Name of the pipeline mapping, ``jwst_NNNN.pmap``; it becomes the
        cache's operational context.

    Returns
    -------
    Path
        ``crds_path``.

    Raises
    ------
    InputFileError
        A registered reference file is missing.
    OptionError
        The context name is invalid.
    """
    crds_path = Path(crds_path)
    serial = _serial(context)
    entries = list(entries)
    reftypes_known = known_reftypes()  # outside the lock: imports jwst
    with _registry_lock(crds_path):
        _write_locked(crds_path, entries, context, serial, reftypes_known)
    return crds_path


def _write_locked(crds_path: Path, entries: list[RefEntry], context: str, serial: str,
                  reftypes_known: tuple[str, ...]) -> None:
    cfg = crds_path / "config" / "jwst"
    maps = crds_path / "mappings" / "jwst"
    cfg.mkdir(parents=True, exist_ok=True)
    maps.mkdir(parents=True, exist_ok=True)

    merged = _merge(registered_entries(crds_path), entries)
    for e in merged:
        f = reference_dir(crds_path, e.instrument) / e.filename
        if not f.exists():
            raise InputFileError(f, f"reference file registered as {e.instrument} {e.reftype} does not exist")

    reftypes = set(reftypes_known) | {e.reftype for e in merged}
    instruments = sorted(set(BASE_INSTRUMENTS) | {e.instrument for e in merged})
    pmap_sel: dict[str, str] = {}
    for instr in instruments:
        imap_name = f"jwst_{instr.lower()}_{serial}.imap"
        sel = {rt: "N/A" for rt in reftypes}
        for rt in sorted({e.reftype for e in merged if e.instrument == instr}):
            rmap_name = f"jwst_{instr.lower()}_{rt}_{serial}.rmap"
            rows = [e for e in merged if e.instrument == instr and e.reftype == rt]
            atomic_write_text(maps / rmap_name, _rmap_text(rmap_name, instr, rt, rows))
            sel[rt] = rmap_name
        atomic_write_text(maps / imap_name, _imap_text(imap_name, instr, sel))
        pmap_sel[instr] = imap_name
    atomic_write_text(maps / context, _pmap_text(context, pmap_sel))

    # reference cache layout: one sub-directory per instrument
    atomic_write_text(cfg / "ref_cache_subdir_mode", "instrument\n")
    server_config = {
        "observatory": "jwst",
        "last_synced": "2025-01-01 00:00:00",
        "latest_context": context,
        "operational_context": context,
        "bad_files_list": [],
    }
    atomic_write_text(cfg / "server_config", repr(server_config) + "\n")
    registry = {"context": context, "entries": [e.to_json() for e in merged]}
    atomic_write_text(_registry_path(crds_path), json.dumps(registry, indent=1, sort_keys=True) + "\n")


def crds_environment(crds_path: Path, context: str | None = None) -> dict[str, str]:
    """Environment variables that make CRDS use the local cache, serverless.

    Parameters
    ----------
    crds_path : Path
        Root of the cache written by :func:`write_crds_cache`.
    context : str, optional
        Pin this context (``CRDS_CONTEXT``); default: the cache's own.
    """
    env = {
        "CRDS_PATH": str(Path(crds_path).resolve()),
        "CRDS_SERVER_URL": SERVERLESS_URL,
        "CRDS_OBSERVATORY": "jwst",
        "STPIPE_DISABLE_CRDS_STEPPARS": "true",
        "CRDS_IGNORE_MAPPING_CHECKSUM": "1",
    }
    if context:
        _serial(context)
        env["CRDS_CONTEXT"] = context
    return env


def activate(crds_path: Path, context: str | None = None) -> None:
    """Set :func:`crds_environment` in ``os.environ`` (before the first CRDS look-up)."""
    os.environ.update(crds_environment(crds_path, context))

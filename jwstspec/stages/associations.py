"""Association files for Stage 2 (with background members) and Stage 3, via ``jwst.associations``.

Members in the association's own directory are written by name; members
elsewhere by absolute path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from astropy.io import fits

from jwstspec.errors import InputFileError
from jwstspec.fileio import atomic_write_text


def _relative(member: Path, asn_dir: Path) -> str:
    """Members beside the association by name; others by absolute path.

    (``calwebb_spec2`` opens background members relative to the working
    directory, not to the association, so ``../`` paths would break.)
    """
    member = Path(member).resolve()
    if member.parent == asn_dir.resolve():
        return member.name
    return str(member)


def _program(path: Path) -> str:
    try:
        return str(fits.getval(path, "PROGRAM", 0)).zfill(5)
    except Exception:
        return "noprogram"


def _check(paths: Sequence[Path]) -> None:
    for p in paths:
        if not Path(p).is_file():
            raise InputFileError(p, "association member not found")


def _write(asn: object, output: Path) -> Path:
    _name, text = asn.dump(format="json")  # type: ignore[attr-defined]
    data = json.loads(text)
    return atomic_write_text(output, json.dumps(data, indent=2) + "\n")


def write_spec2_asn(science: Path, backgrounds: Sequence[Path], output: Path, *, product_name: str | None = None,
                    imprints: Sequence[Path] = ()) -> Path:
    """A level-2 spec association: one science member plus background and imprint members.

    Parameters
    ----------
    science : Path
        The science rate (or rateints) file.
    backgrounds : sequence of Path
        Background exposures of the same setting (``exptype = background``).
    output : Path
        The association file to write (atomically).
    product_name : str, optional
        Product root of the outputs (default: the science exposure's root).
    imprints : sequence of Path
        NIRSpec imprint (leakcal) exposures of the same setting and detector
        (``exptype = imprint``: ``calwebb_spec2``'s ``imprint_subtract``
        subtracts them; they are never science members).
    """
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level2b import Asn_Lv2Spec

    from jwstspec.layout import product_name as root

    science, output = Path(science), Path(output)
    _check([science, *backgrounds, *imprints])
    name = product_name or root(science)
    asn = asn_from_list([_relative(science, output.parent)], rule=Asn_Lv2Spec, product_name_func=lambda item, idx: name)
    for b in backgrounds:
        asn["products"][0]["members"].append({"expname": _relative(Path(b), output.parent), "exptype": "background"})
    for i in imprints:
        asn["products"][0]["members"].append({"expname": _relative(Path(i), output.parent), "exptype": "imprint"})
    asn.data["asn_type"] = "spec2"
    asn.data["program"] = _program(science)
    return _write(asn, output)


def write_spec3_asn(members: Sequence[Path], output: Path, *, product_name: str, backgrounds: Sequence[Path] = ()) -> Path:
    """A level-3 spec association of one group's cal files (+ optional background members)."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level3 import Asn_Lv3SpecAux

    output = Path(output)
    _check([*members, *backgrounds])
    items = [(_relative(Path(m), output.parent), "science") for m in members]
    items += [(_relative(Path(b), output.parent), "background") for b in backgrounds]
    asn = asn_from_list(items, rule=Asn_Lv3SpecAux, with_exptype=True, product_name=product_name)
    asn.data["asn_type"] = "spec3"
    asn.data["program"] = _program(Path(members[0]))
    return _write(asn, output)


def write_tso3_asn(members: Sequence[Path], output: Path, *, product_name: str) -> Path:
    """A level-3 tso association of calints files."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level3 import Asn_Lv3SpecAux

    output = Path(output)
    _check(members)
    asn = asn_from_list([(_relative(Path(m), output.parent), "science") for m in members], rule=Asn_Lv3SpecAux,
                        with_exptype=True, product_name=product_name)
    asn.data["asn_type"] = "tso3"
    asn.data["program"] = _program(Path(members[0]))
    return _write(asn, output)

"""Flux units of the products: from ``BUNIT`` to Jy per pixel, per slit or cube.

jwst's ``photom`` leaves NIRSpec fixed-slit and MOS point-source slits in
``MJy`` per pixel and everything else (extended sources, IFU cubes, MIRI)
in ``MJy/sr``.  An extraction sums pixels, so the factor that turns a
pixel value into Jy is

* ``MJy/sr`` -> ``1e6 * pixel solid angle`` (``PIXAR_SR``),
* ``MJy``    -> ``1e6``,

and any other unit (``DN/s``, a missing ``BUNIT``, ...) is refused with a
one-line :class:`~jwstspec.errors.InputFileError` naming the file, the slit
and the unit.  The error array (``ERR``, unit ``BUNIT`` of its extension,
``meta.bunit_err``) must carry the same unit as the data when it states
one; without a unit it is taken in the data's unit (jwst writes them
together).  ``VAR_*`` arrays carry no unit keyword in jwst products and are
taken as the square of the data's unit.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jwstspec.errors import InputFileError

__all__ = ["FluxUnit", "flux_unit", "normalise_unit"]

#: Accepted spellings, normalised.
_ALIASES = {
    "mjy/sr": "MJy/sr",
    "mjy / sr": "MJy/sr",
    "mjy sr-1": "MJy/sr",
    "mjy sr**-1": "MJy/sr",
    "mjy.sr**-1": "MJy/sr",
    "mjy": "MJy",
}


def normalise_unit(unit: object) -> str | None:
    """``"MJy / sr"`` -> ``"MJy/sr"``, ``"mjy"`` -> ``"MJy"``; anything else as given (None when empty)."""
    if unit is None:
        return None
    text = " ".join(str(unit).split())
    if not text:
        return None
    return _ALIASES.get(text.lower(), text)


@dataclasses.dataclass(frozen=True)
class FluxUnit:
    """The unit of one slit/cube and the factor from its pixel values to Jy.

    Attributes
    ----------
    unit : str
        ``"MJy"`` or ``"MJy/sr"`` (of the data; the errors are in the same unit).
    to_jy : float
        Multiply a pixel value (or a sum of pixel values) by this to get Jy.
    err_unit : str
        The unit the error array states, or ``""`` when it states none
        (then taken in the data's unit).
    """

    unit: str
    to_jy: float
    err_unit: str = ""

    def header(self) -> dict[str, str]:
        """Header cards recording the units seen: ``BUNITSCI`` (data), ``BUNITERR`` (errors, '' = none stated)."""
        return {"BUNITSCI": self.unit, "BUNITERR": self.err_unit}


def flux_unit(unit: object, pixel_sr: float | None, path: str | Path, where: str = "",
              err_unit: object = None) -> FluxUnit:
    """The :class:`FluxUnit` of one slit or cube, or a one-line error naming file, slit and unit.

    Parameters
    ----------
    unit : str or None
        ``BUNIT`` of the data (``meta.bunit_data``).
    pixel_sr : float or None
        Pixel solid angle in steradians (``PIXAR_SR``); needed for ``MJy/sr`` only.
    path : str or Path
        The file, for the error message.
    where : str
        ``"slit S200A1"`` (or ``""`` for a cube), for the error message.
    err_unit : str or None
        ``BUNIT`` of the error array (``meta.bunit_err``), if any.

    Returns
    -------
    FluxUnit

    Raises
    ------
    InputFileError
        Unit missing or not convertible to Jy; ``MJy/sr`` without a pixel
        solid angle; an error unit that differs from the data unit.
    """
    prefix = f"{where}: " if where else ""
    name = normalise_unit(unit)
    if name == "MJy/sr":
        if not pixel_sr or not float(pixel_sr) > 0:
            raise InputFileError(path, f"{prefix}BUNIT is MJy/sr but PIXAR_SR (pixel solid angle) is missing: cannot convert to Jy")
        factor = 1e6 * float(pixel_sr)
    elif name == "MJy":
        factor = 1e6
    elif name is None:
        raise InputFileError(path, f"{prefix}no flux unit (BUNIT missing): need MJy or MJy/sr (a photom-calibrated product)")
    else:
        raise InputFileError(path, f"{prefix}flux unit {str(unit)!r} cannot be converted to Jy: need MJy or MJy/sr (a photom-calibrated product)")
    err_name = normalise_unit(err_unit)
    if err_name is not None and err_name != name:
        raise InputFileError(path, f"{prefix}ERR unit {str(err_unit)!r} differs from the data unit {name!r}")
    return FluxUnit(name, factor, err_name or "")

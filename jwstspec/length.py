"""A length of the extraction geometry, in arcsec or in pixels, parsed once.

Radii and distances of the extraction regions are written by the user as
``0.3`` or ``"0.3arcsec"`` (arc seconds) or ``"3px"`` (pixels of the product
being extracted).  :class:`Length` is that value parsed: the configuration
(:mod:`jwstspec.config`) turns every length field into one when it validates,
so code downstream never parses text and only converts with
:meth:`Length.pixels` once the product's pixel scale is known.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px|pix|arcsec|\")?\s*$")


@dataclasses.dataclass(frozen=True, eq=False)
class Length:
    """A positive length in arcsec or pixels.

    Two lengths are equal when their values and units are, however they
    were written; a length also equals the text or number that parses to it
    (``Length.parse("3 px") == "3px"``), so code that compared the raw
    values keeps working.

    Attributes
    ----------
    value : float
        The number.
    unit : {"arcsec", "px"}
        Its unit.
    text : float, str or None
        The value as the user wrote it (saved configurations and cache keys
        keep it); None when built from numbers.
    """

    value: float
    unit: Literal["arcsec", "px"]
    text: float | str | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def parse(cls, value: Any) -> Length:
        """Parse ``0.3``, ``"0.3"``, ``"0.3arcsec"`` (arcsec) or ``"3px"``, ``"3 pix"`` (pixels).

        Raises
        ------
        ValueError
            Not a number with an optional unit, or not positive.
        """
        if isinstance(value, Length):
            return value
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a length")
        if isinstance(value, (int, float)):
            if not value > 0:
                raise ValueError(f"{value!r} must be positive")
            return cls(float(value), "arcsec", value)
        match = _LENGTH.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a length (use arcsec, e.g. 0.3, or pixels, e.g. '3px')")
        number = float(match.group(1))
        if not number > 0:
            raise ValueError(f"{value!r} must be positive")
        return cls(number, "px" if match.group(2) in ("px", "pix") else "arcsec", value)

    @property
    def raw(self) -> float | str:
        """The value as written (``"3px"``, ``0.3``), or a canonical spelling when built from numbers."""
        if self.text is not None:
            return self.text
        return f"{self.value:g}px" if self.unit == "px" else self.value

    def pixels(self, pixel_arcsec: float) -> float:
        """The length in pixels of a product whose pixels are ``pixel_arcsec`` arcsec wide."""
        return self.value if self.unit == "px" else self.value / pixel_arcsec

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Length):
            if isinstance(other, bool) or not isinstance(other, (str, int, float)):
                return NotImplemented
            try:
                other = Length.parse(other)
            except ValueError:
                return False
        return (self.value, self.unit) == (other.value, other.unit)

    def __hash__(self) -> int:
        return hash((self.value, self.unit))

    def __str__(self) -> str:
        return str(self.raw)

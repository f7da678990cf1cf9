"""Building many jwst datamodels fast, for the synthetic instrument and data writers.

stdatamodels validates a model's whole schema subtree each time a
value is assigned (``VALIDATE_ON_ASSIGNMENT``, on by default): a NIRSpec
IFU ``assign_wcs`` spends ~70 % of its time validating the WCS it assigns,
and writing the synthetic references ~half of it validating the values
they are built from.  The synthetic writers build with assignment checks
off; what they write is still validated once, when it is saved
(``DataModel.save`` validates the whole model), and jwst reads it back with
its own checks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from jwstspec.locking import shared_setup

_saved: dict[str, str | None] = {}


def _switch_off() -> None:
    _saved["value"] = os.environ.get("VALIDATE_ON_ASSIGNMENT")
    os.environ["VALIDATE_ON_ASSIGNMENT"] = "false"


def _restore() -> None:
    value = _saved.pop("value", None)
    if value is None:
        os.environ.pop("VALIDATE_ON_ASSIGNMENT", None)
    else:
        os.environ["VALIDATE_ON_ASSIGNMENT"] = value


_unvalidated = shared_setup(_switch_off, _restore)


@contextlib.contextmanager
def assignment_unvalidated() -> Iterator[None]:
    """Models created inside the block skip stdatamodels' validation on assignment.

    Sets ``VALIDATE_ON_ASSIGNMENT=false`` for the block (read when a model
    is created; a copy of a model made inside the block is created inside
    it too) and restores the previous value afterwards; nested and
    concurrent blocks share one setting (:func:`jwstspec.locking.shared_setup`).
    Saving still validates.
    """
    with _unvalidated():
        yield

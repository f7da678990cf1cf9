"""Which detector a NIRSpec exposure puts data on: jwst's own rule, not a table of ours.

jwst's ``assign_wcs`` raises ``NoDataOnDetectorError`` when a NIRSpec
exposure has nothing to calibrate on its detector, and ``calwebb_spec2``
then ends without a product.  The cases are jwst's
(``jwst/assign_wcs/nirspec.py``):

* IFU: no slice reaches NRS2 with a medium-resolution grating (``G140M``,
  ``G235M``, ``G395M``) or with ``G140H/F070LP`` (a rule on the header);
* fixed slit, bright object, MOS: no open slit projects onto the detector
  inside the setting's wavelength range (``validate_open_slits``, from
  the optical-model references).

:func:`no_data_reason` runs that part of jwst's WCS construction
(``nirspec.create_pipeline`` with the exposure's references from CRDS) on
an exposure's metadata only, so the flow can leave such an exposure out of
Stage 1 and 2 and record why, while the rest of the observation goes on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("jwstspec.detector_rule")

#: exposure types whose WCS construction can find no data on the detector (jwst's NIRSpec spectroscopic modes)
CHECKED_TYPES = ("NRS_IFU", "NRS_FIXEDSLIT", "NRS_BRIGHTOBJ", "NRS_MSASPEC")


def no_data_reason(path: str | Path) -> str:
    """Why jwst would find no data on this exposure's detector ('' when it finds some, or cannot tell).

    Parameters
    ----------
    path : path
        Any product of the exposure (uncal, rate...): only its metadata are
        read.  References come from the active CRDS context; a MOS
        exposure's ``MSAMETFL`` is looked for beside ``path``.

    Returns
    -------
    str
        jwst's own ``NoDataOnDetectorError`` message (e.g. "No IFU slices
        fall on detector NRS2"), or '' when jwst builds the WCS or fails for
        another reason (left to Spec2, which reports its own error).
    """
    from jwst.assign_wcs import AssignWcsStep, nirspec
    from jwst.assign_wcs.util import NoDataOnDetectorError

    path = Path(path)
    with _metadata_model(path) as model:
        if str(model.meta.instrument.name).upper() != "NIRSPEC" or model.meta.exposure.type not in CHECKED_TYPES:
            return ""
        step = AssignWcsStep()
        refs = {}
        for reftype in step.reference_file_types:
            try:
                ref = step.get_reference_file(model, reftype)
            except Exception as exc:  # no reference for this setting: jwst's rule may still decide (IFU)
                log.debug("%s: no %s reference (%s)", path.name, reftype, exc)
                ref = None
            refs[reftype] = None if ref in (None, "", "N/A") else ref
        msa = model.meta.instrument.msa_metadata_file
        if model.meta.exposure.type == "NRS_MSASPEC" and msa and (path.parent / msa).is_file():
            refs["msametafile"] = str(path.parent / msa)
        try:
            nirspec.create_pipeline(model, refs, slit_y_range=[step.slit_y_low, step.slit_y_high])
        except NoDataOnDetectorError as exc:
            return " ".join(str(exc.args[-1] if exc.args else exc).split())
        except Exception as exc:  # not jwst's no-data rule: Spec2 runs and reports its own error
            log.debug("%s: the detector rule could not decide (%s: %s)", path.name, type(exc).__name__, exc)
    return ""


def _metadata_model(path: Path) -> Any:
    """A datamodel holding ``path``'s metadata only (a time series' uncal can hold gigabytes of ramps).

    A FITS file without an ASDF extension (header-only test files) is opened as it is.
    """
    from stdatamodels.jwst import datamodels
    from stdatamodels.jwst.datamodels.util import read_metadata

    try:
        tree = read_metadata(path, flatten=False)
    except KeyError:
        return datamodels.open(path)
    tree.pop("history", None)
    model = datamodels.ImageModel()
    model.update(tree)
    return model

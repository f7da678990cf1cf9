"""The background's variance in ``calwebb_spec2``'s own background subtraction (``[stage1] bkg_subtract = "asn"``).

jwst's ``BackgroundStep`` subtracts the mean of the association's
background members but leaves the science ``ERR`` and ``VAR_*`` as they
were (jwst issues #8723 and #10566).  :class:`BackgroundVarianceHook` runs as
a post-hook of Spec2's ``bkg_subtract`` step and adds the variance of that
mean (:func:`jwstspec.stages.background.add_background_variance`, as the
Stage 1 ``pixel`` and ``nod`` subtraction do), so that ``flat_field``, which
rebuilds ``ERR`` from ``VAR_POISSON`` and ``VAR_RNOISE``, carries it on.

An imprint (leakcal) exposure subtracted from the science and from every
background cancels from the difference, and jwst's imprint step leaves
``ERR`` as it was too, so the background rates' own variance is the whole
addition; with one imprint per member their (small) variance is not added.

:func:`spec2_background_steps` gives the step parameters that attach the
hook for a level-2 association with background members; jwstspec's
:func:`jwstspec.stages.pipelines.run_spec2` uses them, and step parameters
the user sets for ``bkg_subtract`` come on top.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jwst.stpipe import Step

from jwstspec.stages.background import add_background_variance

__all__ = ["BackgroundVarianceHook", "spec2_background_steps"]


class BackgroundVarianceHook(Step):
    """Post-hook of ``bkg_subtract``: add the subtracted backgrounds' variance to ``ERR`` and ``VAR_*``."""

    class_alias = "background_variance"

    spec = """
        backgrounds = string_list(default=None)  # the background rate files (absolute paths)
    """

    def process(self, model: Any) -> Any:
        """Add the variance when ``bkg_subtract`` subtracted something; return ``model``."""
        if model.meta.cal_step.bkg_subtract != "COMPLETE" or not self.backgrounds:
            return model
        add_background_variance(model, [Path(b) for b in self.backgrounds])
        model.add_history_entry(f"jwstspec: the variance of the {len(self.backgrounds)} subtracted background(s) "
                                "added to VAR_POISSON, VAR_RNOISE and ERR")
        return model


def spec2_background_steps(input_path: str | Path) -> dict[str, dict[str, Any]]:
    """``{"bkg_subtract": {"post_hooks": [...]}}`` for a level-2 association with background members, else ``{}``.

    Parameters
    ----------
    input_path : path
        What ``calwebb_spec2`` runs on: a ``*_asn.json`` association or a
        single exposure (which has no background members).

    Returns
    -------
    dict
        Step parameters for ``calwebb_spec2``.
    """
    path = Path(input_path)
    if not path.name.endswith(".json") or not path.is_file():  # a missing input is run_spec2's to report
        return {}
    with open(path) as fh:
        asn = json.load(fh)
    backgrounds = [str((path.parent / m["expname"]).resolve()) for product in asn.get("products", [])
                   for m in product.get("members", []) if m.get("exptype") == "background"]
    if not backgrounds:
        return {}
    return {"bkg_subtract": {"post_hooks": [BackgroundVarianceHook(backgrounds=backgrounds)]}}

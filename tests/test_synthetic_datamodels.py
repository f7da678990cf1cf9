"""jwstspec.synthetic.datamodels: models built without assignment checks are still validated when saved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jwstspec.synthetic.datamodels import assignment_unvalidated


def test_assignment_is_unchecked_inside_and_saving_still_validates(tmp_path: Path, monkeypatch) -> None:
    from stdatamodels.jwst.datamodels import ImageModel

    monkeypatch.delenv("VALIDATE_ON_ASSIGNMENT", raising=False)
    with assignment_unvalidated(), assignment_unvalidated():  # nested blocks share one setting
        model = ImageModel((4, 4))
        copied = model.copy()
        model.meta.exposure.type = "NOT_AN_EXPOSURE_TYPE"  # outside the schema's enum: accepted here
    assert "VALIDATE_ON_ASSIGNMENT" not in os.environ  # restored
    assert not model._validate_on_assignment and not copied._validate_on_assignment
    with pytest.raises(Exception, match="NOT_AN_EXPOSURE_TYPE"):
        ImageModel((4, 4), strict_validation=True).meta.exposure.type = "NOT_AN_EXPOSURE_TYPE"
    model._strict_validation = True
    with pytest.raises(Exception, match="NOT_AN_EXPOSURE_TYPE"):
        model.save(tmp_path / "bad.fits")
    monkeypatch.setenv("VALIDATE_ON_ASSIGNMENT", "true")
    with assignment_unvalidated():
        assert os.environ["VALIDATE_ON_ASSIGNMENT"] == "false"
    assert os.environ["VALIDATE_ON_ASSIGNMENT"] == "true"

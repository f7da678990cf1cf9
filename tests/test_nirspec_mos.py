"""Synthetic NIRSpec MOS (jwstspec.synthetic.nirspec_mos): the MSA metadata file read by jwst.

jwst is the oracle: its own ``get_open_msa_slits`` reads our metadata file
(slitlets, primary shutter per nod, sources).  The real ``calwebb_spec2``
on these exposures (assign_wcs with the file beside the input, extract_2d,
srctype from the stellarity, the MSA flat, photom, resample_spec) runs once,
through the flow, in ``test_flow_nirspec_mos.py``: each source in MJy, its
injected flux and its line's wavelength.
"""

from __future__ import annotations

import pytest

from jwstspec.synthetic import nirspec_mos as mos

MSA = "jw01234005001_01_msa.fits"


@pytest.mark.parametrize("nod", [1, 2, 3])
def test_jwst_reads_the_metadata_file_with_the_source_in_the_nods_shutter(tmp_path, nod):
    from jwst.assign_wcs.nirspec import get_open_msa_slits

    path = mos.write_msa_metadata(tmp_path / MSA)
    slits = get_open_msa_slits(1234, str(path), 1, nod, slit_scales={})
    assert sorted(int(s.name) for s in slits) == [s.slitlet_id for s in mos.SOURCES]
    for src in mos.SOURCES:
        slit = next(s for s in slits if int(s.name) == src.slitlet_id)
        assert slit.source_id == src.source_id and slit.source_alias == src.name
        assert (slit.quadrant, slit.xcen) == (src.quadrant, src.row)
        assert slit.ycen == src.column + mos.NOD_SHUTTER[nod]  # the primary shutter: where the source is
        assert slit.shutter_state == {1: "x11", 2: "1x1", 3: "11x"}[nod] and slit.stellarity == 1.0
        assert slit.source_ypos == 0.0  # centred in its shutter


def test_unknown_nod_is_refused(tmp_path):
    with pytest.raises(ValueError, match="nod must be 1, 2 or 3"):
        mos.mos_exposure(tmp_path / "x_rate.fits", tmp_path / MSA, nod=4)

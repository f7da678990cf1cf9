"""``jwstspec extract`` stays a fast process (issue 14 item 7): what it imports, checked in a fresh interpreter.

The command's start-up was dominated by imports, not by the extraction:
``stdatamodels`` schemas, ``jwst``, Prefect, photutils (with astropy.modeling,
scipy.ndimage) and astropy.table.  Importing the command must load none of
jwst, stdatamodels or Prefect; extracting a plain s3d cube and s2d slit
image (no WCS needed) must load none of the heavy packages either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NEVER = ("jwst", "stdatamodels", "prefect")
HEAVY = NEVER + ("photutils", "scipy", "astropy.table", "astropy.modeling", "asdf", "gwcs", "crds", "matplotlib")


def _run(code: str, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}  # no CRDS cache: apcorr auto asks none
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _loaded(names: tuple[str, ...]) -> str:
    return ("import sys, json\n"
            f"print(json.dumps(sorted(n for n in {names!r} if n in sys.modules)))\n")


def test_importing_the_command_loads_no_jwst_stdatamodels_or_prefect() -> None:
    code = "import jwstspec.cli, jwstspec.commands.extract, jwstspec.extract.api\n" + _loaded(HEAVY)
    loaded = _run(code)
    assert not set(loaded) & set(NEVER), loaded
    assert loaded == [], loaded  # and none of the heavy packages either


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from stdatamodels.jwst.datamodels import SlitModel

    from jwstspec.synthetic.cubes import make_cube, write_s3d

    d = tmp_path_factory.mktemp("cli")
    cube = write_s3d(make_cube(nwave=120, ny=21, nx=21, seed=2), d / "cube_s3d.fits")
    m = SlitModel()
    rows = np.arange(21)[:, None]
    m.data = (100 * np.exp(-0.5 * ((rows - 10.3) / 1.0) ** 2) * np.ones((1, 300))).astype(np.float32)
    m.err, m.dq = np.ones((21, 300), np.float32), np.zeros((21, 300), np.uint32)
    m.wavelength = np.broadcast_to(np.linspace(1, 5, 300)[None], (21, 300)).astype(np.float32).copy()
    m.meta.bunit_data = m.meta.bunit_err = "MJy/sr"
    m.meta.photometry.pixelarea_steradians = (0.1 / 206264.806) ** 2
    m.meta.wcsinfo.dispersion_direction = 1
    m.save(d / "slit_s2d.fits")
    return {"cube": cube, "slit": d / "slit_s2d.fits"}


@pytest.mark.parametrize("kind", ["cube", "slit"])
def test_extracting_a_plain_product_loads_none_of_them(products: dict[str, Path], tmp_path: Path, kind: str) -> None:
    code = ("import sys\nfrom jwstspec.cli import main\n"
            "assert main(['extract', sys.argv[1], '--output', sys.argv[2]]) == 0\n") + _loaded(HEAVY)
    out = tmp_path / f"{kind}_x1d.fits"
    loaded = _run(code, str(products[kind]), str(out))
    assert out.is_file()
    assert loaded == [], loaded

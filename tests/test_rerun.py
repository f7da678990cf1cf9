"""A whole-command rerun with nothing to do (issue 16 item 5) on the kept Prefect database (flows/server.py).

Two real ``jwstspec run`` processes on the same small program (two
synthetic NIRSpec s3d cubes: extraction and combination with a one-worker
process pool): the second is served from the cache.  Checked through things
we did not write: the kept Prefect database holds no task run of the second
command (it started no worker), and the operating system's CPU accounting
of each whole command (``os.wait4``, the command with its server and
workers) shows the rerun costing well under the first.

The same two commands show the kept database's life (these were two more
server starts in ``test_server.py``): in a new Prefect home the first
command's server migrates the data directory's database and keeps it as the
template; the second uses it without migrating (alembic's own table is
dropped in between, so a migration would fail on the existing tables) and
keeps both commands' flow runs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from flows import server
from flows.server import DATABASE, is_migrated
from jwstspec.layout import Layout
from jwstspec.synthetic.cubes import make_cube, write_s3d

PROGRAM, OBS = "01234", "001"


def _program(tmp: Path) -> tuple[Path, Layout]:
    import tomli_w

    data = tmp / "data"
    layout = Layout(data, PROGRAM)
    uncal = layout.uncal_dir(OBS)
    uncal.mkdir(parents=True)
    for i in (1, 2):
        name = f"jw{PROGRAM}{OBS}001_03101_0000{i}_nrs1"
        h = fits.Header({"TELESCOP": "JWST", "INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_IFU",
                         "PROGRAM": PROGRAM, "OBSERVTN": OBS, "VISIT": "001", "EXPOSURE": str(i),
                         "GRATING": "G395H", "FILTER": "F290LP"})
        fits.PrimaryHDU(header=h).writeto(uncal / f"{name}_uncal.fits")
        write_s3d(make_cube(nwave=200, ny=25, nx=25, seed=i), layout.stage2_cube_path(OBS, name), program=PROGRAM,
                  observation=OBS, exposure=i)
    cfg = {"program": PROGRAM, "observation": OBS, "instrument": "nirspec", "mode": "ifu", "data_dir": str(data),
           "stages": ["extract", "combine"], "download": {"enabled": False},
           "extract": {"method": "aperture", "radius": "3px", "bkg_annulus": ["7px", "10px"]},
           "crds": {"server_url": "https://jwst-serverless-mode.stsci.edu", "context": "jwst_0000.pmap"},
           "runtime": {"task_runner": "process", "workers": 1}}
    path = tmp / "run.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path, layout


def _run(config: Path) -> tuple[dict, float]:
    """``jwstspec run --json`` as a whole process: its summary and CPU seconds (with its children)."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    cmd = [sys.executable, "-m", "jwstspec.cli", "run", str(config), "--json"]
    stdout = config.with_suffix(f".{len(list(config.parent.glob('*.out')))}.out")
    with open(stdout, "w") as fh:  # a file, not a pipe: nothing the command leaves behind can hold the test
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
    out = stdout.read_text()
    assert os.waitstatus_to_exitcode(status) == 0, out[-2000:]
    return json.loads(out[out.index("{"):]), usage.ru_utime + usage.ru_stime


def _count(layout: Layout, table: str) -> int:
    con = sqlite3.connect(layout.prefect_dir / DATABASE)
    try:
        return con.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        con.close()


def _tables(layout: Layout) -> set[str]:
    con = sqlite3.connect(layout.prefect_dir / DATABASE)
    try:
        return {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
    finally:
        con.close()


@pytest.mark.slow
def test_a_fully_cached_rerun_starts_no_worker_and_costs_a_fraction_of_the_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))  # no template: the first command migrates
    config, layout = _program(tmp_path)
    first, first_cpu = _run(config)
    assert first["status"] == "completed"
    assert {t["state"] for t in first["tasks"]} == {"ran"}
    spectra = sorted(layout.stage_dir(OBS, "combined").glob("*.fits"))
    assert spectra
    stamps = [p.stat().st_mtime_ns for p in spectra]
    runs_after_first = _count(layout, "task_run")
    assert runs_after_first >= 3  # two extractions and a combination ran as task runs (in the worker)
    assert is_migrated(layout.prefect_dir) and server.template_path().is_file()
    assert "alembic_version" in _tables(layout)
    flow_runs_after_first = _count(layout, "flow_run")
    # without alembic's table a migration would start from scratch and fail on the existing tables
    with sqlite3.connect(layout.prefect_dir / DATABASE) as con:
        con.execute("drop table alembic_version")

    second, second_cpu = _run(config)
    assert second["status"] == "completed"
    assert {t["state"] for t in second["tasks"]} == {"cached"}
    assert _count(layout, "task_run") == runs_after_first  # no task run: nothing was handed to a worker
    assert "alembic_version" not in _tables(layout)  # the kept database was not migrated again
    assert _count(layout, "flow_run") > flow_runs_after_first > 0  # both commands' runs kept
    assert [p.stat().st_mtime_ns for p in spectra] == stamps  # products untouched
    print(f"rerun: first command {first_cpu:.1f} CPU s, cached rerun {second_cpu:.1f} CPU s")
    assert second_cpu < 0.6 * first_cpu, (first_cpu, second_cpu)  # generous: the first run also starts two workers

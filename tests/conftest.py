"""Process-wide test set-up: an offline CRDS cache and a private Prefect home.

CRDS reads its configuration once per process (the first CRDS_PATH wins), so
the variables are set here, before any test imports ``jwst``, and every test
that runs a real pipeline asks for the ``crds_cache`` fixture, which writes
all synthetic references of the project into that one cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Under pytest-xdist (``make test``) the workers of one run share a directory, so the synthetic CRDS cache is
# written once per run, not once per worker; Prefect's home stays per process (one SQLite database each).
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID")
if _RUN_ID:
    SESSION_DIR = Path(tempfile.gettempdir()) / f"jwstspec-tests-{_RUN_ID}"
    SESSION_DIR.mkdir(exist_ok=True)
else:
    SESSION_DIR = Path(tempfile.mkdtemp(prefix="jwstspec-tests-"))
CRDS_PATH = SESSION_DIR / "crds"
PREFECT_HOME = SESSION_DIR / f"prefect-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"

os.environ.update(
    {
        "CRDS_PATH": str(CRDS_PATH),
        "CRDS_SERVER_URL": "https://jwst-serverless-mode.stsci.edu",
        "CRDS_OBSERVATORY": "jwst",
        "CRDS_CONTEXT": "jwst_0000.pmap",
        "CRDS_IGNORE_MAPPING_CHECKSUM": "1",
        "STPIPE_DISABLE_CRDS_STEPPARS": "true",
        "PREFECT_HOME": str(PREFECT_HOME),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MPLBACKEND": "Agg",
    }
)
# each embedded API migrates a fresh database: Prefect's 20 s wait is too short on a loaded 2-core box
# (an environment value wins: a machine shared with other work may need longer)
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.pop("PREFECT_API_URL", None)


def pytest_configure(config: pytest.Config) -> None:
    """As the xdist controller, choose the run id the workers name their shared directory after."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        if not config.option.testrunuid:
            import uuid

            config.option.testrunuid = uuid.uuid4().hex


def pytest_unconfigure(config: pytest.Config) -> None:
    """The run's directories (CRDS cache ~200 MB, Prefect homes) go when the run ends (the controller's job)."""
    import shutil

    if hasattr(config, "workerinput"):
        return
    shutil.rmtree(SESSION_DIR, ignore_errors=True)
    if getattr(config.option, "testrunuid", None):
        shutil.rmtree(Path(tempfile.gettempdir()) / f"jwstspec-tests-{config.option.testrunuid}", ignore_errors=True)


#: the test files that take longest (CPU seconds on 2 cores, session 10: 430, 330, 262, 200), started first
LONGEST_FIRST = ("test_flow_nirspec_ifu.py", "test_flow_miri_program.py", "test_flow_e2e.py", "test_chaos.py",
                 "test_flow_nirspec_slits.py")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects: ``-m "not slow"`` must also leave out the e2e tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """An ``e2e`` test is also ``slow``; skip tests that need MAST/CRDS servers unless JWSTSPEC_NETWORK_TESTS=1."""
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    # Files with end-to-end, then slow tests first (stable otherwise), the longest known ones first of all:
    # under ``pytest -n N --dist loadfile`` (``make test``; ``--no-loadscope-reorder`` in pyproject keeps
    # xdist from reordering files by test count) the longest files start at once and the short ones fill
    # the workers' gaps.
    weight: dict[str, tuple[int, int]] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        rank = 0 if item.get_closest_marker("e2e") else 1 if item.get_closest_marker("slow") else 2
        longest = LONGEST_FIRST.index(Path(path).name) if Path(path).name in LONGEST_FIRST else len(LONGEST_FIRST)
        weight[path] = min((rank, longest), weight.get(path, (2, longest)))
    items.sort(key=lambda item: weight[item.nodeid.split("::")[0]])
    if os.environ.get("JWSTSPEC_NETWORK_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="needs the network (set JWSTSPEC_NETWORK_TESTS=1)")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


@contextlib.contextmanager
def _built_once(name: str) -> Iterator[tuple[Path, bool]]:
    """``(directory, done)`` of a product shared by every test process of the run, under a lock.

    The first process to get the lock builds into the directory and the
    block marks it done; the others wait for it and find ``done`` True.
    """
    import fcntl

    directory = SESSION_DIR / name
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / ".built"
    with open(SESSION_DIR / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield directory, marker.exists()
        marker.write_text("ok")


@pytest.fixture(scope="session", autouse=True)
def _one_prefect_api_per_process() -> Iterator[None]:
    """Every test module's ``embedded_prefect()`` in this process uses one API server, started on first use.

    A server start costs ~10 CPU-s (20 on a new database); ~15 modules run flows.  Each module still gets
    its own ``embedded_prefect`` block (settings); the database is shared, so tests read what their own
    flow runs made by id.  The process pool's workers are shared the same way (``warm_process_pools`` for
    the session): a module whose flows use the same pool settings (workers, CRDS environment, log level)
    as the module before it finds them started, past spawn and imports (~4 CPU-s a worker); other
    settings replace the pool, a failed flow run shuts it down.
    """
    from flows.runtime import shared_embedded_api, warm_process_pools

    with shared_embedded_api(), warm_process_pools():
        yield


@pytest.fixture(scope="session")
def crds_cache() -> Path:
    """The session's local CRDS cache with every synthetic reference (written once per run)."""
    from jwstspec.synthetic.demo import write_references

    with _built_once("crds") as (crds, done):
        if not done:
            write_references(crds)
    return crds


@pytest.fixture(scope="session")
def nirspec_fs_point_spec2(crds_cache: Path):
    """A NIRSpec fixed-slit point source (S200A1, G395H, 0.3 arcsec off centre) through the real ``calwebb_spec2``.

    ``(SlitExposure, {suffix: product path})``; shared by the tests that need
    a real Spec2 product (~25 s), built once per run.  Read it, never change it.
    """
    from jwstspec.stages.pipelines import run_spec2
    from jwstspec.synthetic import nirspec_exposures as nx

    with _built_once("fs-point") as (d, done):
        rate = d / "jw01234005001_01101_00001_nrs1_rate.fits"
        if done:  # the exposure's truth and geometry, without writing the file again
            exp = nx.fixed_slit_exposure(Path(tempfile.mkdtemp(dir=d)) / rate.name, source_type="POINT",
                                         position_arcsec=0.3)
            exp = dataclasses.replace(exp, path=rate)
            products = sorted((d / "stage2").glob("*.fits"))
        else:
            exp = nx.fixed_slit_exposure(rate, source_type="POINT", position_arcsec=0.3)
            products = run_spec2(exp.path, d / "stage2", log_file=d / "spec2.log")
    return exp, {p.name.rsplit("_", 1)[-1]: p for p in products}

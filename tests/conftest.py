"""Process-wide test set-up: an offline CRDS cache and a private Prefect home.

CRDS reads its configuration once per process (the first CRDS_PATH wins), so
the variables are set here, before any test imports ``jwst``, and every test
that runs a real pipeline asks for the ``crds_cache`` fixture, which writes
all synthetic references of the project into that one cache.
"""

from __future__ import annotations

import os
import tempfile
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


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects: ``-m "not slow"`` must also leave out the e2e tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """An ``e2e`` test is also ``slow``; skip tests that need MAST/CRDS servers unless JWSTSPEC_NETWORK_TESTS=1."""
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    # Files with end-to-end, then slow tests first (stable otherwise): under ``pytest -n N --dist loadfile``
    # (``make test``) the longest files start at once and the short ones fill the workers' gaps.
    weight: dict[str, int] = {}
    for item in items:
        rank = 0 if item.get_closest_marker("e2e") else 1 if item.get_closest_marker("slow") else 2
        weight[item.nodeid.split("::")[0]] = min(rank, weight.get(item.nodeid.split("::")[0], 2))
    items.sort(key=lambda item: weight[item.nodeid.split("::")[0]])
    if os.environ.get("JWSTSPEC_NETWORK_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="needs the network (set JWSTSPEC_NETWORK_TESTS=1)")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def crds_cache() -> Path:
    """The session's local CRDS cache with every synthetic reference."""
    import fcntl

    from jwstspec.synthetic.demo import write_references

    done = CRDS_PATH / ".all-references-written"
    CRDS_PATH.mkdir(parents=True, exist_ok=True)
    with open(SESSION_DIR / "crds.lock", "w") as lock:  # the first worker writes, the others wait for it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            write_references(CRDS_PATH)
            done.write_text("ok")
    return CRDS_PATH

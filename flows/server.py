"""The embedded Prefect API server: launched early, with a database kept per data directory.

What Prefect's own ``SubprocessASGIServer`` does (a uvicorn process serving
``prefect.server.api.server:create_app`` on a free loopback port), with
three differences that make a rerun quick:

* **Launched, not awaited**: :meth:`EmbeddedServer.launch` only spawns the
  process; the command goes on (loading the configuration, planning,
  checking the demo data) while the server imports and starts, and
  :meth:`EmbeddedServer.wait_ready` waits for it when the flow needs it.
  The command process never imports ``prefect.server`` (FastAPI,
  SQLAlchemy, every API router: ~10 s CPU when the sources are not
  byte-compiled) just to start a subprocess.
* **One database per data directory**, ``<data_dir>/.jwstspec/prefect/
  prefect.db``, kept between commands: its schema is migrated on the first
  start only.  A stamp (:data:`STAMP`) names the Prefect version that
  migrated it; with the same version, later starts set
  ``PREFECT_API_DATABASE_MIGRATE_ON_START=false`` (alembic would load every
  migration script to find nothing to do).  A new Prefect version, a
  missing database or stamp migrates again.
  A new data directory gets a copy of an empty database migrated once per
  Prefect version (:func:`template_path`, in ``PREFECT_HOME``), so it does
  not migrate either.
* **Exclusive**: the database is used by one command at a time (an
  ``flock`` held while the server lives, released by the kernel even on
  ``kill -9``).  A second command on the same data directory (another
  observation) gets Prefect's default database instead, as before; so do
  users who set ``PREFECT_API_DATABASE_CONNECTION_URL`` themselves.

On Linux the server is asked to die with the command (``PR_SET_PDEATHSIG``),
so a killed command leaves no server behind holding the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

#: file in the database directory naming the Prefect version that migrated the database
STAMP = "migrated"
#: the database file in the database directory
DATABASE = "prefect.db"
#: uvicorn's exit code when the port is taken
PORT_IN_USE = 3


def prefect_version() -> str:
    """The installed Prefect's version, read without importing Prefect."""
    from importlib.metadata import version

    return version("prefect")


def database_environment(db_dir: Path) -> dict[str, str]:
    """Server settings for the database kept in ``db_dir``: its URL, and whether to migrate it.

    Parameters
    ----------
    db_dir : Path
        Directory of the kept database (``<data_dir>/.jwstspec/prefect``).

    Returns
    -------
    dict of str to str
        ``PREFECT_API_DATABASE_CONNECTION_URL`` and
        ``PREFECT_API_DATABASE_MIGRATE_ON_START`` (``false`` only when
        :func:`is_migrated`).
    """
    return {
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{db_dir / DATABASE}",
        "PREFECT_API_DATABASE_MIGRATE_ON_START": "false" if is_migrated(db_dir) else "true",
    }


def is_migrated(db_dir: Path) -> bool:
    """Whether the database in ``db_dir`` exists and was migrated by the installed Prefect."""
    stamp = db_dir / STAMP
    try:
        return (db_dir / DATABASE).stat().st_size > 0 and stamp.read_text().strip() == f"prefect {prefect_version()}"
    except OSError:
        return False


def mark_migrated(db_dir: Path) -> None:
    """Record that the installed Prefect migrated the database in ``db_dir``."""
    from jwstspec.fileio import atomic_write_text

    atomic_write_text(db_dir / STAMP, f"prefect {prefect_version()}\n")


def template_path() -> Path:
    """An empty database migrated by the installed Prefect, in ``PREFECT_HOME``: seeds new data directories."""
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    return home / f"jwstspec-empty-{prefect_version()}.db"


def save_template(db_dir: Path) -> None:
    """Copy the just-migrated (still empty) database of ``db_dir`` to :func:`template_path` (once)."""
    import sqlite3

    from jwstspec.fileio import atomic_path

    template = template_path()
    if template.exists():
        return
    template.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(template) as tmp:  # sqlite's backup: consistent while the server has it open
        with contextlib.closing(sqlite3.connect(db_dir / DATABASE)) as src, contextlib.closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)


def seed_from_template(db_dir: Path) -> bool:
    """Give a data directory without a database a copy of :func:`template_path`; whether it did."""
    import shutil

    from jwstspec.fileio import atomic_path

    template = template_path()
    if (db_dir / DATABASE).exists() or not template.is_file():
        return False
    with atomic_path(db_dir / DATABASE) as tmp:
        shutil.copyfile(template, tmp)
    mark_migrated(db_dir)
    return True


def _free_port(ports: range = range(8000, 9000)) -> int:
    for _ in range(50):
        port = random.choice(ports)
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on 127.0.0.1 for the embedded Prefect API")


def _site_dir() -> str:
    """The directory holding the ``prefect`` package (found without importing it)."""
    from importlib.util import find_spec

    spec = find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Prefect is not installed: the embedded API cannot start")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedServer:
    """A private Prefect API on 127.0.0.1, optionally on a database kept in ``db_dir``.

    Parameters
    ----------
    db_dir : Path, optional
        Where the kept database lives; ``None`` (or a directory another
        command's server is using) gives Prefect's default database.
    """

    def __init__(self, db_dir: Path | None = None) -> None:
        self.db_dir = Path(db_dir) if db_dir is not None else None
        self.port: int | None = None
        self.process: subprocess.Popen[Any] | None = None
        self.kept_database = False  # True when this server uses the kept database
        self.migrates = False  # True when this start migrates it
        self.seeded = False  # True when the kept database was copied from the template
        self._lock: IO[str] | None = None
        self._database_env: dict[str, str] = {}

    @property
    def api_url(self) -> str:
        """The API's URL (``http://127.0.0.1:<port>/api``)."""
        return f"http://127.0.0.1:{self.port}/api"

    def _take_database(self) -> dict[str, str]:
        if self.db_dir is None or os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL"):
            return {}
        try:
            self.db_dir.mkdir(parents=True, exist_ok=True)
            fh = open(self.db_dir / "server.lock", "a+")
        except OSError:
            return {}
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another command's server uses it: Prefect's default database
            fh.close()
            return {}
        self._lock = fh
        self.kept_database = True
        with contextlib.suppress(OSError):
            self.seeded = seed_from_template(self.db_dir)
        env = database_environment(self.db_dir)
        self.migrates = env["PREFECT_API_DATABASE_MIGRATE_ON_START"] == "true"
        return env

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        with contextlib.suppress(Exception):  # the process's own Prefect settings (profile, .env), as Prefect passes them
            from prefect.settings import get_current_settings

            env.update(get_current_settings().to_environment_variables(exclude_unset=True))
        env.update({"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"})
        env.update(self._database_env)
        return env

    def _spawn(self) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", _site_dir(), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env=self._environment(),
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    def launch(self) -> EmbeddedServer:
        """Spawn the server process and return at once (call from the main thread)."""
        if self.process is None:
            self._database_env = self._take_database()
            self._spawn()
        return self

    def wait_ready(self, timeout: float = 120) -> str:
        """Wait until the API answers its health check; return its URL.

        Raises
        ------
        RuntimeError
            The server did not answer within ``timeout`` seconds, or exited.
        """
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == PORT_IN_USE:  # the port was taken between the check and uvicorn's bind
                self._spawn()
                continue
            if code is not None:
                raise RuntimeError(f"the embedded Prefect API (port {self.port}) exited with code {code} while starting")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=5) as response:
                    if response.status == 200:
                        if self.migrates and self.db_dir is not None:
                            mark_migrated(self.db_dir)
                            self.migrates = False
                            with contextlib.suppress(Exception):  # a later data directory starts from a copy
                                save_template(self.db_dir)
                        return self.api_url
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the embedded Prefect API (port {self.port}) did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the server and release the database."""
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._lock is not None:
            with contextlib.suppress(Exception):
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
            self.kept_database = False

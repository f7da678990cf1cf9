"""The embedded Prefect API's kept database (flows/server.py).

These fast tests check the bookkeeping (stamp, template, exclusive use) on
real files and a real sqlite database.  The real server started twice on one
data directory (the first start migrates and keeps the template, the second
does not migrate, shown through the database itself) is checked by the two
``jwstspec run`` commands of ``tests/test_rerun.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from flows import server
from flows.server import DATABASE, EmbeddedServer, database_environment, is_migrated, seed_from_template


def _sqlite(path: Path, table: str = "t") -> None:
    with sqlite3.connect(path) as con:
        con.execute(f"create table {table} (x integer)")


def _tables(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
    finally:
        con.close()


def test_only_a_database_stamped_by_this_prefect_skips_migration(tmp_path: Path) -> None:
    assert database_environment(tmp_path)["PREFECT_API_DATABASE_MIGRATE_ON_START"] == "true"  # nothing there
    _sqlite(tmp_path / DATABASE)
    assert not is_migrated(tmp_path)  # a database without a stamp
    (tmp_path / "migrated").write_text("prefect 3.0.0\n")
    assert not is_migrated(tmp_path)  # migrated by another Prefect
    server.mark_migrated(tmp_path)
    env = database_environment(tmp_path)
    assert env["PREFECT_API_DATABASE_MIGRATE_ON_START"] == "false"
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"] == f"sqlite+aiosqlite:///{tmp_path / DATABASE}"
    (tmp_path / DATABASE).unlink()
    assert not is_migrated(tmp_path)  # the stamp alone is not a database


def test_a_new_data_directory_starts_from_the_migrated_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    db_dir = tmp_path / "data" / ".jwstspec" / "prefect"
    db_dir.mkdir(parents=True)
    assert not seed_from_template(db_dir)  # no template yet
    source = tmp_path / "source"
    source.mkdir()
    _sqlite(source / DATABASE, "alembic_version")
    server.save_template(source)  # sqlite's backup API
    assert _tables(server.template_path()) == {"alembic_version"}
    assert seed_from_template(db_dir)
    assert _tables(db_dir / DATABASE) == {"alembic_version"}
    assert is_migrated(db_dir)
    _sqlite(db_dir / DATABASE, "runs")  # the directory's own records are never replaced
    assert not seed_from_template(db_dir)
    assert _tables(db_dir / DATABASE) == {"alembic_version", "runs"}


def test_the_kept_database_serves_one_command_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    first, second = EmbeddedServer(tmp_path / "db"), EmbeddedServer(tmp_path / "db")
    assert "PREFECT_API_DATABASE_CONNECTION_URL" in first._take_database()
    assert first.kept_database
    assert second._take_database() == {}  # another command's server holds it: Prefect's default database
    assert not second.kept_database
    first.stop()  # releases it
    assert second._take_database() != {}
    second.stop()
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:////elsewhere.db")
    assert EmbeddedServer(tmp_path / "db")._take_database() == {}  # the user's own database wins


def test_a_shared_api_serves_every_block_and_stops_when_the_shared_block_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """``shared_embedded_api``: one server start for many ``embedded_prefect`` blocks (the test session's set-up)."""
    from flows import runtime

    events: list[str] = []

    class Fake:
        def __init__(self, db_dir: Path | None = None) -> None:
            self.url = f"http://127.0.0.1:{9000 + len(events)}/api"
            events.append("new")

        def wait_ready(self, timeout: float = 120) -> str:
            events.append("ready")
            return self.url

        def stop(self) -> None:
            events.append("stop")

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(server, "EmbeddedServer", Fake)
    monkeypatch.setattr(runtime, "_shared", None)  # not the test session's own shared server
    with runtime.shared_embedded_api():
        urls = []
        for _ in range(2):
            with runtime.embedded_prefect() as url:
                urls.append(url)
        assert events == ["new", "ready", "ready"] and urls[0] == urls[1]  # one server, kept between blocks
    assert events[-1] == "stop" and events.count("stop") == 1
    with runtime.embedded_prefect():  # outside the block: a server of its own, stopped with the block
        pass
    assert events[-3:] == ["new", "ready", "stop"]

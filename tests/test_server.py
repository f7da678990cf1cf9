"""The embedded Prefect API's kept database (flows/server.py).

The fast tests check the bookkeeping (stamp, template, exclusive use) on
real files and a real sqlite database; the slow one starts the real server
twice on one data directory and shows, through the database itself, that
the second start did not migrate.
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


@pytest.mark.slow
def test_a_second_command_uses_the_kept_database_without_migrating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import flow

    from flows.runtime import embedded_prefect

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))  # no template: the first start migrates
    db_dir = tmp_path / "db"

    @flow(name="probe", persist_result=False)
    def probe() -> int:
        return 1

    with embedded_prefect(db_dir):
        assert probe() == 1
    db = db_dir / DATABASE
    assert is_migrated(db_dir) and server.template_path().is_file()
    assert "alembic_version" in _tables(db)
    # without alembic's table a migration would start from scratch and fail on the existing tables
    with sqlite3.connect(db) as con:
        con.execute("drop table alembic_version")
    with embedded_prefect(db_dir):
        assert probe() == 1
    assert "alembic_version" not in _tables(db)  # not migrated
    con = sqlite3.connect(db)
    try:
        assert con.execute("select count(*) from flow_run").fetchone()[0] == 2  # both commands' runs kept
    finally:
        con.close()

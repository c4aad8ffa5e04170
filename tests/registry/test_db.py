"""Engine settings and migrations: create, no-op when current, refuse newer, reject corrupt files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from clpbert.errors import UserError
from clpbert.registry import db, open_registry
from clpbert.registry.models import Base


def test_known_revisions_match_alembic_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_heads() == [db.head_revision()]
    assert sorted(r.revision for r in script.walk_revisions()) == db.known_revisions()


def test_migrated_schema_matches_models(registry_url: str):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    reg = open_registry(registry_url)
    try:
        with reg._engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                     Base.metadata)
    finally:
        reg.close()
    assert diffs == []


def test_sqlite_connections_get_pragmas(clpbert_home: Path):
    reg = open_registry()
    with reg._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    reg.close()
    assert (clpbert_home / "registry.db").exists()


def test_newer_schema_is_refused(registry_url: str):
    reg = open_registry(registry_url)
    with reg._engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    reg.close()
    with pytest.raises(UserError, match=r"written by a newer clpbert \(schema 9999\); upgrade clpbert"):
        open_registry(registry_url)


def test_corrupt_file_is_one_line_user_error(clpbert_home: Path):
    (clpbert_home / "registry.db").write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(UserError) as err:
        open_registry()
    msg = str(err.value)
    assert "cannot open registry" in msg and "not a database" in msg and "\n" not in msg


def test_unsupported_url_is_user_error():
    with pytest.raises(UserError, match="unsupported registry backend"):
        open_registry("mysql://x/y")
    with pytest.raises(UserError, match="invalid registry URL"):
        open_registry("::::")


def test_unreachable_postgres_is_user_error():
    with pytest.raises(UserError, match="cannot open registry postgresql"):
        open_registry("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2")


def test_password_hidden_in_url():
    assert "secret" not in db.safe_url("postgresql+psycopg://u:secret@h/db")


def test_current_database_opens_without_importing_alembic(clpbert_home: Path):
    open_registry().close()  # creates and migrates
    code = ("import sys; from clpbert.registry import open_registry; r = open_registry(); "
            "r.list_runs(); print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""Engine creation, per-connection SQLite pragmas, and schema migrations.

SQLite (the default) is tuned for several processes writing at once (supervisors ingesting
metrics, the CLI, the TUI): every connection sets WAL, foreign_keys, synchronous=NORMAL and a 30 s
busy_timeout, and write transactions start with BEGIN IMMEDIATE, so a writer waits for the lock
up front instead of failing with "database is locked" when it upgrades a read lock later. Read-only
work runs with `execution_options(clpbert_readonly=True)` and a plain (deferred) BEGIN, which
never blocks writers under WAL.

Migrations are Alembic revisions in `migrations/versions/` named `NNNN_*.py` with revision id
`NNNN`. `ensure_schema` first reads `alembic_version` with one cheap query; only when the database
is behind does it import Alembic, take a lock (a file lock next to the SQLite file, or
pg_advisory_lock on PostgreSQL) and upgrade. A database stamped with a revision this code does not
know was written by a newer clpbert and is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

from clpbert.errors import UserError
from clpbert.registry.revisions import MIGRATIONS_DIR, check_known, head_revision, known_revisions

__all__ = ["MIGRATIONS_DIR", "connect", "ensure_schema", "head_revision", "known_revisions", "make_engine"]

BUSY_TIMEOUT_S = 30.0
PG_LOCK_KEY = 0x636C7062  # "clpb": the advisory lock id used while migrating PostgreSQL
READONLY = "clpbert_readonly"


def safe_url(url: str) -> str:
    """The URL without its password, for messages (malformed URLs and passwords holding `@` too)."""
    from clpbert.redact import mask_url

    return mask_url(url)


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite URL, or None (other backends, in-memory)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _open_error(url: str, err: BaseException) -> UserError:
    orig = getattr(err, "orig", None) or err
    msg = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    from clpbert.redact import scrub

    msg = scrub(msg, url)
    hint = ("move the file away or point CLPBERT_HOME/--home elsewhere" if sqlite_path(url)
            else "check the server and the URL given by CLPBERT_DB_URL/--db")
    return UserError(f"cannot open registry {safe_url(url)}: {msg} ({hint})")


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (the "begin" hook below) emit BEGIN instead of pysqlite's implicit one.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for `url` with clpbert's connection settings (no schema check)."""
    try:
        u = make_url(url)
    except Exception as e:
        from clpbert.redact import scrub

        raise UserError(f"invalid registry URL {safe_url(url)!r}: {scrub(str(e), url)} (expected e.g. "
                        "sqlite:////path/registry.db or postgresql+psycopg://host/db)") from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        kwargs: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}}
        path = sqlite_path(url)
        if path is None:
            kwargs["poolclass"] = StaticPool
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UserError(f"cannot create the registry folder {path.parent}: {e.strerror}") from None
            if path.exists() and path.is_dir():
                raise UserError(f"registry path {path} is a directory, not a database file")
        engine = create_engine(url, **kwargs)
        _install_sqlite_hooks(engine)
        return engine
    if backend == "postgresql":
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")
        try:
            return create_engine(u, pool_pre_ping=True)
        except ImportError as e:
            raise UserError(f"PostgreSQL needs psycopg: pip install 'psycopg[binary]' ({e})") from None
    raise UserError(f"unsupported registry backend {backend!r} in {safe_url(url)} (use sqlite or postgresql)")


def current_revision(engine: Engine) -> str | None:
    """The stamped schema revision, or None for an empty database (one cheap query)."""
    with engine.connect().execution_options(**{READONLY: True}) as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except (OperationalError, ProgrammingError) as e:
            if "alembic_version" in str(e.orig) or "no such table" in str(e.orig):
                return None
            raise
        return row[0] if row else None


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _check_known(url: str, revision: str | None) -> None:
    check_known(safe_url(url), revision)


def _upgrade(engine: Engine, url: str) -> None:
    """Run Alembic to head under a cross-process lock (re-checking once the lock is held)."""
    from alembic import command
    from alembic.config import Config

    def run(conn: Any) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    path = sqlite_path(url)
    if engine.dialect.name == "sqlite":
        from filelock import FileLock

        lock = FileLock(str(path) + ".lock") if path else _nullcontext()
        with lock:
            revision = current_revision(engine)
            _check_known(url, revision)
            if revision != head_revision():
                with engine.begin() as conn:
                    run(conn)
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_LOCK_KEY})
        conn.commit()
        try:
            revision = current_revision(engine)
            _check_known(url, revision)
            if revision != head_revision():
                with conn.begin():
                    run(conn)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
            conn.commit()


def ensure_schema(engine: Engine, url: str) -> str:
    """Bring the database to the head revision (cheap when already there); returns the revision."""
    revision = current_revision(engine)
    _check_known(url, revision)
    if revision != head_revision():
        _upgrade(engine, url)
    return head_revision()


def connect(url: str) -> Engine:
    """make_engine + ensure_schema, turning driver errors (corrupt file, no server) into UserError."""
    engine = make_engine(url)
    try:
        ensure_schema(engine, url)
    except UserError:
        engine.dispose()
        raise
    except DBAPIError as e:
        engine.dispose()
        raise _open_error(url, e) from None
    return engine

"""Alembic environment for the clpbert registry.

clpbert runs migrations itself (`clpbert.registry.db.ensure_schema`) and hands the connection in
`config.attributes["connection"]`. Developers writing a new revision can also use the CLI:
`alembic -c clpbert/registry/migrations/alembic.ini revision -m "what changed"` (the URL then
comes from $CLPBERT_DB_URL or CLPBERT_HOME, like everywhere else).
"""

from __future__ import annotations

from alembic import context

from clpbert.registry.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from clpbert import paths
    from clpbert.registry.db import make_engine

    engine = make_engine(paths.db_url())
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported for the clpbert registry")
run_migrations_online()

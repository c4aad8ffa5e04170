"""Where clpbert keeps things, as a user may see them: every location with the registry URL's
password masked (`clpbert locate`), and a database error as one line naming the registry (the
CLI's error edge). Imports no SQLAlchemy: a database error can only exist once it is loaded."""

from __future__ import annotations

import sys


def locations() -> dict[str, str]:
    """name -> path (or the masked registry URL), in the order `clpbert locate` prints them."""
    from clpbert import paths
    from clpbert.redact import mask_url

    where = {key: str(value) for key, value in paths.locations().items()}
    where["db"] = mask_url(where["db"])  # the registry URL's password is never printed
    return where


def registry_error_line(exc: BaseException) -> str | None:
    """A one-line message for a database error, or None if `exc` is not one."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import DatabaseError, OperationalError

    if not isinstance(exc, (OperationalError, DatabaseError)):
        return None
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    from clpbert import paths
    from clpbert.redact import mask_url, scrub

    first = scrub(lines[0], paths.db_url()) if lines else type(orig).__name__
    return (f"cannot open registry {mask_url(paths.db_url())}: {first} "
            "(check CLPBERT_DB_URL/--db, or move a damaged registry.db away)")

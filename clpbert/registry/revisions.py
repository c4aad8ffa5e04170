"""The schema revisions this code ships, read from the migration file names (standard library only).

Both the SQLAlchemy registry (`db.py`) and the light reader (`reader.py`) decide from these whether a
database is current, behind (a writer migrates it) or newer than this code (refused).
"""

from __future__ import annotations

import re
from pathlib import Path

from clpbert.errors import UserError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def known_revisions() -> list[str]:
    """Revision ids this code ships, oldest first (from file names: no Alembic import needed)."""
    names = (p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    return sorted(m.group(1) for n in names if (m := re.match(r"^(\d{4})_\w+\.py$", n)))


def head_revision() -> str:
    return known_revisions()[-1]


def check_known(shown_url: str, revision: str | None) -> None:
    """Refuse a database stamped by a newer clpbert (a revision this code does not know)."""
    if revision is not None and revision not in known_revisions():
        raise UserError(f"registry at {shown_url} was written by a newer clpbert (schema {revision}); "
                        "upgrade clpbert or use another CLPBERT_HOME")

"""Every on-disk location clpbert uses, in one place.

CLPBERT_HOME (default: the platform's user data dir for "clpbert", e.g. ~/.local/share/clpbert)
holds the registry (`registry.db`), run directories (`runs/<id>/`), caches (`cache/`), downloaded
weights (`pretrained/`) and prepared datasets (`datasets/<name>/`). The functions only compute
paths; callers create directories when they write. Environment variables are read on every call,
so `--home` / `--db` (which set them) and tests' monkeypatching take effect immediately.

Only the standard library and platformdirs are imported here: the CLI imports this at startup.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from clpbert.errors import UserError

HOME_ENV = "CLPBERT_HOME"
DB_URL_ENV = "CLPBERT_DB_URL"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def home() -> Path:
    """$CLPBERT_HOME, else the user data dir (absolute, `~` expanded)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir("clpbert", appauthor=False)).resolve()


def db_path() -> Path:
    """The default SQLite registry file (used unless $CLPBERT_DB_URL says otherwise)."""
    return home() / "registry.db"


def db_url() -> str:
    """$CLPBERT_DB_URL (e.g. postgresql+psycopg://user@host/db), else sqlite:///<home>/registry.db."""
    return os.environ.get(DB_URL_ENV) or f"sqlite:///{db_path()}"


def runs_dir() -> Path:
    return home() / "runs"


def check_name(name: str, what: str) -> str:
    """A name usable as one path component (run id, dataset name); UserError otherwise."""
    if not _SAFE_NAME.match(name or "") or name in (".", ".."):
        raise UserError(f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' "
                        "(starting with a letter or digit)")
    return name


def run_dir(run_id: str) -> Path:
    """RUN_DIR of one run: config.yaml, events.jsonl, logs/, checkpoints/."""
    return runs_dir() / check_name(run_id, "run id")


def cache_dir() -> Path:
    return home() / "cache"


def pretrained_dir() -> Path:
    return home() / "pretrained"


def datasets_dir() -> Path:
    return home() / "datasets"


def dataset_dir(name: str) -> Path:
    """Where `clpbert datasets prepare` writes dataset NAME (txt_db/, vis_db/, tokenizer/)."""
    return datasets_dir() / check_name(name, "dataset name")


def locations() -> dict[str, Path | str]:
    """Name -> location, for `clpbert locate` and `clpbert doctor`."""
    return {
        "home": home(),
        "db": db_url(),
        "runs": runs_dir(),
        "cache": cache_dir(),
        "pretrained": pretrained_dir(),
        "datasets": datasets_dir(),
    }

"""Run names and tags: free text, but never control characters.

A newline in a name once became its own line of a Slurm script (shell injection) and breaks every
one-line listing; bidi overrides and other invisible format characters make a name print as
something else. Checked at launch, before any row or directory exists.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from clpbert.errors import UserError

MAX_LEN = 200
_FORBIDDEN = ("Cc", "Cf", "Zl", "Zp")
"""Control, format (bidi overrides, zero-width) and line/paragraph separator characters."""


def bad_char(text: str) -> str | None:
    """The first control or invisible format character of text, or None."""
    for ch in text:
        if unicodedata.category(ch) in _FORBIDDEN:
            return ch
    return None


def check_label(text: str, what: str) -> str:
    """text unchanged, or a UserError naming the offending character (escaped, so it shows)."""
    ch = bad_char(text)
    if ch is not None:
        raise UserError(f"{what} {text!r} contains the control character {ch!r} (U+{ord(ch):04X}); "
                        "use printable characters only")
    if len(text) > MAX_LEN:
        raise UserError(f"{what} is {len(text)} characters long; keep it to {MAX_LEN}")
    return text


def check_name_and_tags(name: str, tags: Sequence[str]) -> None:
    if name:
        check_label(name, "--name")
    for tag in tags:
        if not tag.strip():
            raise UserError("--tag needs a non-empty value")
        check_label(tag, "--tag")

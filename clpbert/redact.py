"""Credentials out of what clpbert prints: a registry URL's password never reaches a message,
log line or --json output.

Parsing is by hand rather than with SQLAlchemy's make_url: the URL to mask may be malformed (the
very case an error message shows it), and a password holding an unescaped `@` is split by
make_url at its first `@`, leaking the rest. Here the user info ends at the *last* `@` (a
password may hold `@`, `/` or `?`; masking too much of an odd URL is the safe side).
"""

from __future__ import annotations

import re

MASK = "***"
_QUERY_SECRET = re.compile(r"(?i)((?:^|[?&;])(?:password|passwd|pwd)=)[^&;#]*")


def mask_url(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`; anything else unchanged
    (no password in it), except `password=` query values, which are masked too."""
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:  # not even a scheme: still mask a `user:secret@` part
        scheme, rest = "", text
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _password = rest[:at].partition(":")
        if colon:
            rest = f"{user}:{MASK}{rest[at:]}"
    head, q, query = rest.partition("?")
    query = _QUERY_SECRET.sub(rf"\g<1>{MASK}", query) if q else query
    return f"{scheme}{sep}{head}{q}{query}"


def url_password(url: str) -> str:
    """The password part of a URL as written (empty when there is none)."""
    _, sep, rest = str(url).partition("://")
    head = rest if sep else str(url)
    at = head.rfind("@")
    if at < 0:
        return ""
    return head[:at].partition(":")[2]


def scrub(text: str, url: str) -> str:
    """`text` with the URL masked and its password (and the password's URL-decoded form) replaced,
    wherever a driver or parser message repeats them."""
    from urllib.parse import unquote

    out = str(text).replace(str(url), mask_url(url))
    password = url_password(url)
    # SQLAlchemy splits a password holding `@` at its first `@`: its pieces can show up alone
    pieces = {password, unquote(password), *password.split("@"), *unquote(password).split("@")}
    for secret in sorted(pieces, key=len, reverse=True):
        if len(secret) >= 3:  # a 1-2 character password would mask unrelated letters
            out = out.replace(secret, MASK)
    return out

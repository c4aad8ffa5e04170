"""The registry URL's password never reaches a message, a log line or --json output (issue 17,
defect 5): `locate`, errors for malformed and unreachable URLs, passwords holding `@`, `doctor`."""

from __future__ import annotations

import json

import pytest

from clpbert.redact import mask_url, scrub

SECRET = "Zq9-hidden-pw"


@pytest.fixture
def cli(inproc, monkeypatch: pytest.MonkeyPatch):
    """`clpbert ARGS` in this process with CLPBERT_DB_URL=url: (exit code, stdout + stderr)."""
    def call(url: str, *args: str) -> tuple[int, str]:
        monkeypatch.setenv("CLPBERT_DB_URL", url)
        res = inproc(*args)
        return res.returncode, res.stdout + res.stderr

    return call


def _no_secret(text: str) -> None:
    for piece in (SECRET, SECRET[:5], SECRET[-5:], "ss" + SECRET):
        assert piece not in text, text


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/x",
    f"postgresql+psycopg://u:p@ss{SECRET}@127.0.0.1:1/x",  # an unescaped `@` in the password
    f"postgresql+psycopg://u:{SECRET}@127.0.0.1:abc/x",  # malformed: a port that is not a number
])
def test_locate_masks_the_password(cli, url: str):
    code, out = cli(url, "locate")
    assert code == 0 and "u:***@127.0.0.1" in out
    _no_secret(out)
    code, out = cli(url, "locate", "db")
    assert code == 0 and out.strip().startswith("postgresql+psycopg://u:***@")
    _no_secret(out)


def test_malformed_url_error_masks_the_password(cli):
    code, out = cli(f"postgresql+psycopg://u:{SECRET}@127.0.0.1:abc/x", "runs", "list")
    assert code == 2 and "invalid registry URL" in out and "u:***@127.0.0.1:abc/x" in out
    assert len(out.strip().splitlines()) == 1
    _no_secret(out)


def test_unreachable_url_with_at_in_the_password_is_masked(cli):
    # SQLAlchemy cuts such a password at its first `@` and takes the rest for the host name: the
    # driver's error then repeats that tail
    code, out = cli(f"postgresql+psycopg://u:p@ss{SECRET}@127.0.0.1:1/x", "runs", "list")
    assert code == 2 and "cannot open registry" in out and len(out.strip().splitlines()) == 1
    _no_secret(out)


def test_doctor_json_masks_the_password(cli):
    _, out = cli(f"postgresql+psycopg://u:p@ss{SECRET}@127.0.0.1:1/x", "doctor", "--json")
    info = json.loads(out[out.index("{"):])
    assert info["registry"]["url"] == "postgresql+psycopg://u:***@127.0.0.1:1/x"
    assert info["registry"]["reachable"] is False
    _no_secret(out)


def test_db_flag_is_masked_like_the_variable(cli):
    code, out = cli("sqlite:///unused.db", "--db", f"postgresql+psycopg://u:{SECRET}@127.0.0.1:abc/x", "runs",
                    "list")
    assert code == 2
    _no_secret(out)


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:a@b@c@h:5/db?sslmode=require", "postgresql://u:***@h:5/db?sslmode=require"),
    ("postgresql://u:a/b?c@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("postgresql://h/db?user=u&password=pw", "postgresql://h/db?user=u&password=***"),
    ("sqlite:////srv/clpbert/registry.db", "sqlite:////srv/clpbert/registry.db"),
    ("not a url u:pw@h", "not a url u:***@h"),
])
def test_mask_url(url: str, masked: str):
    assert mask_url(url) == masked


def test_scrub_replaces_the_password_and_its_pieces():
    url = "postgresql://u:p%40ss-secret-tail@h/db"
    text = f"bad {url}; host 'ss-secret-tail@h' unknown; user p@ss-secret-tail"
    out = scrub(text, url)
    assert "secret" not in out and "postgresql://u:***@h/db" in out

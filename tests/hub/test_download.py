"""fetch_url against a real HTTP server on 127.0.0.1: resume, restart, retries, checksums."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time

import pytest

from clpbert.hub.download import RetryPolicy, SourceError, fetch_url

FAST = RetryPolicy(tries=3, backoff=(0.01,), timeout=5)
ONCE = RetryPolicy(tries=1, backoff=(0.0,), timeout=5)


@pytest.fixture(scope="module")
def blob() -> bytes:
    return random.Random(1).randbytes(3 * 1024 * 1024 + 123)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_full_download_matches_sha_and_leaves_no_part(file_server, blob, tmp_path):
    url = file_server.add("a.bin", blob)
    got = fetch_url(url, tmp_path / "a.bin", sha256=sha(blob), size=len(blob), policy=FAST)
    assert got.sha256 == sha(blob) and got.size == len(blob) and got.resumed_from == 0
    assert (tmp_path / "a.bin").read_bytes() == blob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_interrupted_body_is_resumed_with_range_within_one_call(file_server, blob, tmp_path):
    offset = random.Random(7).randrange(100_000, len(blob) - 100_000)
    url = file_server.add("a.bin", blob, cut_at=offset)
    got = fetch_url(url, tmp_path / "a.bin", sha256=sha(blob), policy=FAST)
    assert got.sha256 == sha(blob) and got.resumed_from == offset
    first, second = file_server.requests_for("a.bin")
    assert "Range" not in first
    assert second["Range"] == f"bytes={offset}-"
    assert second["If-Range"] == file_server.files["/a.bin"].etag


def test_interrupted_download_resumes_in_a_later_call(file_server, blob, tmp_path):
    offset = random.Random(11).randrange(1, len(blob) - 1)
    url = file_server.add("a.bin", blob, cut_at=offset)
    dest = tmp_path / "a.bin"
    with pytest.raises(SourceError, match=f"closed at byte {offset} of {len(blob)}"):
        fetch_url(url, dest, sha256=sha(blob), policy=ONCE)
    part = tmp_path / "a.bin.part"
    assert part.stat().st_size == offset and not dest.exists()
    assert json.loads((tmp_path / "a.bin.part.json").read_text())["url"] == url
    got = fetch_url(url, dest, sha256=sha(blob), policy=ONCE)
    assert got.resumed_from == offset and dest.read_bytes() == blob
    assert file_server.requests_for("a.bin")[-1]["Range"] == f"bytes={offset}-"
    assert not part.exists() and not (tmp_path / "a.bin.part.json").exists()


def test_server_without_range_support_restarts_from_zero(file_server, blob, tmp_path):
    url = file_server.add("a.bin", blob, ranges=False, cut_at=len(blob) // 2)
    got = fetch_url(url, tmp_path / "a.bin", sha256=sha(blob), policy=FAST)
    assert got.sha256 == sha(blob) and got.resumed_from == 0
    assert (tmp_path / "a.bin").read_bytes() == blob
    assert file_server.requests_for("a.bin")[1]["Range"] == f"bytes={len(blob) // 2}-"  # asked, was ignored


def test_part_from_another_url_is_discarded(file_server, blob, tmp_path):
    url = file_server.add("a.bin", blob)
    (tmp_path / "a.bin.part").write_bytes(b"x" * 1000)
    (tmp_path / "a.bin.part.json").write_text(json.dumps({"url": "http://elsewhere/a.bin"}))
    fetch_url(url, tmp_path / "a.bin", sha256=sha(blob), policy=ONCE)
    assert "Range" not in file_server.requests_for("a.bin")[0]


def test_complete_part_answered_416_is_finished_without_refetch(file_server, blob, tmp_path):
    url = file_server.add("a.bin", blob)
    (tmp_path / "a.bin.part").write_bytes(blob)
    (tmp_path / "a.bin.part.json").write_text(json.dumps({"url": url}))
    got = fetch_url(url, tmp_path / "a.bin", sha256=sha(blob), policy=ONCE)
    assert got.sha256 == sha(blob) and got.resumed_from == len(blob)


def test_corrupted_body_fails_checksum_and_removes_part(file_server, blob, tmp_path):
    url = file_server.add("a.bin", blob, corrupt=True)
    with pytest.raises(SourceError, match="sha256 mismatch") as err:
        fetch_url(url, tmp_path / "a.bin", sha256=sha(blob), policy=FAST)
    assert not err.value.retryable
    assert list(tmp_path.iterdir()) == []
    assert len(file_server.requests_for("a.bin")) == 1  # a wrong body is not retried


def test_http_errors_are_not_retried_and_summarised(file_server, tmp_path):
    url = file_server.add("gone.bin", b"", status=409)
    with pytest.raises(SourceError) as err:
        fetch_url(url, tmp_path / "gone.bin", policy=FAST)
    assert err.value.summary == "409 Conflict" and not err.value.offline
    assert len(file_server.requests_for("gone.bin")) == 1


def test_server_errors_are_retried_with_backoff_then_reported(file_server, tmp_path):
    url = file_server.add("busy.bin", b"", status=503)
    retries = []
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"503 Service Unavailable \(after 3 tries\)"):
        fetch_url(url, tmp_path / "busy.bin", policy=RetryPolicy(tries=3, backoff=(0.05, 0.1)),
                  on_retry=lambda n, e, d: retries.append((n, d)))
    assert retries == [(1, 0.05), (2, 0.1)]
    assert time.monotonic() - t0 >= 0.15
    assert len(file_server.requests_for("busy.bin")) == 3


def test_connection_refused_is_offline_and_immediate(closed_port, tmp_path):
    with pytest.raises(SourceError) as err:
        fetch_url(f"http://127.0.0.1:{closed_port}/x.bin", tmp_path / "x.bin", policy=FAST)
    assert err.value.summary == "connection refused" and err.value.offline


def test_dns_failure_is_offline(tmp_path):
    with pytest.raises(SourceError) as err:
        fetch_url("http://no-such-host.invalid/x.bin", tmp_path / "x.bin", policy=FAST)
    assert err.value.offline and "DNS" in err.value.summary


def test_retry_policy_from_env():
    p = RetryPolicy.from_env({"CLPBERT_HUB_TRIES": "5", "CLPBERT_HUB_BACKOFF": "0,0.1"})
    assert p.tries == 5 and p.backoff == (0.0, 0.1) and p.delay(4) == 0.1
    assert RetryPolicy.from_env({}) == RetryPolicy()


def test_dest_is_written_only_via_rename(file_server, blob, tmp_path, monkeypatch):
    """While bytes arrive only `<dest>.part` exists; the final name appears complete."""
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.fspath(src), os.fspath(dst), os.path.getsize(src)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    url = file_server.add("a.bin", blob)
    fetch_url(url, tmp_path / "a.bin", policy=ONCE)
    final = [s for s in seen if s[1].endswith("a.bin")]
    assert final == [(str(tmp_path / "a.bin.part"), str(tmp_path / "a.bin"), len(blob))]


class Recorder:
    def __init__(self):
        self.starts, self.advanced, self.stops = [], 0, 0

    def start(self, label, total, completed=0):
        self.starts.append((label, total, completed))

    def advance(self, n):
        self.advanced += n

    def stop(self):
        self.stops += 1


def test_progress_sees_total_and_resumed_offset(file_server, blob, tmp_path):
    offset = 500_000
    url = file_server.add("a.bin", blob, cut_at=offset)
    rec = Recorder()
    fetch_url(url, tmp_path / "a.bin", policy=FAST, progress=rec, label="demo")
    assert rec.starts == [("demo", len(blob), 0), ("demo", len(blob), offset)]
    assert rec.advanced == len(blob) and rec.stops == 2

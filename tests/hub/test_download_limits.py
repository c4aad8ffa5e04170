"""Downloads follow only http(s) redirects and stop at the manifest's size (issue 17, defect 9),
against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from clpbert.hub.download import RetryPolicy, SourceError, fetch_url

BODY = b"w" * 50_000


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/to-"):  # /to-ftp, /to-file, /to-http: a redirect there
            target = {"/to-ftp": "ftp://127.0.0.1/weights.pt", "/to-file": "file:///etc/passwd",
                      "/to-http": "/body"}[self.path]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        if self.path == "/body":
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        else:  # /stream: no Content-Length, the body runs until the connection closes
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(BODY)
            self.close_connection = True


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


ONCE = RetryPolicy(tries=1, timeout=10)


@pytest.mark.parametrize("path", ["/to-ftp", "/to-file"])
def test_redirects_to_other_schemes_are_refused(server: str, tmp_path: Path, path: str):
    with pytest.raises(SourceError) as e:
        fetch_url(server + path, tmp_path / "w.pt", policy=ONCE)
    # urllib itself refuses file:; it would follow ftp:
    assert ("only http(s)" in e.value.summary or "not allowed" in e.value.summary) and not e.value.retryable
    assert list(tmp_path.iterdir()) == []


def test_http_redirects_are_still_followed(server: str, tmp_path: Path):
    got = fetch_url(server + "/to-http", tmp_path / "w.pt", size=len(BODY), policy=ONCE)
    assert got.size == len(BODY) and (tmp_path / "w.pt").read_bytes() == BODY


def test_non_http_source_urls_are_refused(tmp_path: Path):
    with pytest.raises(SourceError, match="only http"):
        fetch_url("ftp://127.0.0.1/weights.pt", tmp_path / "w.pt", policy=ONCE)


def test_a_body_announced_larger_than_the_manifest_size_is_refused_up_front(server: str, tmp_path: Path):
    with pytest.raises(SourceError, match="more than the expected 1000"):
        fetch_url(server + "/body", tmp_path / "w.pt", size=1000, policy=ONCE)
    assert list(tmp_path.iterdir()) == []


def test_a_body_without_length_stops_at_the_manifest_size(server: str, tmp_path: Path):
    with pytest.raises(SourceError, match="more than the expected 60000"):
        fetch_url(server + "/stream", tmp_path / "w.pt", size=60_000, policy=ONCE)
    assert list(tmp_path.iterdir()) == []  # nothing kept, not 2.5 MB of it

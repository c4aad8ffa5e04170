"""A real HTTP file server on 127.0.0.1 with switchable misbehaviour, and weight files to serve.

`file_server.add(path, data, ...)` publishes bytes; per path it can answer a fixed status (404,
409), ignore Range requests (always 200), cut the connection after N body bytes (for the first
`cut_times` requests), or flip a byte of the body. Every request's path and headers are recorded.
"""

from __future__ import annotations

import hashlib
import json
import socket
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class Served:
    data: bytes
    status: int = 200
    ranges: bool = True
    cut_at: int | None = None
    cut_times: int = 1
    corrupt: bool = False
    requests: int = 0

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.data).hexdigest()[:16] + '"'


@dataclass
class FileServer:
    port: int
    files: dict[str, Served] = field(default_factory=dict)
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def add(self, path: str, data: bytes, **behaviour) -> str:
        self.files["/" + path.lstrip("/")] = Served(data, **behaviour)
        return self.url(path)

    def requests_for(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.log if p == "/" + path.lstrip("/")]


def _make_handler(server: FileServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            server.log.append((self.path, {k: v for k, v in self.headers.items()}))
            served = server.files.get(self.path)
            if served is None or served.status != 200:
                code = served.status if served else 404
                body = b"nope"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            served.requests += 1
            data = served.data
            if served.corrupt:
                data = data[:10] + bytes([data[10] ^ 0xFF]) + data[11:]
            start = 0
            rng = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if rng and served.ranges and (not if_range or if_range == served.etag):
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", served.etag)
            self.send_header("Accept-Ranges", "bytes" if served.ranges else "none")
            self.end_headers()
            if served.cut_at is not None and served.requests <= served.cut_times:
                cut = max(0, served.cut_at - start)
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def file_server():
    fs = FileServer(port=0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(fs))
    httpd.daemon_threads = True
    fs.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fs
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- weight files -------------------------------------------------------------------------------


def e2e_state_dict(seed: int = 0) -> dict:
    """A few tensors of the released ClipBERT layout with their real shapes (~5 MB in fp32)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return {
        "cnn.feature.backbone.stem.conv1.weight": torch.randn(64, 3, 7, 7, generator=g),
        "transformer.bert.encoder.layer.0.attention.self.query.weight": torch.randn(768, 768, generator=g),
        "transformer.bert.encoder.layer.0.attention.self.key.weight": torch.randn(768, 768, generator=g),
        "transformer.bert.embeddings.LayerNorm.weight": torch.ones(768),
        "transformer.bert.embeddings.LayerNorm.bias": torch.zeros(768),
    }


def torch_bytes(obj) -> bytes:
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def e2e_bytes() -> bytes:
    return torch_bytes(e2e_state_dict())


def write_bert_dir(root: Path) -> Path:
    """A minimal HF BERT folder (config, vocab, safetensors) whose tensors fit ClipBERT's shapes."""
    import torch
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 768,
                                                  "num_hidden_layers": 12, "vocab_size": 30522}))
    (root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]) + "\n")
    save_file({"bert.embeddings.LayerNorm.weight": torch.ones(768),
               "bert.embeddings.LayerNorm.bias": torch.zeros(768),
               "bert.encoder.layer.0.attention.self.query.weight": torch.randn(768, 768)},
              str(root / "model.safetensors"))
    return root


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def tar_of_dir(root: Path, arcname: str) -> bytes:
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(root, arcname=arcname)
    return buf.getvalue()


@pytest.fixture
def hubkit():
    """The helpers above, for test modules (importlib mode: conftest is not importable)."""
    import types

    return types.SimpleNamespace(e2e_state_dict=e2e_state_dict, torch_bytes=torch_bytes,
                                 write_bert_dir=write_bert_dir, tar_bytes=tar_bytes, tar_of_dir=tar_of_dir)

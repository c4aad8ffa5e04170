"""`clpbert download` end to end: one real subprocess (the console script) and in-process CliRunner runs,
with $CLPBERT_HUB_MANIFEST pointing at a server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

CLPBERT = Path(sys.executable).with_name("clpbert")


def run_cli(*args: str, manifest: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, CLPBERT_HUB_TRIES="2", CLPBERT_HUB_BACKOFF="0.01", CLPBERT_HUB_TIMEOUT="5")
    if manifest is not None:
        env["CLPBERT_HUB_MANIFEST"] = str(manifest)
    return subprocess.run([str(CLPBERT), "download", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def write_manifest(tmp_path: Path, pretrained: list, bert: list | None = None) -> Path:
    arts = {"pretrained": {"kind": "e2e", "filename": "clipbert_image_text_pretrained.pt",
                           "sources": pretrained}}
    if bert is not None:
        arts["bert-base-uncased"] = {"kind": "bert", "sources": bert}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"artifacts": arts}))
    return path


def cli_app():
    """The download command on a bare Typer app, for in-process runs (torch stays imported: fast)."""
    import typer

    from cli.download import register

    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return app


@pytest.mark.slow
def test_from_local_file_json_registers_the_checkpoint(clpbert_home, tmp_path, e2e_bytes, closed_port):
    manifest = write_manifest(tmp_path, [f"http://127.0.0.1:{closed_port}/never.pt"])
    (tmp_path / "copy.pt").write_bytes(e2e_bytes)
    proc = run_cli("pretrained", "--from", str(tmp_path / "copy.pt"), "--json", manifest=manifest)
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads(proc.stdout)
    target = clpbert_home / "pretrained" / "pretrained" / "clipbert_image_text_pretrained.pt"
    assert record["name"] == "pretrained" and record["kind"] == "e2e" and record["path"] == str(target)
    assert record["size"] == len(e2e_bytes) and record["source"] == (tmp_path / "copy.pt").as_uri()
    assert record["inspect"]["counts"]["loaded"] == 5
    from clpbert.registry import open_registry

    with open_registry() as reg:
        assert reg.get_checkpoint("pretrained").sha256 == record["sha256"]


def test_download_all_from_manifest_mirror_after_409(clpbert_home, tmp_path, file_server, e2e_bytes, hubkit,
                                                      monkeypatch):
    gone = file_server.add("clipbert/pretrained/clipbert_image_text_pretrained.pt", b"", status=409)
    mirror = file_server.add("mirror/clipbert.pt", e2e_bytes)
    tar = hubkit.tar_of_dir(hubkit.write_bert_dir(tmp_path / "bert"), "bert-base-uncased")
    bert = file_server.add("mirror/bert-base-uncased.tar", tar)
    monkeypatch.setenv("CLPBERT_HUB_MANIFEST", str(write_manifest(tmp_path, [gone, mirror], [bert])))
    result = CliRunner().invoke(cli_app(), ["download", "all", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"pretrained: skipped {gone}: 409 Conflict"
    pretrained, bert_rec = json.loads(result.stdout)
    assert (pretrained["name"], pretrained["source"]) == ("pretrained", mirror)
    assert (bert_rec["name"], bert_rec["kind"], bert_rec["source"]) == ("bert-base-uncased", "bert", bert)
    assert Path(bert_rec["path"]) == clpbert_home / "pretrained" / "bert-base-uncased"
    assert (Path(bert_rec["path"]) / "config.json").is_file()


def test_offline_is_one_line_pointing_to_from(clpbert_home, tmp_path, closed_port):
    manifest = write_manifest(tmp_path, [f"http://127.0.0.1:{closed_port}/a.pt", "http://no-such-host.invalid/b"])
    proc = run_cli("pretrained", manifest=manifest)
    assert proc.returncode in (1, 2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no network" in lines[0] and "--from" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_from_with_all_is_a_user_error(clpbert_home, tmp_path):
    proc = run_cli("all", "--from", str(tmp_path))
    assert proc.returncode == 2 and "--from installs one artifact" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_human_summary_in_process(clpbert_home, tmp_path, file_server, e2e_bytes, monkeypatch):
    """The non-JSON report: where it went, size, sha, contents, model check, registration."""
    app = cli_app()
    url = file_server.add("ckpt.pt", e2e_bytes)
    monkeypatch.setenv("CLPBERT_HUB_MANIFEST", str(write_manifest(tmp_path, [url])))
    result = CliRunner().invoke(app, ["download", "pretrained"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    target = clpbert_home / "pretrained" / "pretrained" / "clipbert_image_text_pretrained.pt"
    assert f"pretrained: installed at {target}" in out
    assert f"from {url}" in out and "contents: 5 tensors" in out
    assert "model check (pretrain model, clipbert format): loads 5 tensors" in out
    assert "registered as checkpoint 'pretrained' (id 1)" in out


def test_all_with_one_failure_installs_the_rest_and_fails_at_the_end(clpbert_home, tmp_path, file_server,
                                                                      e2e_bytes, monkeypatch):
    from clpbert.errors import UserError

    app = cli_app()
    good = file_server.add("ckpt.pt", e2e_bytes)
    gone = file_server.add("bert.tar", b"", status=403)
    monkeypatch.setenv("CLPBERT_HUB_MANIFEST", str(write_manifest(tmp_path, [good], [gone])))
    result = CliRunner().invoke(app, ["download", "all", "--json"])
    assert isinstance(result.exception, UserError)
    assert str(result.exception) == ("1 of 2 artifacts could not be installed: bert-base-uncased "
                                     "(reasons above)")
    assert f"error: could not download bert-base-uncased: {gone}: 403 Forbidden" in result.stderr
    (record,) = json.loads(result.stdout)
    assert record["name"] == "pretrained"

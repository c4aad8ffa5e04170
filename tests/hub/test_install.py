"""install(): sources in order, verification, registration, --from, against a real local HTTP server."""

from __future__ import annotations

import hashlib
import random
import tarfile

import pytest

from clpbert.errors import NotFoundError
from clpbert.hub.download import RetryPolicy
from clpbert.hub.install import DownloadError, install
from clpbert.hub.manifest import Artifact, Source

FAST = RetryPolicy(tries=2, backoff=(0.01,), timeout=5)
ONCE = RetryPolicy(tries=1, backoff=(0.0,), timeout=5)


def e2e(*urls: str, sha256: str = "") -> Artifact:
    return Artifact(name="pretrained", kind="e2e", layout="file",
                    filename="clipbert_image_text_pretrained.pt", sources=tuple(Source(u) for u in urls),
                    sha256=sha256, note="no public mirror")


def bert(*sources: Source) -> Artifact:
    return Artifact(name="bert-base-uncased", kind="bert", layout="dir", sources=sources)


def registered(name: str):
    from clpbert.registry import open_registry

    with open_registry() as reg:
        return {c.name: c for c in reg.list_checkpoints()}.get(name)


def quiet_install(artifact, **kw):
    notes: list[str] = []
    kw.setdefault("policy", FAST)
    done = install(artifact, note=notes.append, **kw)
    return done, notes


def test_full_download_is_verified_registered_and_inspected(file_server, clpbert_home, e2e_bytes):
    url = file_server.add("ckpt.pt", e2e_bytes)
    sha = hashlib.sha256(e2e_bytes).hexdigest()
    done, _ = quiet_install(e2e(url, sha256=sha))
    target = clpbert_home / "pretrained" / "pretrained" / "clipbert_image_text_pretrained.pt"
    assert done.path == target and target.read_bytes() == e2e_bytes
    assert done.inspect["counts"]["loaded"] == 5 and done.inspect["format"] == "clipbert"
    assert done.structure.tensors == 5
    ckpt = registered("pretrained")
    assert (ckpt.path, ckpt.kind, ckpt.sha256, ckpt.size, ckpt.source) == (str(target), "e2e", sha,
                                                                          len(e2e_bytes), url)
    assert done.checkpoint["id"] == ckpt.id
    assert sorted(p.name for p in (clpbert_home / "pretrained").iterdir()) == ["pretrained"]  # no staging


def test_404_primary_falls_back_to_working_mirror(file_server, clpbert_home, e2e_bytes):
    dead = file_server.add("dead.pt", b"", status=404)
    mirror = file_server.add("mirror.pt", e2e_bytes)
    done, notes = quiet_install(e2e(dead, mirror))
    assert done.source == mirror and registered("pretrained").source == mirror
    assert notes == [f"pretrained: skipped {dead}: 404 Not Found"]


def test_every_source_failing_is_one_line_listing_each_reason(file_server, clpbert_home, closed_port):
    gone = file_server.add("gone.pt", b"", status=409)
    refused = f"http://127.0.0.1:{closed_port}/x.pt"
    with pytest.raises(DownloadError) as err:
        quiet_install(e2e(gone, refused))
    msg = str(err.value)
    assert "\n" not in msg
    assert f"{gone}: 409 Conflict" in msg and f"{refused}: connection refused" in msg
    assert "no public mirror" in msg and "--from" in msg
    assert registered("pretrained") is None
    assert not (clpbert_home / "pretrained").exists() or not any((clpbert_home / "pretrained").iterdir())


def test_offline_everywhere_says_no_network_and_points_to_from(clpbert_home, closed_port):
    notes: list[str] = []
    with pytest.raises(DownloadError, match=r"^no network: .*--from PATH`$") as err:
        install(e2e(f"http://127.0.0.1:{closed_port}/a.pt", "http://no-such-host.invalid/b.pt"),
                note=notes.append, policy=FAST)
    assert err.value.offline and notes == []  # the error line is the only output


def test_corrupted_body_is_never_registered_and_leaves_no_part(file_server, clpbert_home, e2e_bytes):
    url = file_server.add("ckpt.pt", e2e_bytes, corrupt=True)
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        quiet_install(e2e(url, sha256=hashlib.sha256(e2e_bytes).hexdigest()))
    assert registered("pretrained") is None
    pretrained = clpbert_home / "pretrained"
    assert not pretrained.exists() or list(pretrained.rglob("*")) == []


def test_bytes_that_are_no_torch_file_are_refused_without_known_sha(file_server, clpbert_home):
    url = file_server.add("junk.pt", random.Random(0).randbytes(50_000))
    with pytest.raises(DownloadError, match=r"weights_only=True"):
        quiet_install(e2e(url))
    assert registered("pretrained") is None


def test_wrong_shapes_are_refused_by_the_model_loader(file_server, clpbert_home, hubkit):
    import torch

    data = hubkit.torch_bytes({"transformer.bert.embeddings.LayerNorm.weight": torch.ones(10)})
    url = file_server.add("small.pt", data)
    with pytest.raises(DownloadError, match=r"does not fit ClipBERT: transformer.bert.embeddings.LayerNorm"):
        quiet_install(e2e(url))


def test_interrupted_download_resumes_on_the_next_run(file_server, clpbert_home, e2e_bytes):
    offset = random.Random(3).randrange(1000, len(e2e_bytes) - 1000)
    url = file_server.add("ckpt.pt", e2e_bytes, cut_at=offset)
    with pytest.raises(DownloadError, match=f"connection closed at byte {offset}"):
        quiet_install(e2e(url), policy=ONCE)
    part = clpbert_home / "pretrained" / ".pretrained.download" / "clipbert_image_text_pretrained.pt.part"
    assert part.stat().st_size == offset
    done, _ = quiet_install(e2e(url), policy=ONCE)
    assert done.resumed_from == offset and done.path.read_bytes() == e2e_bytes
    assert file_server.requests_for("ckpt.pt")[-1]["Range"] == f"bytes={offset}-"
    assert not part.parent.exists()


def test_present_artifact_is_reverified_not_refetched_unless_forced(file_server, clpbert_home, e2e_bytes):
    url = file_server.add("ckpt.pt", e2e_bytes)
    quiet_install(e2e(url))
    again, _ = quiet_install(e2e(url))
    assert again.already_present and len(file_server.requests_for("ckpt.pt")) == 1
    assert registered("pretrained").source == url
    forced, _ = quiet_install(e2e(url), force=True)
    assert not forced.already_present and len(file_server.requests_for("ckpt.pt")) == 2


def test_bert_tar_is_unpacked_into_a_folder_and_registered(file_server, clpbert_home, hubkit, tmp_path):
    tar = hubkit.tar_of_dir(hubkit.write_bert_dir(tmp_path / "src"), "bert-base-uncased")
    url = file_server.add("pretrained/bert-base-uncased.tar", tar)
    done, _ = quiet_install(bert(Source(url, unpack="tar")))
    dest = clpbert_home / "pretrained" / "bert-base-uncased"
    assert done.path == dest
    assert sorted(p.name for p in dest.iterdir()) == ["config.json", "model.safetensors", "vocab.txt"]
    assert done.inspect["format"] == "hf_bert" and done.inspect["counts"]["loaded"] == 3
    ckpt = registered("bert-base-uncased")
    assert ckpt.kind == "bert" and ckpt.path == str(dest) and ckpt.size == done.size > 0


@pytest.mark.parametrize("evil", ["../escaped.txt", "symlink"])
def test_tar_with_escaping_member_is_refused(file_server, clpbert_home, hubkit, evil, tmp_path):
    src = hubkit.write_bert_dir(tmp_path / "src")
    members = [(tarfile.TarInfo(f"bert/{p.name}"), p.read_bytes()) for p in src.iterdir()]
    if evil == "symlink":
        link = tarfile.TarInfo("bert/vocab2.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        members.append((link, None))
    else:
        members.append((tarfile.TarInfo(evil), b"gotcha"))
    url = file_server.add("evil.tar", hubkit.tar_bytes(members))
    with pytest.raises(DownloadError, match="unsafe archive"):
        quiet_install(bert(Source(url, unpack="tar")))
    assert not list(clpbert_home.rglob("escaped.txt"))
    assert registered("bert-base-uncased") is None
    assert not (clpbert_home / "pretrained" / "bert-base-uncased").exists()


def test_offline_hub_falls_through_to_the_next_source(file_server, clpbert_home, hubkit, tmp_path,
                                                      closed_port):
    tar = hubkit.tar_of_dir(hubkit.write_bert_dir(tmp_path / "src"), "bert-base-uncased")
    url = file_server.add("bert.tar", tar)
    hub = Source("hf://google-bert/bert-base-uncased", unpack="hf-repo", endpoint=f"http://127.0.0.1:{closed_port}")
    done, notes = quiet_install(bert(hub, Source(url, unpack="tar")))
    assert done.source == url
    assert len(notes) == 1 and "hf://google-bert/bert-base-uncased" in notes[0]
    assert notes[0].endswith("connection refused")


def test_from_local_file_is_copied_and_registered(clpbert_home, e2e_bytes, tmp_path, closed_port):
    copy = tmp_path / "my copy%20.pt"  # a space and a literal %20 survive the file:// round trip
    copy.write_bytes(e2e_bytes)
    done, _ = quiet_install(e2e(f"http://127.0.0.1:{closed_port}/never.pt"), from_=str(copy))
    assert done.path.read_bytes() == e2e_bytes and copy.exists()
    assert registered("pretrained").source == copy.as_uri()


def test_from_local_folder_for_bert(clpbert_home, hubkit, tmp_path):
    src = hubkit.write_bert_dir(tmp_path / "my-bert")
    done, _ = quiet_install(bert(Source("https://unused.invalid/x.tar", unpack="tar")), from_=str(src))
    assert (done.path / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    assert registered("bert-base-uncased").kind == "bert"


def test_from_folder_holding_the_file(clpbert_home, e2e_bytes, tmp_path):
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / "clipbert_image_text_pretrained.pt").write_bytes(e2e_bytes)
    done, _ = quiet_install(e2e("https://unused.invalid/x.pt"), from_=str(tmp_path / "pretrained"))
    assert done.path.read_bytes() == e2e_bytes


def test_from_a_file_that_fails_verification_reports_it(clpbert_home, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DownloadError,
                       match=r"^could not install pretrained from .*notes.txt: .*weights_only"):
        quiet_install(e2e("https://unused.invalid/x.pt"), from_=str(tmp_path / "notes.txt"))


def test_from_missing_path_is_not_found(clpbert_home, tmp_path):
    with pytest.raises(NotFoundError, match="no such file or folder"):
        quiet_install(e2e("https://unused.invalid/x.pt"), from_=str(tmp_path / "nope.pt"))


def test_custom_dest(file_server, clpbert_home, e2e_bytes, tmp_path):
    url = file_server.add("ckpt.pt", e2e_bytes)
    done, _ = quiet_install(e2e(url), dest=tmp_path / "weights")
    assert done.path == tmp_path / "weights" / "clipbert_image_text_pretrained.pt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "weights"]


def test_second_concurrent_download_of_the_same_dest_is_refused(clpbert_home, e2e_bytes, tmp_path):
    from clpbert.errors import UserError
    from clpbert.hub.install import _exclusive, default_dest

    art = e2e("https://unused.invalid/x.pt")
    busy = pytest.raises(UserError, match="another `clpbert download pretrained` is writing")
    with _exclusive(default_dest(art), "pretrained"), busy:
        quiet_install(art)

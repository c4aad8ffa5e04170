"""The built-in manifest and its $CLPBERT_HUB_MANIFEST replacement."""

from __future__ import annotations

import json

import pytest

from clpbert.errors import ConfigError, UserError
from clpbert.hub.manifest import MANIFEST_ENV, builtin_artifacts, load_manifest, select


def test_builtin_keeps_original_urls_first_and_public_mirrors_after():
    arts = builtin_artifacts()
    assert set(arts) == {"pretrained", "bert-base-uncased", "grid-feat-r50"}
    base = "https://convaisharables.blob.core.windows.net/clipbert/pretrained/"
    assert arts["pretrained"].sources[0].url == base + "clipbert_image_text_pretrained.pt"
    bert = arts["bert-base-uncased"]
    assert [s.unpack for s in bert.sources] == ["tar", "hf-repo"] and bert.layout == "dir"
    assert bert.sources[1].repo_id == "google-bert/bert-base-uncased"
    grid = arts["grid-feat-r50"]
    assert [s.url for s in grid.sources] == [base + "grid_feat_R-50.pth",
                                             "https://dl.fbaipublicfiles.com/grid-feats-vqa/R-50/R-50.pth"]
    assert grid.filename == "grid_feat_R-50.pth" and grid.kind == "cnn"


def test_env_manifest_replaces_builtin(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(f"""
artifacts:
  pretrained:
    kind: e2e
    filename: clipbert_image_text_pretrained.pt
    sha256: {"ab" * 32}
    sources:
      - http://mirror.local/clipbert.pt
  bert-base-uncased:
    kind: bert
    sources:
      - http://mirror.local/bert.tgz
      - {{hf: google-bert/bert-base-uncased, endpoint: http://hf.local, revision: abc}}
""")
    arts = load_manifest({MANIFEST_ENV: str(path)})
    assert list(arts) == ["pretrained", "bert-base-uncased"]
    assert arts["pretrained"].sha256 == "ab" * 32
    tar, hub = arts["bert-base-uncased"].sources
    assert tar.unpack == "tar"
    assert (hub.unpack, hub.endpoint, hub.revision) == ("hf-repo", "http://hf.local", "abc")
    assert [a.name for a in select(arts, "all")] == ["pretrained", "bert-base-uncased"]
    with pytest.raises(UserError, match="unknown artifact 'grid-feat-r50'; choose one of: pretrained"):
        select(arts, "grid-feat-r50")


@pytest.mark.parametrize(("content", "why"), [
    ({"artifacts": {"x": {"kind": "weird", "sources": ["http://a/b"]}}}, "needs kind"),
    ({"artifacts": {"x": {"kind": "e2e", "sources": []}}}, "lists no sources"),
    ({"artifacts": {"x": {"kind": "e2e", "sources": ["http://a/b"]}}}, "needs a filename"),
    ({"artifacts": {"x": {"kind": "cnn", "filename": "a", "sha256": "12", "sources": ["http://a"]}}},
     "64 hex"),
    ({"nope": 1}, "top-level `artifacts:`"),
])
def test_bad_manifest_is_a_config_error(tmp_path, content, why):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ConfigError, match=why):
        load_manifest({MANIFEST_ENV: str(path)})


def test_missing_manifest_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"CLPBERT_HUB_MANIFEST"):
        load_manifest({MANIFEST_ENV: str(tmp_path / "absent.yaml")})

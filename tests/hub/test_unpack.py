"""Safe tar extraction, tree digests and atomic replacement."""

from __future__ import annotations

import tarfile

import pytest

from clpbert.hub.unpack import UnsafeArchiveError, extract_tar, install_into, tree_digest


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def write_tar(path, hubkit, members):
    path.write_bytes(hubkit.tar_bytes(members))
    return path


def test_single_top_folder_becomes_the_root(tmp_path, hubkit):
    archive = write_tar(tmp_path / "b.tar", hubkit, [(member("bert/config.json"), b"{}"),
                                                      (member("bert/sub/vocab.txt"), b"a\n")])
    root = extract_tar(archive, tmp_path / "out")
    assert root == tmp_path / "out" / "bert"
    assert (root / "sub" / "vocab.txt").read_text() == "a\n"


@pytest.mark.parametrize(("bad", "why"), [
    ((member("../evil.txt"), b"x"), "escapes the destination"),
    ((member("ok/../../evil.txt"), b"x"), "escapes the destination"),
    ((member("/tmp/evil.txt"), b"x"), "escapes the destination"),
    ((member("link", tarfile.SYMTYPE, "../../etc/passwd"), None), "symlink 'link' -> '../../etc/passwd'"),
    ((member("link", tarfile.SYMTYPE, "/etc/passwd"), None), "points outside"),
    ((member("d/link", tarfile.SYMTYPE, "../../x"), None), "points outside"),
    ((member("hard", tarfile.LNKTYPE, "../outside"), None), "hard link"),
    ((member("dev", tarfile.CHRTYPE), None), "device or fifo"),
])
def test_escaping_members_are_refused_and_nothing_is_written(tmp_path, hubkit, bad, why):
    archive = write_tar(tmp_path / "bad.tar", hubkit, [(member("good.txt"), b"fine"), bad])
    with pytest.raises(UnsafeArchiveError, match=why):
        extract_tar(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar"]


def test_symlink_inside_the_tree_is_allowed(tmp_path, hubkit):
    alias = member("d/alias.txt", tarfile.SYMTYPE, "real.txt")
    archive = write_tar(tmp_path / "ok.tar", hubkit, [(member("d/real.txt"), b"x"), (alias, None)])
    root = extract_tar(archive, tmp_path / "out")
    assert (root / "alias.txt").read_text() == "x"


def test_not_a_tar_is_a_source_error(tmp_path):
    from clpbert.hub.download import SourceError

    (tmp_path / "x.tar").write_bytes(b"definitely not a tar" * 100)
    with pytest.raises(SourceError, match="not a readable tar"):
        extract_tar(tmp_path / "x.tar", tmp_path / "out")


def test_tree_digest_is_independent_of_location_and_sees_content(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "x.txt").write_text("1")
        (tmp_path / name / "sub" / "y.txt").write_text("2")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    (tmp_path / "b" / "sub" / "y.txt").write_text("3")
    assert tree_digest(tmp_path / "a")[0] != tree_digest(tmp_path / "b")[0]


def test_install_into_replaces_an_existing_folder(tmp_path):
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "old.txt").write_text("old")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "new.txt").write_text("new")
    install_into(tmp_path / "new", tmp_path / "dest")
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]

"""verify_registered: the one dataset check behind `clpbert datasets verify` and the TUI's `v`."""

from __future__ import annotations

import pytest

from clpbert.app.datasets import verify_registered
from clpbert.data.txt_db import TxtDBWriter
from clpbert.data.vis_db import VisDBWriter
from clpbert.errors import UserError
from clpbert.registry import Dataset


def _dataset(tmp_path, splits):
    return Dataset(1, "tg", "tgif_qa", "tgif_qa_action", str(tmp_path / "txt"), str(tmp_path / "vis_db"), "",
                   splits, "", 0.0)


def test_checks_packing_ids_and_registered_split_sizes(tmp_path):
    with VisDBWriter(tmp_path / "vis_db") as w:
        w.put_container("v1", b"\x00" * 64, "mp4")
    rows = [{"gif_name": k, "question": "q", "answer": "a"} for k in ("v1", "v1", "absent")]
    TxtDBWriter(tmp_path / "txt").write_split("val", rows)

    check = verify_registered(_dataset(tmp_path, {"val": 3}), decode=False)
    assert check.ok is False and check.split_problems == []
    assert check.message() == "dataset tg: 1 ids missing from vis_db (e.g. absent)"

    # the CLI did not compare split sizes with the registry, the TUI did: now both do
    check = verify_registered(_dataset(tmp_path, {"val": 5}), decode=False)
    assert check.split_problems == ["val: 3 records, registered 5"]
    assert check.message().startswith("dataset tg: val: 3 records, registered 5; 1 ids missing")

    (tmp_path / "vis_db" / "data.mdb").unlink()  # never packed: the same one clear message in both
    with pytest.raises(UserError, match="has no videos packed yet"):
        verify_registered(_dataset(tmp_path, {"val": 3}))

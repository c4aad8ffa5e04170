"""verify_dataset: real LMDB of the real videos, plus a missing id and a corrupt entry."""

from __future__ import annotations

import shutil

from clpbert.data.txt_db import TxtDBWriter
from clpbert.data.verify import verify_dataset
from clpbert.data.vis_db import VisDBWriter


def test_reports_missing_and_undecodable_ids(real_vis_db, real_videos, tmp_path):
    vis = tmp_path / "vis_db"
    shutil.copytree(real_vis_db, vis)
    with VisDBWriter(vis) as w:
        w.put_container("corrupt", b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 500, "mp4")
    rows = [{"gif_name": k, "question": "q", "answer": "a"} for k in [*real_videos, "absent", "corrupt"]]
    TxtDBWriter(tmp_path / "txt").write_split("val", rows)
    report = verify_dataset(tmp_path / "txt", vis)
    assert report.splits == {"val": 8} and report.n_videos == 8 and report.n_vis_entries == 7
    assert report.missing == ["absent"] and [k for k, _ in report.undecodable] == ["corrupt"]
    assert report.kinds == {"mp4": 3, "gif": 4} and not report.ok
    assert "1 missing, 1 undecodable" in report.summary()
    assert verify_dataset(tmp_path / "txt", vis, decode=False).undecodable == []

"""Model selection never on test, per dataset (issue 15.4): for each real release, the split the
task's preset selects on (data.val_split) is one its converter writes, and it shares no video with
the split the preset tests on (data.test_split, the set the paper reports)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clpbert.config import preset
from clpbert.data.convert.base import convert

pytestmark = pytest.mark.real


def _tgif(real: Path, tmp: Path) -> Path:
    for name in ("Train_action_question.csv", "Test_action_question.csv"):
        shutil.copy(real / "tgif_qa" / name, tmp / name)
    return tmp


def _anet(real: Path, tmp: Path) -> Path:
    """The real val_1/val_2 and a train.json in the official schema over the real train_ids.json."""
    for name in ("val_1.json", "val_2.json"):
        shutil.copy(real / "activitynet_captions" / name, tmp / name)
    ids = json.loads((real / "activitynet_captions" / "train_ids.json").read_text())
    item = {"duration": 9.0, "timestamps": [[0, 9]], "sentences": ["someone does something."]}
    (tmp / "train.json").write_text(json.dumps(dict.fromkeys(ids, item)))
    return tmp


def _didemo(real: Path, tmp: Path) -> Path:
    return real / "didemo"


@pytest.mark.parametrize(("fmt", "folder"), [("tgif_qa", _tgif), ("anet_captions", _anet),
                                             ("didemo", _didemo)])
def test_the_preset_selects_on_a_split_disjoint_from_its_test_split(fmt, folder, real_data: Path,
                                                                    tmp_path: Path):
    conv = convert(fmt, folder(real_data, tmp_path))
    part = conv.parts[0]
    d = preset(part.task).data
    assert d.test_split and d.val_split != d.test_split
    assert {d.val_split, d.test_split} <= set(part.splits)
    videos = {s: {str(r[part.key_field]) for r in recs} for s, recs in part.splits.items()}
    assert videos[d.val_split] and videos[d.test_split]
    assert not videos[d.val_split] & videos[d.test_split]
    assert not videos[d.val_split] & videos.get(d.train_split, set())

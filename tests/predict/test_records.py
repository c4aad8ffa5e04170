"""`clpbert predict --json` records use the saved-predictions schema, one row per prediction."""

from __future__ import annotations

import torch

from clpbert.predict import records
from clpbert.predict.predictor import Answer, ITMScore, MCPrediction, QAPrediction, Results, RetrievalResult
from clpbert.predictions.schema import COLUMNS


def test_every_mode_gives_schema_rows_without_ground_truth():
    qa = Results([QAPrediction("a.mp4", "what color?", [Answer("red", 3, 0.7), Answer("blue", 1, 0.2)])])
    mc = Results([MCPrediction("b.mp4", "who?", ["x", "y", "z"], [0.1, 0.6, 0.3], 1)])
    ret = RetrievalResult(["q red", "cap a", "cap b"], ["v1.mp4", "v2.mp4"],
                          torch.tensor([[0.2, 0.9], [0.8, 0.1], [0.3, 0.4]]))
    itm = Results([ITMScore("c.jpg", "a dog", 0.25)])
    rows = {"qa": records.qa_records(qa), "mc": records.mc_records(mc),
            "ret": records.retrieval_records(ret, n_queries=1, top_k=5), "itm": records.itm_records(itm)}
    for mode, got in rows.items():
        for r in got:
            assert set(r) == set(COLUMNS), mode
            assert r["answer"] is None and r["correct"] is None and r["credit"] is None and r["rank"] is None
    (q,) = rows["qa"]
    assert (q["video_key"], q["text"], q["pred"], q["score"], q["candidates"]) == \
        ("a.mp4", "what color?", "red", 0.7, ["red", "blue"])
    (m,) = rows["mc"]
    assert m["pred"] == "y" and m["candidates"] == ["x", "y", "z"] and m["score"] == 0.6
    t2v, v1, v2 = rows["ret"]
    assert (t2v["type"], t2v["text"], t2v["candidates"]) == ("t2v", "q red", ["v2.mp4", "v1.mp4"])
    assert (v1["type"], v1["pred"], v2["pred"]) == ("v2t", "cap a", "cap b")  # captions only, per video
    assert rows["itm"][0]["pred"] == "mismatch"

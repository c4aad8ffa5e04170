"""`runs list -s TEXT` matches TEXT literally: `%` and `_` are not LIKE wildcards (issue 17, defect 9)."""

from __future__ import annotations


def test_percent_and_underscore_in_a_search_are_literal(registry):
    for run_id, name in (("a0000001", "lr_5e-5"), ("a0000002", "lrx5e-5"), ("a0000003", "drop 50%"),
                         ("a0000004", "drop 500"), ("a0000005", "back\\slash")):
        registry.create_run("finetune", "demo", name=name, run_id=run_id)
    assert [r.name for r in registry.list_runs(text="lr_")] == ["lr_5e-5"]
    assert [r.name for r in registry.list_runs(text="50%")] == ["drop 50%"]
    assert [r.name for r in registry.list_runs(text="\\")] == ["back\\slash"]
    assert registry.count_runs(text="%") == 1 and registry.count_runs(text="_") == 1
    assert {r.name for r in registry.list_runs(text="DROP")} == {"drop 50%", "drop 500"}  # still case-blind

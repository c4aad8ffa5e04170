"""`clpbert runs predictions RUN [RUN_B --diff]`: one evaluation's saved predictions, or two runs' flips.

The engine (clpbert.predictions: the file, the filters, the flips) is imported inside the command.
"""

from __future__ import annotations

import csv
import sys
from typing import Annotated, Any

import typer

from cli.common import JsonFlag, open_registry
from cli.runs import RunArg

TABLE_COLUMNS = ("example_id", "type", "video_key", "text", "answer", "pred", "correct", "score", "rank")
HEADERS = ("ID", "TYPE", "VIDEO", "TEXT", "ANSWER", "PRED", "OK", "SCORE", "RANK")


def predictions_cmd(
    run_ref: RunArg,
    other: Annotated[str | None, typer.Argument(help="A second run, with --diff.", show_default=False)]
    = None,
    step: Annotated[int | None, typer.Option("--step", help="The evaluation at this step (default: the "
                                             "latest).")] = None,
    best: Annotated[bool, typer.Option("--best", help="The evaluation with the best selection metric.")]
    = False,
    split: Annotated[str | None, typer.Option("--split", help="val or test (default: val when saved).")]
    = None,
    wrong: Annotated[bool, typer.Option("--wrong", help="Only the examples the model got wrong.")] = False,
    type_: Annotated[str | None, typer.Option("--type", help="Only this question type (retrieval: t2v or "
                                              "v2t; pretraining: itm or mlm).")] = None,
    answer: Annotated[str | None, typer.Option("--answer", help="Only rows with this ground-truth or "
                                               "predicted answer.")] = None,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Only rows whose question, answer, "
                                               "prediction or video contains this text.")] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="score: most confident first; rank: worst "
                                             "ground-truth rank first (default: file order).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Show at most this many rows (0: all).")]
    = 50,
    diff: Annotated[bool, typer.Option("--diff", help="RUN RUN_B: the examples that flipped between the "
                                       "runs, with counts per question type.")] = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout (every column).")] = False,
    json_: JsonFlag = False,
) -> None:
    """Show an evaluation's saved predictions (filter, sort), or with --diff the flips between two runs."""
    from clpbert.app.predictions import analysis, lookup, store
    from clpbert.errors import UserError

    if json_ and csv_:
        raise UserError("give --json or --csv, not both")
    if diff != (other is not None):
        raise UserError("--diff compares two runs: `clpbert runs predictions RUN_A RUN_B --diff`" if diff
                        else f"a second run ({other}) needs --diff")
    if sort and sort not in analysis.SORTS:
        raise UserError(f"--sort {sort!r} is not one of: {', '.join(analysis.SORTS)}")
    with open_registry() as reg:
        runs = [reg.get_run(run_ref), *([reg.get_run(other)] if other else [])]
        saved = [lookup.find_saved_eval(reg, r, step=step, best=best, split=split) for r in runs]
    tables = [store.read_table(s.path) for s in saved]
    filters = {"wrong": False if diff else wrong, "type": type_, "answer": answer, "text": search}
    if diff:
        _print_diff(saved, [analysis.filter_table(t, **filters).to_pylist() for t in tables], limit, json_,
                    csv_)
        return
    table = analysis.sort_table(analysis.filter_table(tables[0], **filters), sort)
    shown = table.slice(0, limit) if limit else table
    rows = shown.to_pylist()
    info = _describe(saved[0])
    if json_:
        from cli.output import print_json

        print_json({**info, "matched": table.num_rows, "total": tables[0].num_rows, "rows": rows})
    elif csv_:
        _write_csv(rows)
    else:
        _print_rows(rows, info, table.num_rows, tables[0].num_rows)


def _describe(s: Any) -> dict[str, Any]:
    return {"run_id": s.run.id, "step": s.eval.step, "split": s.eval.split, "kind": s.kind,
            "task": s.run.task, "path": str(s.path), "metrics": s.eval.metrics}


def _cell(value: Any, width: int = 40) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_rows(rows: list[dict[str, Any]], info: dict[str, Any], matched: int, total: int) -> None:
    from cli.output import diag, print_table

    print_table(HEADERS, [[_cell(r[c]) for c in TABLE_COLUMNS] for r in rows],
                title=f"{info['run_id']} step {info['step']} {info['split']} ({info['task']})",
                empty="no predictions match")
    more = "; --limit shows more" if matched > len(rows) else ""
    diag(f"{len(rows)} shown, {matched} of {total} match{more}")


def _write_csv(rows: list[dict[str, Any]]) -> None:
    from clpbert.app.predictions import COLUMNS

    out = csv.writer(sys.stdout)
    out.writerow(COLUMNS)
    for r in rows:
        out.writerow(["|".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
                      for v in (r[c] for c in COLUMNS)])
    sys.stdout.flush()


def _print_diff(saved: list[Any], rows: list[list[dict[str, Any]]], limit: int, json_: bool,
                csv_: bool) -> None:
    from cli.output import diag, print_json, print_table
    from clpbert.app.predictions import analysis

    a, b = saved
    if a.eval.split != b.eval.split or a.kind != b.kind:
        diag(f"clpbert: note: comparing {a.kind} {a.eval.split} with {b.kind} {b.eval.split}: only "
             "examples with the same type and id are matched")
    flips = analysis.flips(rows[0], rows[1])
    listed = [("fixed", x, y) for x, y in flips.fixed] + [("broken", x, y) for x, y in flips.broken]
    listed = listed[:limit] if limit else listed
    if json_:
        print_json({"a": _describe(a), "b": _describe(b), **flips.counts(),
                    "flips": [{"change": c, "a": x, "b": y} for c, x, y in listed]})
        return
    if csv_:
        out = csv.writer(sys.stdout)
        out.writerow(["change", "example_id", "type", "video_key", "text", "answer", "pred_a", "pred_b"])
        for c, x, y in listed:
            out.writerow([c, y["example_id"], y["type"], y["video_key"], y["text"], y["answer"], x["pred"],
                          y["pred"]])
        return
    counts = flips.counts()
    print_table(["TYPE", "FIXED (wrong in A, right in B)", "BROKEN (right in A, wrong in B)"],
                [(t, v["fixed"], v["broken"]) for t, v in counts["per_type"].items()]
                + [("all", counts["fixed"], counts["broken"])],
                title=f"A = {a.label}   B = {b.label}   ({counts['common']} examples in both)")
    print_table(["CHANGE", "ID", "TYPE", "TEXT", "ANSWER", "A PRED", "B PRED"],
                [(c, _cell(y["example_id"]), _cell(y["type"]), _cell(y["text"]), _cell(y["answer"]),
                  _cell(x["pred"]), _cell(y["pred"])) for c, x, y in listed], empty="no example flipped")


def register(group: typer.Typer) -> None:
    group.command("predictions")(predictions_cmd)

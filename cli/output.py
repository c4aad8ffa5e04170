"""Where CLI output goes: data on stdout (JSON or tables), diagnostics on stderr.

Module top imports only the standard library; rich is imported when a table is printed.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any


def print_json(data: Any) -> None:
    """Data as JSON on stdout (NaN/inf become null, unknown objects their str())."""
    from clpbert.app.export import to_json_text

    sys.stdout.write(to_json_text(data) + "\n")
    sys.stdout.flush()


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None,
                empty: str | None = None) -> None:
    """A table on stdout; `empty` goes to stderr instead when there are no rows.

    On a terminal, a rich table (cells fold to fit its width). To a pipe or a file, plain aligned
    text with one row per line and no cell ever cut, so `grep`, `sort` and `cut` see whole rows.
    """
    rows = [[("" if v is None else str(v)) for v in row] for row in rows]
    if not rows and empty:
        diag(empty)
        return
    if not sys.stdout.isatty():
        sys.stdout.write(plain_table(columns, rows, title))
        sys.stdout.flush()
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=False)
    if title:
        console.print(title, style="bold", markup=False, highlight=False)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> str:
    """Columns padded to their widest cell, two spaces apart, one line per row (newlines in a
    cell become spaces); the last column is not padded."""
    lines = [list(columns), *([c.replace("\n", " ") for c in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    out = [title] if title else []
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join(out) + "\n"


def print_fields(fields: Iterable[tuple[str, Any]]) -> None:
    """`name  value` lines on stdout, names aligned."""
    items = [(k, "" if v is None else str(v)) for k, v in fields]
    width = max((len(k) for k, _ in items), default=0)
    for k, v in items:
        sys.stdout.write(f"{k:<{width}}  {v}\n")


def diag(message: str) -> None:
    """A diagnostic line on stderr (never mixed into data on stdout)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def fmt_num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return f"{value:.{digits}g}"


def fmt_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"

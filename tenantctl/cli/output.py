"""Everything a person or a script reads: rich tables and progress on a terminal, JSON
on stdout with `--json`, messages on stderr. The only module that imports rich."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from tenantctl.money import format_amount

if TYPE_CHECKING:  # rich is imported where it draws, so that `--version` starts quickly
    from rich.console import Console


def _stdout() -> Console:
    # Piped into a file or another program, a table keeps its lines whole (not 80 columns).
    from rich.console import Console

    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
    return Console(file=sys.stdout, highlight=False, soft_wrap=False, emoji=False, width=width)


def _stderr() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True, emoji=False)


def jsonable(value: Any) -> Any:
    """Plain JSON values: amounts as exact decimal strings, dates as ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_json_line(value: Any) -> None:
    """One JSON object per line (for streams such as `process logs --follow --json`)."""
    sys.stdout.write(json.dumps(jsonable(value), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def log_line(at: datetime, level: str, task: str | None, text: str) -> None:
    style = {"error": "red", "warning": "yellow"}.get(level, "")
    out = _stdout()
    out.print(f"{at:%Y-%m-%d %H:%M:%S} {level:<7} ", end="", style=style)
    out.print(f"[{task}] " if task else "", end="", markup=False)
    out.print(text, markup=False)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          *, caption: str | None = None, whole: set[str] = frozenset()) -> None:
    """A table on stdout; amounts and counts right-aligned; WHOLE columns never cut."""
    from rich.table import Table

    t = Table(title=title, caption=caption, header_style="bold")
    for name in columns:
        justify = "right" if name.lower() in _RIGHT else "left"
        t.add_column(name, justify=justify, no_wrap=name in whole,
                     overflow="fold" if name in whole else "ellipsis",
                     min_width=32 if name in whole else None)
    for row in rows:
        t.add_row(*(cell(v) for v in row))
    _stdout().print(t)


_RIGHT = {"price", "old price", "new price", "quantity", "qty", "items", "count", "added",
          "changed", "discontinued", "revision", "progress", "done", "total", "id",
          "attempt"}


def record(title: str, fields: dict[str, Any]) -> None:
    """One object as a two-column table of field and value."""
    from rich.table import Table

    t = Table(title=title, show_header=False, box=None, pad_edge=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    for key, value in fields.items():
        t.add_row(key, cell(value))
    _stdout().print(t)


def message(text: str) -> None:
    """A line for the person at the terminal (stderr, so `--json` stays clean)."""
    _stderr().print(text, markup=False)


def note(text: str) -> None:
    """Like message, with rich markup allowed (for the demo's narration)."""
    _stderr().print(text)


def check_line(passed: bool, name: str, reason: str, fix: str | None) -> None:
    mark = "[green]PASS[/green]" if passed else "[red]FAIL[/red]"
    out = _stdout()
    out.print(f"{mark} {name}: ", end="")
    out.print(reason, markup=False, highlight=False)
    if fix and not passed:
        out.print("     fix: ", end="", style="dim")
        out.print(fix, markup=False)


def error(exc: BaseException, verbose: bool, *, unexpected: bool = False) -> None:
    """`Error: ...` on stderr; the traceback (never its locals) only with -v."""
    err = _stderr()
    if verbose:
        err.print("".join(traceback.format_exception(exc)), markup=False)
    text = f"Error: {exc}"
    if unexpected:
        text = f"Error: unexpected {type(exc).__name__}: {exc}"
        if not verbose:
            text += " (run with -v for the traceback)"
    err.print(text, markup=False, style="red")


@contextmanager
def progress(enabled: bool = True):
    """A rich progress bar on stderr; yields a function (description, total) -> advance.

    The returned `advance(n)` moves that task on by n; with `enabled` False (JSON mode)
    nothing is drawn.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    prog = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_stderr(),
        disable=not enabled,
        transient=False,
    )
    with prog:
        def add(description: str, total: int | None):
            task = prog.add_task(description, total=total)

            def advance(n: int = 1, *, completed: int | None = None, total: int | None = None):
                if completed is not None or total is not None:
                    prog.update(task, completed=completed, total=total)
                else:
                    prog.advance(task, n)

            return advance

        yield add


# --- invoices (tenantctl invoice ...) ---------------------------------------------------

def invoice_table(view: Any) -> None:
    """An invoice (or a preview of one) as a table: a line per item, a subtotal per end
    customer, the total."""
    kind = "Credit note" if view.kind == "credit-note" else "Invoice"
    title = (f"{kind} {view.number or '(preview, not numbered)'} to {view.reseller}"
             + (f" for {view.customer}" if view.customer else "")
             + f", cycle {view.cycle_start} to {view.cycle_end}")
    from rich.table import Table

    t = Table(title=title, header_style="bold", show_footer=False)
    for name in ("End customer", "Item", "Unit", "Qty", "Days or term", "Unit price",
                 "Amount"):
        t.add_column(name, justify="right" if name in ("Qty", "Unit price", "Amount")
                     else "left", overflow="fold")
    for sub in view.subtotals:
        for line in (x for x in view.lines if x.customer == sub.customer):
            item = f"{line.subscription} {line.sku}"
            if line.note:
                item += f" ({line.note})"
            t.add_row(line.customer, item, cell(line.unit), cell(line.quantity),
                      line.charged, cell(line.unit_price), cell(line.amount))
        t.add_row("", f"Subtotal {sub.customer}", "", "", "", "", cell(sub.amount),
                  style="bold")
    t.add_row("", f"Total {view.currency}", "", "", "", "", cell(view.total), style="bold")
    _stdout().print(t)


def csv_text(fields: Sequence[str], rows: Iterable[dict]) -> str:
    """Rows as CSV text with a header line."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(v) for k, v in row.items()})
    return buffer.getvalue()


def json_text(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n"


def raw(text: str) -> None:
    """Text exactly as given, on stdout."""
    sys.stdout.write(text)
    sys.stdout.flush()

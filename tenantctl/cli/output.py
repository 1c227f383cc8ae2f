"""Everything a person or a script reads: rich tables and progress on a terminal, JSON
on stdout with `--json`, messages on stderr. The only module that imports rich."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from tenantctl.money import format_amount

if TYPE_CHECKING:  # rich is imported where it draws, so that `--version` starts quickly
    from rich.console import Console
    from rich.text import Text


def _no_color() -> bool:
    # https://no-color.org: present and not empty means no colour; we drop every style.
    return bool(os.environ.get("NO_COLOR"))


def _console(file, *, width: int | None, soft_wrap: bool) -> Console:
    # markup=False: what the store or a file holds is printed as it is, never as markup.
    from rich.console import Console

    extra: dict[str, Any] = {"color_system": None} if _no_color() else {}
    return Console(
        file=file,
        highlight=False,
        soft_wrap=soft_wrap,
        emoji=False,
        markup=False,
        width=width,
        **extra,
    )


def _piped() -> bool:
    """stdout goes to a file or another program (no terminal width to fit)."""
    return not sys.stdout.isatty() and "COLUMNS" not in os.environ


def _stdout() -> Console:
    # Piped into a file or another program, a table keeps its lines whole (not 80 columns).
    return _console(sys.stdout, width=160 if _piped() else None, soft_wrap=False)


def _stderr() -> Console:

    return _console(sys.stderr, width=None, soft_wrap=True)


# C0 and C1 controls, DEL, and the invisible marks that reorder or hide text (bidi
# overrides, zero-width characters), and lone surrogates (no encoding can write them):
# never sent to a terminal as they are.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ud800-\udfff\ufeff]"
)
_UNSAFE_KEEP_LINES = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ud800-\udfff\ufeff]"
)


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(text: str, *, keep_lines: bool = False) -> str:
    """TEXT with every control character shown escaped (`\\x1b`), safe on a terminal."""
    return (_UNSAFE_KEEP_LINES if keep_lines else _UNSAFE).sub(_escaped, text)


def _text(value: Any, style: str = "") -> Text:
    from rich.text import Text

    return Text(literal(cell(value)), style=style)


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


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _dumps(value: Any, **kw) -> str:
    # json escapes C0 controls itself; C1 controls and bidi marks become \uXXXX too.
    text = json.dumps(jsonable(value), ensure_ascii=False, **kw)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def print_json(value: Any) -> None:
    sys.stdout.write(_dumps(value, indent=2) + "\n")
    sys.stdout.flush()


def print_json_line(value: Any) -> None:
    """One JSON object per line (for streams such as `process logs --follow --json`)."""
    sys.stdout.write(_dumps(value) + "\n")
    sys.stdout.flush()


def log_line(at: datetime, level: str, task: str | None, text: str) -> None:
    from rich.text import Text

    style = {"error": "red", "warning": "yellow"}.get(level, "")
    line = Text(f"{at:%Y-%m-%d %H:%M:%S} {level:<7} ", style=style)
    if task:
        line.append(f"[{literal(task)}] ")
    line.append(literal(text))
    _stdout().print(line, soft_wrap=_piped())  # piped: one entry, one line (for grep)


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


# Columns of free text: they wrap (and fold a long word) to fit the terminal. Every other
# column holds codes, ids, amounts, counts, dates or short states: it keeps its width.
_FREE_TEXT = {
    "name",
    "product",
    "lines",
    "add-ons",
    "error",
    "source",
    "title",
    "task",
    "price list",
    "units",
    "changes",
    "result",
    "email",
    "billing address",
    "reason",
    "role",
    "phone",
    "external id",
    "add-on of",
}
_NARROWEST_TEXT = 12  # a free-text column narrower than this is no longer readable


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str | None = None,
    whole: set[str] = frozenset(),
    wrap: set[str] = frozenset(),
    drop: Sequence[str] = (),
) -> None:
    """A table on stdout; amounts and counts right-aligned; codes, ids and amounts never cut.

    WHOLE names more columns that must never wrap. When the table is wider than the
    terminal, the DROP columns (least useful first) are left out, saying so in the
    caption; then the WRAP columns wrap as free text does; if it still does not fit, each
    row is printed as a block of its own.
    """
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    console = _stdout()
    texts = [[literal(cell(v)) for v in row] for row in rows]
    keep = list(range(len(columns)))
    free = [(name.lower() in _FREE_TEXT or name in wrap) and name not in whole for name in columns]

    def widths(i: int) -> int:
        return max([cell_len(columns[i])] + [cell_len(r[i]) for r in texts])

    def needed(indices: list[int], *, wrapping: bool = True) -> int:
        return (
            sum(
                min(widths(i), _NARROWEST_TEXT)
                if free[i] and (wrapping or columns[i] not in wrap)
                else widths(i)
                for i in indices
            )
            + 3 * len(indices)
            + 1
        )

    dropped = []
    for name in (n for n in drop if n in columns):
        # The WRAP columns wrap only once the DROP columns are left out.
        if needed(keep, wrapping=False) <= console.width:
            break
        i = list(columns).index(name)
        keep.remove(i)
        dropped.append(name)
    if needed(keep) > console.width:
        _blocks(console, title, columns, texts, caption)
        return
    if dropped:
        note = f"not shown at this width: {', '.join(dropped)} (see --json)"
        caption = f"{caption}; {note}" if caption else note
    t = Table(
        title=Text(literal(title), style="table.title") if title else None,
        caption=Text(literal(caption), style="table.caption") if caption else None,
        header_style="bold",
    )
    for i in keep:
        name = columns[i]
        justify = "right" if name.lower() in _RIGHT else "left"
        if free[i]:
            t.add_column(name, justify=justify, overflow="fold")
        else:
            t.add_column(name, justify=justify, no_wrap=True, width=widths(i))
    for row in texts:
        t.add_row(*(Text(row[i]) for i in keep))
    console.print(t)


def _blocks(
    console: Console,
    title: str | None,
    columns: Sequence[str],
    texts: list[list[str]],
    caption: str | None,
) -> None:
    """A table too wide for the terminal: one block of `column  value` lines per row."""
    from rich.table import Table
    from rich.text import Text

    if title:
        console.print(Text(literal(title), style="table.title"))
    for n, row in enumerate(texts):
        grid = Table(show_header=False, box=None, pad_edge=False)
        grid.add_column("field", style="bold", no_wrap=True)
        grid.add_column("value", overflow="fold")
        for name, value in zip(columns, row, strict=True):
            grid.add_row(name, Text(value))
        if n:
            console.print()
        console.print(grid)
    if caption:
        console.print(Text(literal(caption), style="table.caption"))


_RIGHT = {
    "price",
    "old price",
    "new price",
    "quantity",
    "qty",
    "items",
    "count",
    "added",
    "changed",
    "discontinued",
    "revision",
    "progress",
    "done",
    "total",
    "id",
    "attempt",
    "cost price",
    "new cost",
    "sell price",
    "rows deleted",
    "old",
    "new",
}


def record(title: str, fields: dict[str, Any]) -> None:
    """One object as a two-column table of field and value."""
    from rich.table import Table
    from rich.text import Text

    t = Table(
        title=Text(literal(title), style="table.title"), show_header=False, box=None, pad_edge=False
    )
    t.add_column("field", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    for key, value in fields.items():
        t.add_row(key, _text(value))
    _stdout().print(t)


def tree(title: str, nodes: Sequence[Any], label: Callable[[Any], str], children: str) -> None:
    """A tree of NODES (each with a list attribute CHILDREN), each line LABEL(node)."""
    from rich.tree import Tree

    def grow(branch, items) -> None:
        for item in items:
            grow(branch.add(_text(label(item))), getattr(item, children))

    root = Tree(_text(title, "table.title"))
    grow(root, nodes)
    _stdout().print(root)


def message(text: str) -> None:
    """A line for the person at the terminal (stderr, so `--json` stays clean)."""
    from rich.text import Text

    _stderr().print(Text(literal(text, keep_lines=True)))


def note(text: str, style: str = "") -> None:
    """Like message, in a style (for the demo's narration)."""
    from rich.text import Text

    _stderr().print(Text(literal(text, keep_lines=True), style=style))


def check_line(passed: bool, name: str, reason: str, fix: str | None) -> None:
    from rich.text import Text

    line = Text("PASS" if passed else "FAIL", style="green" if passed else "red")
    line.append(f" {literal(name)}: {literal(reason)}")
    out = _stdout()
    out.print(line, soft_wrap=_piped())  # fits the terminal; a pipe gets it whole
    if fix and not passed:
        out.print(Text.assemble(("     fix: ", "dim"), literal(fix)), soft_wrap=_piped())


def error(
    exc: BaseException, verbose: bool, *, unexpected: bool = False, hint: str | None = None
) -> None:
    """`Error: ...` on stderr (and a one-line HINT); the traceback only with -v."""
    from rich.text import Text

    err = _stderr()
    if verbose:
        err.print(Text(literal("".join(traceback.format_exception(exc)), keep_lines=True)))
    text = f"Error: {exc}"
    if unexpected:
        text = f"Error: unexpected {type(exc).__name__}: {exc}"
        if not verbose:
            text += " (run with -v for the traceback)"
    err.print(Text(literal(text, keep_lines=True), style="red"))
    if hint:
        err.print(Text(literal(hint), style="dim"))


@contextmanager
def progress(enabled: bool = True):
    """A rich progress bar on stderr; yields a function (description, total) -> advance.

    The returned `advance(n)` moves that task on by n; with `enabled` False (JSON mode)
    nothing is drawn.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_stderr(),
        disable=not enabled,
        transient=False,
    )
    with prog:

        def add(description: str, total: int | None):
            task = prog.add_task(literal(description), total=total)

            def advance(
                n: int = 1,
                *,
                completed: int | None = None,
                total: int | None = None,
                description: str | None = None,
            ):
                if description is not None:
                    prog.update(task, description=literal(description))
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
    title = (
        f"{kind} {view.number or '(preview, not numbered)'} to {view.reseller}"
        + (f" for {view.customer}" if view.customer else "")
        + f", cycle {view.cycle_start} to {view.cycle_end}"
    )
    from rich.table import Table

    t = Table(title=_text(title), header_style="bold", show_footer=False)
    for name in ("End customer", "Item", "Unit", "Qty", "Days or term", "Unit price", "Amount"):
        t.add_column(
            name,
            justify="right" if name in ("Qty", "Unit price", "Amount") else "left",
            overflow="fold",
        )
    for sub in view.subtotals:
        for line in (x for x in view.lines if x.customer == sub.customer):
            item = f"{line.subscription} {line.sku}"
            if line.note:
                item += f" ({line.note})"
            t.add_row(
                *(
                    _text(v)
                    for v in (
                        line.customer,
                        item,
                        line.unit,
                        line.quantity,
                        line.charged,
                        line.unit_price,
                        line.amount,
                    )
                )
            )
        t.add_row(
            "", _text(f"Subtotal {sub.customer}"), "", "", "", "", _text(sub.amount), style="bold"
        )
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

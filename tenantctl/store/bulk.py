"""Set-based writes and reads in batches the databases accept, and bulk inserts at the
speed of the database's own bulk path.

PostgreSQL takes at most 65,535 bind parameters in one statement and SQLite 32,766, so a
bulk insert, update or `IN (...)` goes in chunks of BATCH rows or values. `insert_rows`
goes further: `executemany` of plain tuples on SQLite, `COPY` on PostgreSQL, the column
types' own conversions (money as exact text on SQLite, timestamps) and the columns'
Python-side defaults applied as in an ORM insert.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlmodel import Session

BATCH = 1000


def chunks(seq: list, size: int = BATCH) -> Iterator[list]:
    """SEQ in consecutive slices of at most SIZE items."""
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def insert_batched(session: Session, table, rows: list[dict]) -> None:
    """INSERT ROWS into TABLE as one executemany per batch."""
    for chunk in chunks(rows):
        session.execute(insert(table), chunk)


def update_by_id(session: Session, table, rows: list[dict]) -> None:
    """UPDATE each row (a dict with `id` and the new values) as one executemany per batch."""
    if not rows:
        return
    columns = [key for key in rows[0] if key != "id"]
    # bind names must differ from column names inside an UPDATE's SET clause
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({column: bindparam(f"b_{column}") for column in columns})
        .execution_options(synchronize_session=False)
    )
    params = [{"b_id": row["id"], **{f"b_{c}": row[c] for c in columns}} for row in rows]
    for chunk in chunks(params):
        session.execute(stmt, chunk)


def rows_in(session: Session, stmt, column, values: Iterable) -> Iterator:
    """Rows of STMT whose COLUMN is one of VALUES, asked in chunks the databases accept."""
    values = sorted(set(values), key=str)
    for chunk in chunks(values):
        yield from session.execute(stmt.where(column.in_(chunk)))


def ids_by(session: Session, table, key: str, org_id: int, values: Iterable) -> dict[Any, int]:
    """KEY -> id of the rows of TABLE in ORG_ID whose KEY is one of VALUES."""
    stmt = select(table.c[key], table.c.id).where(table.c.org_id == org_id)
    return dict(rows_in(session, stmt, table.c[key], values))


def insert_rows(session: Session, table: Table, rows: Iterable[dict]) -> None:
    """INSERT ROWS (dicts with the same keys) into TABLE inside the session's transaction;
    ROWS may be a generator, read as the rows are written (a long list is never held)."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    rows = itertools.chain((first,), rows)
    connection = session.connection()
    dialect = connection.dialect
    names = list(first)
    defaults = {}
    for column in table.columns:
        if column.name in names or column.primary_key or column.default is None:
            continue
        default = column.default
        if default.is_scalar:
            defaults[column.name] = default.arg
        elif default.is_callable:
            defaults[column.name] = default.arg(None)
    columns = [table.c[name] for name in names] + [table.c[name] for name in defaults]
    processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    # Only the columns whose type converts a value (money, timestamps) go through Python per
    # value; the others are taken as they are (itemgetter: one C call per row).
    converted = [(i, p) for i, p in enumerate(processors) if p is not None]
    extra = list(defaults.values())
    read = operator.itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))

    def values(row: dict) -> list:
        out = [*read(row), *extra]
        for i, convert in converted:
            if out[i] is not None:
                out[i] = convert(out[i])
        return out

    prep = dialect.identifier_preparer
    target = prep.format_table(table)
    listed = ", ".join(prep.quote(c.name) for c in columns)
    driver = connection.connection.driver_connection
    if dialect.name == "postgresql":
        with driver.cursor() as cursor, cursor.copy(f"COPY {target} ({listed}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(values(row))
    else:
        marks = ", ".join("?" * len(columns))
        cursor = driver.cursor()
        try:
            cursor.executemany(
                f"INSERT INTO {target} ({listed}) VALUES ({marks})", map(values, rows)
            )
        finally:
            cursor.close()


def analyze(session: Session, *tables: str) -> None:
    """Fresh planner statistics for TABLES after a bulk write, on PostgreSQL (SQLite plans
    without them): planned on the statistics from before thousands of rows came, a query
    may take a nested loop that runs for minutes, and autovacuum refreshes them only a
    minute or more later. ANALYZE samples a bounded number of rows (0.1-0.2 s a table of
    50,000). Its lock (held to the end of the transaction) conflicts with no write, only
    with VACUUM, another ANALYZE, index builds and schema changes: SKIP_LOCKED passes over a
    table one of those holds instead of waiting for it, so a command never stalls here."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE (SKIP_LOCKED) {', '.join(tables)}"))

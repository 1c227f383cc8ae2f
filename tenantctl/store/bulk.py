"""Set-based writes and reads in batches the databases accept.

PostgreSQL takes at most 65,535 bind parameters in one statement and SQLite 32,766, so a
bulk insert, update or `IN (...)` goes in chunks of BATCH rows or values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

BATCH = 1000


def chunks(seq: list, size: int = BATCH) -> Iterator[list]:
    """SEQ in consecutive slices of at most SIZE items."""
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


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
    stmt = (update(table).where(table.c.id == bindparam("b_id"))
            .values({column: bindparam(f"b_{column}") for column in columns})
            .execution_options(synchronize_session=False))
    params = [{"b_id": row["id"], **{f"b_{c}": row[c] for c in columns}} for row in rows]
    for chunk in chunks(params):
        session.execute(stmt, chunk)


def rows_in(session: Session, stmt, column, values: Iterable) -> Iterator:
    """Rows of STMT whose COLUMN is one of VALUES, asked in chunks the databases accept."""
    values = sorted(set(values), key=str)
    for chunk in chunks(values):
        yield from session.execute(stmt.where(column.in_(chunk)))


def ids_by(session: Session, table, key: str, org_id: int, values: Iterable
           ) -> dict[Any, int]:
    """KEY -> id of the rows of TABLE in ORG_ID whose KEY is one of VALUES."""
    stmt = select(table.c[key], table.c.id).where(table.c.org_id == org_id)
    return dict(rows_in(session, stmt, table.c[key], values))

"""Bulk inserts at the speed of the database's own bulk path: `executemany` of plain tuples
on SQLite, `COPY` on PostgreSQL. The column types' own conversions (money as exact text on
SQLite, timestamps) and the columns' Python-side defaults apply as in an ORM insert."""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import Session


def insert_rows(session: Session, table: Table, rows: list[dict]) -> None:
    """INSERT ROWS (dicts with the same keys) into TABLE inside the session's transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
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
    extra = tuple(defaults.values())

    def values(row: dict) -> tuple:
        raw = tuple(row[name] for name in names) + extra
        return tuple(p(v) if p is not None and v is not None else v
                     for p, v in zip(processors, raw, strict=True))

    prep = dialect.identifier_preparer
    target = prep.format_table(table)
    listed = ", ".join(prep.quote(c.name) for c in columns)
    driver = connection.connection.driver_connection
    if dialect.name == "postgresql":
        with driver.cursor() as cursor, \
                cursor.copy(f"COPY {target} ({listed}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(values(row))
    else:
        marks = ", ".join("?" * len(columns))
        cursor = driver.cursor()
        try:
            cursor.executemany(f"INSERT INTO {target} ({listed}) VALUES ({marks})",
                               map(values, rows))
        finally:
            cursor.close()

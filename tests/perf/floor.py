"""The floor of a bulk command (issue 13): a fresh Python process that imports sqlmodel (the
start-up no command that opens the store can avoid), then writes, in one transaction, the
rows the command writes into the same tables (same unique indexes): `executemany` on
SQLite, `COPY` on PostgreSQL. No SQLAlchemy statement, no per-row Python beyond a tuple.

    python -m tests.perf.floor import URL FILE.csv PRICE_LIST CURRENCY
    python -m tests.perf.floor create URL PRICE_LIST
    python -m tests.perf.floor replay URL ROWS.pickle

`replay` is the floor of the commands whose rows are not a simple function of a file
(`load`, `upgrade subscriptions`): `new_rows` (not timed) reads from the store a command
wrote the rows it added to the named tables, and `replay` inserts exactly those rows, in
one transaction, into a copy of the store as it was before the command.
"""

from __future__ import annotations

import csv
import pickle
import sqlite3
import sys
from datetime import UTC, datetime

import sqlmodel  # noqa: F401  (the start-up that every command opening the store pays)


class Store:
    def __init__(self, url: str, write: bool = True):
        self.pg = url.startswith("postgresql")
        if self.pg:
            import psycopg

            self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        else:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            if write:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("PRAGMA foreign_keys=ON")
                self.conn.execute("BEGIN IMMEDIATE")
        self.now = (
            datetime.now(UTC) if self.pg else datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        )

    def rows(self, sql: str, *params):
        sql = sql.replace("?", "%s") if self.pg else sql
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, *params):
        return self.rows(sql, *params)[0][0]

    def insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if self.pg:
            with (
                self.conn.cursor() as cur,
                cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
            )

    def returning_id(self, sql: str, *params) -> int:
        if self.pg:
            return self.one(sql + " RETURNING id", *params)
        return self.conn.execute(sql, params).lastrowid

    def commit(self) -> None:
        self.conn.commit() if self.pg else self.conn.execute("COMMIT")
        self.conn.close()


def price_list(db: Store, org_id: int, name: str, currency: str, count: int) -> int:
    pl = db.returning_id(
        "INSERT INTO price_list (org_id, name, currency, created_at) VALUES (?, ?, ?, ?)",
        org_id,
        name,
        currency,
        db.now,
    )
    db.returning_id(
        "INSERT INTO price_list_revision (price_list_id, number, item_count, "
        "created_at) VALUES (?, 1, ?, ?)",
        pl,
        count,
        db.now,
    )
    return pl


def floor_import(db: Store, path: str, name: str, currency: str) -> None:
    """New products, their units and the price-list items of a first import."""
    with open(path, newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    root = db.one("SELECT id FROM organisation WHERE kind = 'root'")
    products = {}
    for r in records:
        products.setdefault(
            r["sku"], (root, r["sku"], r["name"], r["platform"], "service", "active", True, db.now)
        )
    db.insert(
        "product",
        ("org_id", "sku", "name", "platform", "product_type", "status", "visible", "created_at"),
        list(products.values()),
    )
    ids = dict(db.rows("SELECT sku, id FROM product WHERE org_id = ?", root))
    db.insert(
        "product_unit",
        ("org_id", "product_id", "unit", "status"),
        [(root, ids[r["sku"]], r["unit"], "active") for r in records],
    )
    pl = price_list(db, root, name, currency, len(records))
    db.insert(
        "price_list_item",
        ("price_list_id", "product_id", "unit", "price", "from_revision"),
        [(pl, ids[r["sku"]], r["unit"], r["price"], 1) for r in records],
    )
    db.commit()


def floor_create(db: Store, name: str) -> None:
    """A tenant's copy of a price list: one product, one unit at cost and one retail item
    per item, into a new organisation."""
    root, currency, pl = db.rows(
        "SELECT o.id, p.currency, p.id FROM organisation o JOIN "
        "price_list p ON p.org_id = o.id WHERE o.kind = 'root' "
        "AND p.name = ?",
        name,
    )[0]
    org = db.returning_id(
        "INSERT INTO organisation (name, kind, parent_id, edition, language, timezone, "
        "date_format, currency, country, status, created_at) VALUES "
        "('floor', 'tenant', ?, 'premium', 'en', 'UTC', 'YYYY-MM-DD', ?, 'US', 'active', ?)",
        root,
        currency,
        db.now,
    )
    listed = db.rows(
        "SELECT p.id, p.sku, p.name, p.platform, p.product_type, u.id, u.unit, i.price "
        "FROM price_list_item i JOIN product p ON p.id = i.product_id "
        "JOIN product_unit u ON u.product_id = i.product_id AND u.unit = i.unit "
        "WHERE i.price_list_id = ? AND i.to_revision IS NULL",
        pl,
    )
    products = {}
    for pid, sku, pname, platform, ptype, *_ in listed:
        products.setdefault(pid, (org, sku, pname, platform, ptype, "active", True, pid, db.now))
    db.insert(
        "product",
        (
            "org_id",
            "sku",
            "name",
            "platform",
            "product_type",
            "status",
            "visible",
            "source_product_id",
            "created_at",
        ),
        list(products.values()),
    )
    copy_of = dict(db.rows("SELECT source_product_id, id FROM product WHERE org_id = ?", org))
    db.insert(
        "product_unit",
        ("org_id", "product_id", "unit", "status", "cost_price", "source_unit_id"),
        [(org, copy_of[r[0]], r[6], "active", r[7], r[5]) for r in listed],
    )
    retail = price_list(db, org, f"Retail {currency}", currency, len(listed))
    db.insert(
        "price_list_item",
        ("price_list_id", "product_id", "unit", "price", "from_revision"),
        [(retail, copy_of[r[0]], r[6], r[7], 1) for r in listed],
    )
    db.commit()


def _columns(db: Store, table: str) -> list[str]:
    if db.pg:
        return [
            r[0]
            for r in db.rows(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND table_schema = current_schema() ORDER BY ordinal_position",
                table,
            )
        ]
    return [r[1] for r in db.rows(f"PRAGMA table_info({table})")]


def _select(db: Store, query: str):
    """The rows of QUERY: tuples on SQLite, COPY's text lines on PostgreSQL (replayed as
    they are)."""
    if not db.pg:
        return db.rows(query)
    with db.conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT") as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    return data.splitlines(keepends=True)


def new_rows(before_url: str, after_url: str, tables: list[str], path: str) -> dict[str, int]:
    """Write to PATH the rows of TABLES (in a dependency order) that the store at AFTER_URL
    holds beyond the one at BEFORE_URL (ids above its largest: a command only adds rows at
    the end; a table without ids: the rows it lacks); returns how many of each. Not timed:
    it prepares `replay`."""
    before, after = Store(before_url, write=False), Store(after_url, write=False)
    dump, counts = [], {}
    for table in tables:
        columns = _columns(after, table)
        query = f"SELECT {', '.join(columns)} FROM {table}"
        if "id" in columns:
            known = before.one(f"SELECT coalesce(max(id), 0) FROM {table}")
            rows = _select(after, f"{query} WHERE id > {known} ORDER BY id")
        else:
            old = set(_select(before, query))
            rows = [r for r in _select(after, query) if r not in old]
        counts[table] = len(rows)
        dump.append((table, columns, rows))
    before.conn.close()
    after.conn.close()
    with open(path, "wb") as handle:
        pickle.dump(dump, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return counts


def replay(db: Store, path: str) -> None:
    """Insert the rows `new_rows` wrote to PATH, as they are (ids included)."""
    with open(path, "rb") as handle:
        dump = pickle.load(handle)
    for table, columns, data in dump:
        if not db.pg:
            db.insert(table, tuple(columns), data)
            continue
        with (
            db.conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            copy.write(b"".join(data))
    db.commit()


def main(argv: list[str]) -> None:
    kind, url, *rest = argv
    db = Store(url)
    if kind == "import":
        floor_import(db, *rest)
    elif kind == "create":
        floor_create(db, *rest)
    elif kind == "replay":
        replay(db, *rest)
    else:
        raise SystemExit(f"unknown floor {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

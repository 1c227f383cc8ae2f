"""The floor of a bulk command (issue 13): a fresh Python process that imports sqlmodel (the
start-up no command that opens the store can avoid), then writes, in one transaction, the
rows the command writes into the same tables (same unique indexes): `executemany` on
SQLite, `COPY` on PostgreSQL. No SQLAlchemy statement, no per-row Python beyond a tuple.

    python -m tests.perf.floor import URL FILE.csv PRICE_LIST CURRENCY
    python -m tests.perf.floor create URL PRICE_LIST
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from datetime import UTC, datetime

import sqlmodel  # noqa: F401  (the start-up that every command opening the store pays)


class Store:
    def __init__(self, url: str):
        self.pg = url.startswith("postgresql")
        if self.pg:
            import psycopg

            self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        else:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
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


def main(argv: list[str]) -> None:
    kind, url, *rest = argv
    db = Store(url)
    if kind == "import":
        floor_import(db, *rest)
    elif kind == "create":
        floor_create(db, *rest)
    else:
        raise SystemExit(f"unknown floor {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

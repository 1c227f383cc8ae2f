"""Column types: money stored exactly on every database."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.types import TypeDecorator

from tenantctl.money import canonical


class Money(TypeDecorator):
    """A Decimal stored exactly: NUMERIC (unconstrained) on PostgreSQL, TEXT on SQLite.

    SQLite's NUMERIC affinity would turn '0.1' into a binary float, so there the canonical
    decimal text is stored instead.
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, never float")
        value = canonical(Decimal(value))
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return canonical(Decimal(value))

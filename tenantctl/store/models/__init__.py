"""The tables of SPEC section 1.

Every row that belongs to an organisation carries `org_id` (directly, or through its
parent row) so the org scoping of a tenant context has one column to filter on.
Copies remember their source row (`source_*_id`); a unique key on (org, source) is the
backstop that makes every copy exactly-once.

The tables live in one submodule per area (`orgs`, `accounts`, `catalogue`, ...) and are
mapped when a command first names one (`from tenantctl.store.models import Account`, or
`models.Account`): making a table costs about 10 ms, and a command that reads a few tables
need not pay for all of them. A submodule imports the submodules of the tables its
foreign keys name, so a mapped table never points at a table that is not.
`load_all()` maps every table (Alembic's comparison, a walk over the whole schema).
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict
from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from tenantctl.store.types import Money

if TYPE_CHECKING:
    from sqlalchemy import MetaData


class TableModel(SQLModel):
    """The base of every table: pydantic builds a table's validator on first use, not at
    import (a table row is not validated when made)."""

    model_config = ConfigDict(defer_build=True)


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (timestamps are stored in UTC on every database)."""
    return datetime.now(UTC)


def _fk(target: str, *, nullable: bool = True, index: bool = True, ondelete: str | None = None):
    return Field(
        default=None,
        sa_column_args=[ForeignKey(target, ondelete=ondelete)],
        nullable=nullable,
        index=index,
    )


def json_field() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def _event() -> Any:
    """The back-ordering event that made a parent's row; each table keeps it unique (no
    foreign key: the event belongs to the tenant, the row to its parent)."""
    return Field(default=None, sa_type=BigInteger().with_variant(Integer, "sqlite"))


def _money(nullable: bool = True) -> Any:
    return Field(default=None, sa_type=Money, nullable=nullable)


# Each table's submodule.
_MODULE_OF = {
    "Organisation": "orgs",
    "PriceList": "price_lists",
    "Account": "accounts",
    "Contact": "account_details",
    "SyncRecord": "account_details",
    "Product": "catalogue",
    "ProductUnit": "catalogue",
    "PriceListRevision": "catalogue",
    "ProductChange": "catalogue",
    "PriceListItem": "catalogue",
    "TenantReseller": "tenants",
    "TenantUpdateLog": "updates",
    "Subscription": "sales",
    "SubscriptionAddon": "sales",
    "Asset": "sales",
    "SalesOrder": "sales",
    "OrderLine": "sales",
    "UserGroup": "users",
    "User": "users",
    "ProvisioningSetting": "settings",
    "Storefront": "settings",
    "BackorderEvent": "backorder",
    "BillingCycle": "billing",
    "Invoice": "billing",
    "InvoiceLine": "billing",
    "InvoiceCounter": "billing",
}

__all__ = ["TableModel", "json_field", "load_all", "utcnow", *_MODULE_OF]


def __getattr__(name: str) -> Any:
    """A table, mapped by importing its submodule the first time it is named."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    table = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = table  # found without this function from now on
    return table


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})


def load_all() -> MetaData:
    """Map every table of the store and return the metadata that holds them (the process
    queue's tables, `tenantctl.jobs.models`, join the same metadata once imported)."""
    for module in dict.fromkeys(_MODULE_OF.values()):
        importlib.import_module(f"{__name__}.{module}")
    return SQLModel.metadata

"""The catalogue: products, the units they are sold in, the revisions of price lists and
the items that price them, and the product changes a scheduled revision waits to make."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Index, Integer, UniqueConstraint
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.orgs  # noqa: F401
import tenantctl.store.models.price_lists  # noqa: F401
from tenantctl.store.models import TableModel, _fk, _money, utcnow


class Product(TableModel, table=True):
    __tablename__ = "product"
    __table_args__ = (
        UniqueConstraint("org_id", "sku", name="uq_product_org_sku"),
        UniqueConstraint("org_id", "source_product_id", name="uq_product_org_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    sku: str = Field(max_length=120)
    name: str = Field(max_length=300)
    platform: str = Field(max_length=20)
    product_type: str = Field(default="service", max_length=40)
    add_on_of_id: int | None = _fk("product.id")
    status: str = Field(default="active", max_length=12)  # active | discontinued
    description: str | None = Field(default=None)
    category: str | None = Field(default=None, max_length=100)
    visible: bool = Field(default=True)
    source_product_id: int | None = _fk("product.id")
    created_at: datetime = Field(default_factory=utcnow)


class ProductUnit(TableModel, table=True):
    """A billing unit a product is sold in; in a tenant it carries the purchase (cost) price."""

    __tablename__ = "product_unit"
    __table_args__ = (
        UniqueConstraint("product_id", "unit", name="uq_unit_product_unit"),
        UniqueConstraint("org_id", "source_unit_id", name="uq_unit_org_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    product_id: int = _fk("product.id", nullable=False, ondelete="CASCADE")
    unit: str = Field(max_length=20)
    status: str = Field(default="active", max_length=12)
    cost_price: Decimal | None = _money()
    source_unit_id: int | None = _fk("product_unit.id")


class PriceListRevision(TableModel, table=True):
    """One version of a price list; revision numbers count up from 1 per price list."""

    __tablename__ = "price_list_revision"
    __table_args__ = (UniqueConstraint("price_list_id", "number", name="uq_revision_number"),)

    id: int | None = Field(default=None, primary_key=True)
    price_list_id: int = _fk("price_list.id", nullable=False, ondelete="CASCADE")
    number: int
    effective_date: date | None = Field(default=None)
    source: str | None = Field(default=None, max_length=300)
    item_count: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)


class ProductChange(TableModel, table=True):
    """A product's name and add-on relation as a scheduled price-list revision lists them.

    A revision that takes effect later (`pricelist import --effective`) changes its
    products' names and add-on relations on its date, as it does their prices: until then
    the product keeps what it has, and the change waits here. On or after the date the
    first command (or a worker's round) applies it to the product and stamps `applied_at`.
    """

    __tablename__ = "product_change"
    __table_args__ = (Index("ix_product_change_due", "applied_at", "effective_date"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False, index=False)
    revision_id: int = _fk("price_list_revision.id", nullable=False, ondelete="CASCADE")
    product_id: int = _fk("product.id", nullable=False)
    effective_date: date
    name: str = Field(max_length=300)
    add_on_of_id: int | None = _fk("product.id", index=False)
    applied_at: datetime | None = Field(default=None)


class PriceListItem(TableModel, table=True):
    """A (product, unit, price) that is in a price list from one revision until another.

    Revision N holds the items with `from_revision <= N < to_revision` (an open
    `to_revision` means still listed), so an import writes only what changed and every
    older revision stays readable.
    """

    __tablename__ = "price_list_item"
    __table_args__ = (
        UniqueConstraint(
            "price_list_id", "product_id", "unit", "from_revision", name="uq_item_version"
        ),
        Index("ix_item_list_open", "price_list_id", "to_revision"),
    )

    # A big catalogue makes many item versions; SQLite needs INTEGER to autoincrement.
    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer, "sqlite")
    )
    price_list_id: int = _fk("price_list.id", nullable=False, index=False, ondelete="CASCADE")
    product_id: int = _fk("product.id", nullable=False)
    unit: str = Field(max_length=20)
    price: Decimal = _money(nullable=False)
    from_revision: int
    to_revision: int | None = Field(default=None)

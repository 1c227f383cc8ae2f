"""The tables of SPEC section 1.

Every row that belongs to an organisation carries `org_id` (directly, or through its
parent row) so the org scoping of a tenant context has one column to filter on.
Copies remember their source row (`source_*_id`); a unique key on (org, source) is the
backstop that makes every copy exactly-once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from tenantctl.store.types import Money


class TableModel(SQLModel):
    """The base of every table: pydantic builds a table's validator on first use, not at
    import (a table row is not validated when made; every command imports every table)."""

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


class Organisation(TableModel, table=True):
    __tablename__ = "organisation"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=10)  # root | tenant
    parent_id: int | None = _fk("organisation.id")
    edition: str = Field(default="premium", max_length=10)  # basic | premium
    language: str = Field(default="en", max_length=10)
    timezone: str = Field(default="UTC", max_length=64)
    date_format: str = Field(default="YYYY-MM-DD", max_length=20)
    currency: str = Field(max_length=3)
    country: str = Field(max_length=2)
    client_id: str | None = Field(default=None, max_length=64, unique=True)
    # setup (a tenant whose creation has not finished) | active | suspended | deleted
    status: str = Field(default="active", max_length=12)
    created_at: datetime = Field(default_factory=utcnow)


class Account(TableModel, table=True):
    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("org_id", "code", name="uq_account_org_code"),
        UniqueConstraint("org_id", "source_account_id", name="uq_account_org_source"),
        UniqueConstraint("backorder_event_id", name="uq_account_backorder_event"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    kind: str = Field(default="customer", max_length=10)  # customer | reseller
    bill_to_id: int | None = _fk("account.id")
    ordering_enabled: bool = Field(default=True)
    currency: str = Field(max_length=3)
    country: str = Field(max_length=2)
    accounting_number: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=200)
    billing_address: str | None = Field(default=None, max_length=500)
    # pricing options
    price_list_id: int | None = _fk("price_list.id")
    billing_day: int = Field(default=1)
    payment_method: str = Field(default="invoice", max_length=30)
    credit_limit: Decimal | None = _money()
    invoicing_options: str | None = Field(default=None, max_length=200)
    separate_invoices: bool = Field(default=False)
    # the tenant org that manages this account once it became a back-ordering record
    managed_by_org_id: int | None = _fk("organisation.id")
    source_account_id: int | None = _fk("account.id")
    # A customer copied up by back-ordering: the event that copied it (delivered once).
    backorder_event_id: int | None = _event()
    created_at: datetime = Field(default_factory=utcnow)


class Contact(TableModel, table=True):
    __tablename__ = "contact"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = _fk("account.id", nullable=False, ondelete="CASCADE")
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    role: str | None = Field(default=None, max_length=50)


class SyncRecord(TableModel, table=True):
    """Provisioning sync of an account with a platform (OSS, Acronis, ...)."""

    __tablename__ = "sync_record"
    __table_args__ = (UniqueConstraint("account_id", "platform", name="uq_sync_account_platform"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = _fk("account.id", nullable=False, ondelete="CASCADE")
    platform: str = Field(max_length=20)
    status: str = Field(default="synced", max_length=20)  # synced | pending | failed
    external_id: str | None = Field(default=None, max_length=100)


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


class PriceList(TableModel, table=True):
    __tablename__ = "price_list"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_price_list_org_name"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    name: str = Field(max_length=120)
    currency: str = Field(max_length=3)
    created_at: datetime = Field(default_factory=utcnow)


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


class Subscription(TableModel, table=True):
    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("org_id", "code", name="uq_subscription_org_code"),
        UniqueConstraint("org_id", "source_subscription_id", name="uq_subscription_org_source"),
        UniqueConstraint("backorder_event_id", name="uq_subscription_backorder_event"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    code: str = Field(max_length=64)
    account_id: int = _fk("account.id", nullable=False)
    product_id: int = _fk("product.id", nullable=False)
    unit: str = Field(max_length=20)
    quantity: int
    unit_price: Decimal = _money(nullable=False)
    currency: str = Field(max_length=3)
    status: str = Field(default="active", max_length=12)
    start_date: date
    auto_renew: bool = Field(default=True)
    paid: bool = Field(default=True)
    billing_day: int = Field(default=1)
    characteristics: dict = json_field()
    source_subscription_id: int | None = _fk("subscription.id")
    # A mirror's name in the parent: "End customer - Product".
    name: str | None = Field(default=None, max_length=300)
    # A mirror made by back-ordering: the event that made it (delivered once).
    backorder_event_id: int | None = _event()
    created_at: datetime = Field(default_factory=utcnow)


class SubscriptionAddon(TableModel, table=True):
    __tablename__ = "subscription_addon"
    __table_args__ = (UniqueConstraint("subscription_id", "product_id", name="uq_addon"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = _fk("subscription.id", nullable=False, ondelete="CASCADE")
    product_id: int = _fk("product.id", nullable=False)
    quantity: int


class Asset(TableModel, table=True):
    """A software subscription or an Azure reservation."""

    __tablename__ = "asset"
    __table_args__ = (
        UniqueConstraint("org_id", "code", name="uq_asset_org_code"),
        UniqueConstraint("org_id", "source_asset_id", name="uq_asset_org_source"),
        UniqueConstraint("backorder_event_id", name="uq_asset_backorder_event"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    code: str = Field(max_length=64)
    account_id: int = _fk("account.id", nullable=False)
    product_id: int = _fk("product.id", nullable=False)
    kind: str = Field(max_length=30)  # software-subscription | azure-reservation
    quantity: int
    purchase_date: date
    status: str = Field(default="active", max_length=12)  # active | expired | cancelled
    characteristics: dict = json_field()
    source_asset_id: int | None = _fk("asset.id")
    # A mirror's name in the parent: "End customer - Product".
    name: str | None = Field(default=None, max_length=300)
    # A mirror made by back-ordering: the event that made it (delivered once).
    backorder_event_id: int | None = _event()
    created_at: datetime = Field(default_factory=utcnow)


class SalesOrder(TableModel, table=True):
    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("org_id", "number", name="uq_order_org_number"),
        UniqueConstraint("backorder_event_id", name="uq_order_backorder_event"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    number: str = Field(max_length=64)
    account_id: int = _fk("account.id", nullable=False)
    bill_to_id: int | None = _fk("account.id")
    order_date: date
    order_type: str = Field(max_length=20)  # new | change | cancel | add-on | trial-to-paid
    origin: str | None = Field(default=None, max_length=300)
    status: str = Field(default="completed", max_length=12)
    # The subscription or asset the sale was of (the quantity history billing reads).
    subscription_id: int | None = _fk("subscription.id")
    asset_id: int | None = _fk("asset.id")
    # An order made in a parent by back-ordering: the event it came from (delivered once).
    backorder_event_id: int | None = _event()
    created_at: datetime = Field(default_factory=utcnow)


class OrderLine(TableModel, table=True):
    __tablename__ = "order_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = _fk("sales_order.id", nullable=False, ondelete="CASCADE")
    product_id: int = _fk("product.id", nullable=False)
    unit: str | None = Field(default=None, max_length=20)
    quantity: int
    unit_price: Decimal = _money(nullable=False)
    currency: str = Field(max_length=3)
    # The quantity of this product on the subscription after the sale (0: removed or
    # cancelled), in force from the order's date.
    quantity_after: int | None = Field(default=None)


class TenantReseller(TableModel, table=True):
    """The link from a reseller account in the parent org to its tenant org."""

    __tablename__ = "tenant_reseller"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column_args=[ForeignKey("account.id")], unique=True)
    parent_org_id: int = _fk("organisation.id", nullable=False)
    org_id: int | None = Field(
        default=None, sa_column_args=[ForeignKey("organisation.id")], unique=True
    )
    price_list_id: int = _fk("price_list.id", nullable=False)
    price_list_revision: int | None = Field(default=None)
    edition: str = Field(max_length=10)
    separate_invoices: bool = Field(default=False)
    phase: str = Field(default="setup", max_length=20)  # setup | customers-copied | live
    backorder_state: str = Field(default="off", max_length=10)  # off | on | paused
    status: str = Field(default="in-progress", max_length=12)  # in-progress | active | ...
    # The administrator to create, held only until the creation process has made the user.
    admin_username: str | None = Field(default=None, max_length=100)
    admin_email: str | None = Field(default=None, max_length=200)
    admin_password_hash: str | None = Field(default=None, max_length=300)
    # The process that creates it: only that process may build it (a tenant discarded and
    # asked for again is built by the new process; a retry of the old one is refused).
    creation_process_id: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


class UserGroup(TableModel, table=True):
    __tablename__ = "user_group"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_group_org_name"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    name: str = Field(max_length=100)
    modules: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class User(TableModel, table=True):
    __tablename__ = "app_user"
    __table_args__ = (UniqueConstraint("org_id", "username", name="uq_user_org_username"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    group_id: int | None = _fk("user_group.id")
    username: str = Field(max_length=100)
    email: str = Field(max_length=200)
    password_hash: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class ProvisioningSetting(TableModel, table=True):
    """A platform's provisioning settings in an org: what the reseller may edit, what it sees."""

    __tablename__ = "provisioning_setting"
    __table_args__ = (UniqueConstraint("org_id", "platform", name="uq_provisioning_org_platform"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    platform: str = Field(max_length=20)
    editable: dict = json_field()
    read_only: dict = json_field()


class Storefront(TableModel, table=True):
    """A premium tenant's white-label storefront."""

    __tablename__ = "storefront"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(sa_column_args=[ForeignKey("organisation.id")], unique=True)
    name: str = Field(max_length=200)
    branding: dict = json_field()


class TenantUpdateLog(TableModel, table=True):
    """The update tenant log: one entry per catalogue change applied to a tenant."""

    __tablename__ = "tenant_update_log"
    __table_args__ = (
        # One entry per change of one update: the backstop that makes applying exactly-once.
        UniqueConstraint(
            "tenant_id", "process_id", "change", "sku", "unit", name="uq_update_log_change"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = _fk("tenant_reseller.id", nullable=False)
    org_id: int = _fk("organisation.id", nullable=False)
    process_id: int
    from_revision: int | None = Field(default=None)
    to_revision: int
    change: str = Field(max_length=30)
    sku: str = Field(max_length=120)
    unit: str = Field(default="", max_length=20)
    old_value: str | None = Field(default=None, max_length=300)
    new_value: str | None = Field(default=None, max_length=300)
    at: datetime = Field(default_factory=utcnow)


class BackorderEvent(TableModel, table=True):
    """The outbox of back-ordering: one change in a tenant that its parent must mirror.

    Written in the same transaction as the change (SPEC section 7); delivered in id order,
    each in one transaction with its `delivered_at` mark. The parent's rows the delivery
    makes carry the event's id under a unique key, so no event is applied twice.
    """

    __tablename__ = "backorder_event"
    __table_args__ = (
        Index("ix_backorder_event_pending", "tenant_id", "delivered_at", "id"),
        # The worker's sweep: which tenants have anything pending at all.
        Index("ix_backorder_event_undelivered", "delivered_at", "tenant_id"),
    )

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer, "sqlite")
    )
    tenant_id: int = _fk("tenant_reseller.id", nullable=False, index=False)
    org_id: int = _fk("organisation.id", nullable=False)  # the tenant org it happened in
    subject: str = Field(max_length=20)  # customer | subscription | asset
    action: str = Field(max_length=20)  # new | change | add-on | trial-to-paid | cancel | edit
    subject_id: int  # the tenant's row
    order_id: int | None = Field(default=None)  # the tenant's order of the sale
    effective_date: date | None = Field(default=None)
    payload: dict = json_field()
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = Field(default=None)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)


class BillingCycle(TableModel, table=True):
    """A cycle billed to a tenant reseller: recorded once per (reseller, cycle), even when
    nothing was billed in it (SPEC section 8). Never changes once written."""

    __tablename__ = "billing_cycle"
    __table_args__ = (UniqueConstraint("account_id", "period", name="uq_billing_cycle"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    account_id: int = _fk("account.id", nullable=False, index=False)  # the reseller
    period: str = Field(max_length=7)  # YYYY-MM
    start_date: date
    end_date: date
    currency: str = Field(max_length=3)
    issued_at: datetime = Field(default_factory=utcnow)


class Invoice(TableModel, table=True):
    """An issued invoice or credit note (numbered per org, gap-free). Never changes."""

    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("org_id", "number", name="uq_invoice_org_number"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False, index=False)
    cycle_id: int = _fk("billing_cycle.id", nullable=False)
    account_id: int = _fk("account.id", nullable=False)  # the reseller billed
    customer_id: int | None = _fk("account.id", index=False)  # a separate invoice's customer
    number: str = Field(max_length=20)
    kind: str = Field(max_length=12)  # invoice | credit-note
    currency: str = Field(max_length=3)
    total: Decimal = _money(nullable=False)
    issued_on: date
    issued_at: datetime = Field(default_factory=utcnow)


class InvoiceLine(TableModel, table=True):
    """A line of an issued invoice, with what it names kept as text (it never changes)."""

    __tablename__ = "invoice_line"

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = _fk("invoice.id", nullable=False)
    position: int
    item_key: str = Field(max_length=100)
    period: str = Field(max_length=7)  # the cycle billed (an adjustment: the one corrected)
    kind: str = Field(max_length=12)
    customer_id: int = _fk("account.id", nullable=False, index=False)
    customer_code: str = Field(max_length=64)
    customer_name: str = Field(max_length=200)
    subject: str = Field(max_length=12)  # subscription | asset
    subject_code: str = Field(max_length=64)
    sku: str = Field(max_length=120)
    product_name: str = Field(max_length=300)
    unit: str | None = Field(default=None, max_length=20)
    quantity: int
    charged: str = Field(max_length=200)
    unit_price: Decimal = _money(nullable=False)
    amount: Decimal = _money(nullable=False)
    revision: int | None = Field(default=None)
    note: str | None = Field(default=None, max_length=300)
    corrects: str | None = Field(default=None, max_length=20)


class InvoiceCounter(TableModel, table=True):
    """The last number issued per org and series (INV, CN); never reset."""

    __tablename__ = "invoice_counter"

    org_id: int = Field(sa_column_args=[ForeignKey("organisation.id")], primary_key=True)
    series: str = Field(max_length=4, primary_key=True)
    last: int = Field(default=0)

"""What is sold: subscriptions and their add-ons, assets, orders and their lines."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.accounts  # noqa: F401
import tenantctl.store.models.catalogue  # noqa: F401
import tenantctl.store.models.orgs  # noqa: F401
from tenantctl.store.models import TableModel, _event, _fk, _money, json_field, utcnow


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

"""Billing (SPEC section 8): the cycles billed, the invoices issued, their lines and
numbers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.accounts  # noqa: F401
import tenantctl.store.models.orgs  # noqa: F401
from tenantctl.store.models import TableModel, _fk, _money, utcnow


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

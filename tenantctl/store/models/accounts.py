"""Accounts: the customers and resellers of an org (their contacts and syncs are in
`account_details`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.orgs  # noqa: F401
import tenantctl.store.models.price_lists  # noqa: F401
from tenantctl.store.models import TableModel, _event, _fk, _money, utcnow


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

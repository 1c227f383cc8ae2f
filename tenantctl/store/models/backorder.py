"""The outbox of back-ordering (SPEC section 7)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, Integer
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.orgs  # noqa: F401
import tenantctl.store.models.tenants  # noqa: F401
from tenantctl.store.models import TableModel, _fk, json_field, utcnow


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

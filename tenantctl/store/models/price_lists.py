"""Price lists: what a reseller or a customer is priced by (their revisions and items
are in `catalogue`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.orgs  # noqa: F401
from tenantctl.store.models import TableModel, _fk, utcnow


class PriceList(TableModel, table=True):
    __tablename__ = "price_list"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_price_list_org_name"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    name: str = Field(max_length=120)
    currency: str = Field(max_length=3)
    created_at: datetime = Field(default_factory=utcnow)

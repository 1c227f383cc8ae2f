"""Price lists and their revisions (the items they list are in `catalogue`)."""

from __future__ import annotations

from datetime import date, datetime

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

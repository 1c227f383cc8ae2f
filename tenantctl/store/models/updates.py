"""The update tenant log: the catalogue changes `tenant update` applied to each tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.orgs  # noqa: F401
import tenantctl.store.models.tenants  # noqa: F401
from tenantctl.store.models import TableModel, _fk, utcnow


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

"""Tenant resellers: the link from a reseller account to its tenant org."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.accounts  # noqa: F401
import tenantctl.store.models.orgs  # noqa: F401
import tenantctl.store.models.price_lists  # noqa: F401
from tenantctl.store.models import TableModel, _fk, utcnow


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

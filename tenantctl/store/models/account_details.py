"""What an account holds besides itself: its contacts and its sync records with the
provisioning platforms."""

from __future__ import annotations

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.accounts  # noqa: F401
from tenantctl.store.models import TableModel, _fk


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

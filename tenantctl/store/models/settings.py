"""An org's provisioning settings per platform and its storefront."""

from __future__ import annotations

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.orgs  # noqa: F401
from tenantctl.store.models import TableModel, _fk, json_field


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

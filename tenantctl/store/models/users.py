"""An org's users and their groups."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field

# The submodules of the tables its foreign keys name (see tenantctl.store.models).
import tenantctl.store.models.orgs  # noqa: F401
from tenantctl.store.models import TableModel, _fk, utcnow


class UserGroup(TableModel, table=True):
    __tablename__ = "user_group"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_group_org_name"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    name: str = Field(max_length=100)
    modules: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class User(TableModel, table=True):
    __tablename__ = "app_user"
    __table_args__ = (UniqueConstraint("org_id", "username", name="uq_user_org_username"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organisation.id", nullable=False)
    group_id: int | None = _fk("user_group.id")
    username: str = Field(max_length=100)
    email: str = Field(max_length=200)
    password_hash: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow)

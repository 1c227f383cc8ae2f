"""Organisations: the distributor's root and every tenant org it made."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field

from tenantctl.store.models import TableModel, _fk, utcnow


class Organisation(TableModel, table=True):
    __tablename__ = "organisation"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=10)  # root | tenant
    parent_id: int | None = _fk("organisation.id")
    edition: str = Field(default="premium", max_length=10)  # basic | premium
    language: str = Field(default="en", max_length=10)
    timezone: str = Field(default="UTC", max_length=64)
    date_format: str = Field(default="YYYY-MM-DD", max_length=20)
    currency: str = Field(max_length=3)
    country: str = Field(max_length=2)
    client_id: str | None = Field(default=None, max_length=64, unique=True)
    # setup (a tenant whose creation has not finished) | active | suspended | deleted
    status: str = Field(default="active", max_length=12)
    created_at: datetime = Field(default_factory=utcnow)

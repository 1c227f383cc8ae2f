"""The process queue's tables: processes, their tasks, and their log.

A process is one long operation (create a tenant, update a tenant, ...) made of ordered
tasks. Workers claim a process under a lease; `fence` counts the claims so a worker that
lost its lease can tell, inside its own transaction, that it no longer owns the process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Text, UniqueConstraint, text
from sqlmodel import Field

from tenantctl.process_states import PENDING, QUEUED
from tenantctl.store.models import TableModel, json_field, utcnow

# The one-active-process-per-lock-key rule, as SQL both SQLite and PostgreSQL accept in a
# partial index (the migration repeats this text; keep them the same).
ACTIVE_LOCK_WHERE = "status IN ('queued', 'running') AND lock_key IS NOT NULL"


def _json_nullable() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


class Process(TableModel, table=True):
    """A queued long operation: its kind, parameters, status, lease and outcome."""

    __tablename__ = "process"
    __table_args__ = (
        # At most one queued or running process per lock key ("one tenant create per
        # account"); the database enforces it, so two racing enqueues cannot both win.
        Index(
            "uq_process_active_lock_key",
            "lock_key",
            unique=True,
            sqlite_where=text(ACTIVE_LOCK_WHERE),
            postgresql_where=text(ACTIVE_LOCK_WHERE),
        ),
        # What `claim` scans: runnable processes, oldest first.
        Index("ix_process_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=100, index=True)
    title: str = Field(max_length=300)
    params: dict = json_field()
    status: str = Field(default=QUEUED, max_length=12)
    attempt: int = Field(default=0)
    max_attempts: int = Field(default=3)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None)
    # Incremented by every claim; a worker's writes are valid only while it still matches.
    fence: int = Field(default=0)
    # Claims in this attempt that took the process over from a worker whose lease ran out
    # (it died, or stalled); past QueueSettings.max_takeovers the process is failed instead.
    takeovers: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Not claimable before this time (retry backoff).
    not_before: datetime = Field(default_factory=utcnow)
    error: str | None = Field(default=None, sa_type=Text)
    # The exit code of the error that failed it (SPEC section 10), for a CLI that ran it.
    exit_code: int | None = Field(default=None)
    result: dict | None = _json_nullable()
    lock_key: str | None = Field(default=None, max_length=200)
    # The organisation that started it: it sees its own processes only (None: the store's,
    # seen by the root alone).
    owner_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = Field(default=None)
    finished_at: datetime | None = Field(default=None)


class ProcessTask(TableModel, table=True):
    """One step of a process, with its progress and the checkpoint it resumes from."""

    __tablename__ = "process_task"
    __table_args__ = (UniqueConstraint("process_id", "position", name="uq_process_task_position"),)

    id: int | None = Field(default=None, primary_key=True)
    process_id: int = Field(
        sa_column_args=[ForeignKey("process.id", ondelete="CASCADE")], index=True
    )
    position: int
    name: str = Field(max_length=200)
    status: str = Field(default=PENDING, max_length=12)
    done: int = Field(default=0)
    total: int | None = Field(default=None)
    checkpoint: dict = json_field()
    started_at: datetime | None = Field(default=None)
    finished_at: datetime | None = Field(default=None)


class ProcessLog(TableModel, table=True):
    """One line of a process's log (never a secret: messages are redacted on the way in)."""

    __tablename__ = "process_log"

    id: int | None = Field(default=None, primary_key=True)
    process_id: int = Field(
        sa_column_args=[ForeignKey("process.id", ondelete="CASCADE")], index=True
    )
    task_id: int | None = Field(
        default=None,
        sa_column_args=[ForeignKey("process_task.id", ondelete="CASCADE")],
        index=True,
    )
    at: datetime = Field(default_factory=utcnow)
    level: str = Field(default="info", max_length=10)  # info | warning | error
    message: str = Field(sa_type=Text)

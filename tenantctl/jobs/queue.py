"""Enqueue, claim, and the fenced transactions a claimed process is worked in.

Claiming: a worker takes the oldest runnable process, either queued (and past its
backoff) or running under a lease that has run out (its worker died: taken over). The
claim sets a lease and increments `fence`. On PostgreSQL the candidate row is picked
with `FOR UPDATE SKIP LOCKED`, so concurrent workers pass each other by; on SQLite the
whole claim runs under BEGIN IMMEDIATE (one writer at a time) and the UPDATE repeats the
claimable test as a guard.

Fencing: every write a worker makes for a process goes through `fenced_session`, which
first checks, in the same transaction, that the process is still running under this
worker's claim (same fence), and renews the lease before it commits. A worker that
stalled past its lease and was taken over therefore commits nothing more: its next
transaction raises `LeaseLost` and rolls back.

Times that decide leases and backoff come from the database's clock on PostgreSQL, so
workers on several hosts agree; an SQLite store lives on one host, whose clock is used.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tenantctl.errors import BadInput, Busy, Conflict, TenantctlError
from tenantctl.jobs.models import Process, ProcessLog, ProcessTask
from tenantctl.jobs.redaction import redact, refuse_secrets
from tenantctl.jobs.registry import get_kind, registered_kinds
from tenantctl.process_states import (
    ACTIVE_STATUSES,
    CANCELLED,
    FAILED,
    PENDING,
    QUEUED,
    RUNNING,
    TASK_FAILED,
    TASK_RUNNING,
)
from tenantctl.store.engine import write_session
from tenantctl.store.models import utcnow

logger = logging.getLogger("tenantctl.jobs")

P = Process.__table__
T = ProcessTask.__table__
L = ProcessLog.__table__

DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_BACKOFF_SECONDS = 2.0
DEFAULT_BACKOFF_CAP_SECONDS = 600.0
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_MAX_TAKEOVERS = 10


@dataclass(frozen=True)
class QueueSettings:
    """How long leases last, how retries back off, how often idle workers look again, and
    how many dead workers one attempt may outlive.

    A failed attempt N (1-based) waits `backoff_seconds * 2**(N-1)`, at most
    `backoff_cap_seconds`, before the process may be claimed again. A process whose
    worker died (its lease ran out) is taken over in the same attempt, at most
    `max_takeovers` times: a process that kills every worker that runs it (out of memory,
    say) is failed then, rather than taken over forever.
    """

    lease_seconds: float = DEFAULT_LEASE_SECONDS
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS
    backoff_cap_seconds: float = DEFAULT_BACKOFF_CAP_SECONDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    max_takeovers: int = DEFAULT_MAX_TAKEOVERS

    @classmethod
    def from_env(cls) -> QueueSettings:
        """The defaults, overridden by TENANTCTL_LEASE_SECONDS, TENANTCTL_RETRY_BACKOFF_SECONDS,
        TENANTCTL_RETRY_BACKOFF_CAP_SECONDS, TENANTCTL_WORKER_POLL_SECONDS and
        TENANTCTL_MAX_TAKEOVERS."""
        return cls(
            lease_seconds=_env_seconds("TENANTCTL_LEASE_SECONDS", DEFAULT_LEASE_SECONDS),
            backoff_seconds=_env_seconds(
                "TENANTCTL_RETRY_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS
            ),
            backoff_cap_seconds=_env_seconds(
                "TENANTCTL_RETRY_BACKOFF_CAP_SECONDS", DEFAULT_BACKOFF_CAP_SECONDS
            ),
            poll_seconds=_env_seconds("TENANTCTL_WORKER_POLL_SECONDS", DEFAULT_POLL_SECONDS),
            max_takeovers=_env_count("TENANTCTL_MAX_TAKEOVERS", DEFAULT_MAX_TAKEOVERS),
        )

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ATTEMPT (1-based)."""
        if self.backoff_seconds <= 0:
            return 0.0
        return min(self.backoff_cap_seconds, self.backoff_seconds * 2 ** max(attempt - 1, 0))


def _env_seconds(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number of seconds")


def _env_count(name: str, default: int) -> int:
    return _env_number(name, default, int, "a whole number")


def _env_number(name: str, default, convert, what: str):
    """The environment variable NAME read by CONVERT, DEFAULT when unset or blank; not
    negative."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = convert(raw)
    except ValueError:
        raise BadInput(f"{name}: {raw!r} is not {what}") from None
    if not math.isfinite(value):
        raise BadInput(f"{name}: {raw!r} is not {what}")
    if value < 0:
        raise BadInput(f"{name}: {raw!r} must not be negative")
    return value


class LeaseLost(Conflict):
    """This worker no longer owns the process (taken over after its lease ran out, or
    cancelled); whatever it was about to write has been rolled back."""

    def __init__(self, process_id: int, reason: str):
        self.process_id = process_id
        self.reason = reason
        super().__init__(f"process {process_id}: lease lost: {reason}")


class ProcessBusy(Busy):
    """Another queued or running process holds the same lock key (exit code 4)."""

    def __init__(self, process_id: int, title: str, status: str, lock_key: str):
        self.process_id = process_id
        self.lock_key = lock_key
        super().__init__(
            f"process {process_id} ({title}) is already {status}: "
            f"wait for it (`tenantctl process show {process_id}`) or cancel it"
        )


@dataclass(frozen=True)
class ClaimedProcess:
    """A process this worker holds under a lease; `fence` identifies this claim."""

    id: int
    kind: str
    title: str
    params: dict
    attempt: int
    max_attempts: int
    fence: int
    worker_id: str
    # Taken over from a worker whose lease ran out (rather than claimed from the queue).
    taken_over_from: str | None = None


def default_worker_id() -> str:
    """A worker id unique across hosts and restarts: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def db_now(session: Session) -> datetime:
    """The time by the clock leases are measured with (see the module docstring)."""
    if session.get_bind().dialect.name == "postgresql":
        # clock_timestamp(), not now(): the time of this statement, not of BEGIN.
        return session.execute(select(func.clock_timestamp())).scalar_one()
    return utcnow()


def add_log(
    session: Session,
    process_id: int,
    message: str,
    *,
    level: str = "info",
    task_id: int | None = None,
) -> None:
    """Append a (redacted) line to a process's log, in SESSION's transaction."""
    session.execute(
        insert(L).values(
            process_id=process_id,
            task_id=task_id,
            at=utcnow(),
            level=level,
            message=redact(message),
        )
    )


def to_json_value(value: Any, what: str) -> Any:
    """VALUE as it will read back from a JSON column; TypeError if JSON cannot hold it."""
    # A JSON round-trip stores exactly what a step will read back (tuples become lists)
    # and rejects what JSON cannot hold (Decimal, dates) before anything is written.
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable: {exc}") from None


# -- enqueue --------------------------------------------------------------------------


def enqueue(
    target: Engine | Session,
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    title: str,
    lock_key: str | None = None,
    max_attempts: int | None = None,
    owner_id: int | None = None,
) -> int:
    """Queue a process of a registered KIND; returns its id.

    TARGET is an engine (the process is committed at once) or a write session (it
    commits with the caller's other writes). PARAMS must be JSON and must not carry a
    secret (refused). With LOCK_KEY, ProcessBusy (exit 4) if another queued or running
    process holds the same key. OWNER_ID: the organisation that started it (who may see it).
    """
    spec = get_kind(kind)
    params = dict(params or {})
    refuse_secrets(params)
    params = to_json_value(params, f"parameters of a {kind} process")
    attempts = spec.max_attempts if max_attempts is None else max_attempts
    if attempts < 1:
        raise BadInput(f"max_attempts must be at least 1, not {attempts}")
    if isinstance(target, Engine):
        with write_session(target) as session:
            return _enqueue(
                session, spec.kind, spec.task_names, params, title, lock_key, attempts, owner_id
            )
    return _enqueue(target, spec.kind, spec.task_names, params, title, lock_key, attempts, owner_id)


def _enqueue(
    session: Session,
    kind: str,
    task_names: Sequence[str],
    params: dict,
    title: str,
    lock_key: str | None,
    max_attempts: int,
    owner_id: int | None,
) -> int:
    if lock_key is not None:
        raise_if_lock_held(session, lock_key)
    now = db_now(session)
    try:
        # A savepoint, so that losing a race on the lock key leaves the caller's
        # transaction usable for finding who won (PostgreSQL aborts it otherwise).
        with session.begin_nested():
            process_id = session.execute(
                insert(P)
                .values(
                    kind=kind,
                    title=title,
                    params=params,
                    status=QUEUED,
                    attempt=0,
                    max_attempts=max_attempts,
                    fence=0,
                    not_before=now,
                    lock_key=lock_key,
                    owner_id=owner_id,
                    created_at=now,
                )
                .returning(P.c.id)
            ).scalar_one()
    except IntegrityError:
        if lock_key is not None:
            raise_if_lock_held(session, lock_key)
        raise
    session.execute(insert(T), [new_task(process_id, n, name) for n, name in enumerate(task_names)])
    add_log(session, process_id, f"queued: {title}")
    return process_id


def new_task(process_id: int, position: int, name: str) -> dict[str, Any]:
    """The row of a task not started yet: pending, nothing done, no checkpoint."""
    return {
        "process_id": process_id,
        "position": position,
        "name": name,
        "status": PENDING,
        "done": 0,
        "total": None,
        "checkpoint": {},
    }


def raise_if_lock_held(session: Session, lock_key: str, *, other_than: int | None = None) -> None:
    """ProcessBusy if a queued or running process (other than OTHER_THAN) holds LOCK_KEY."""
    query = select(P.c.id, P.c.title, P.c.status).where(
        P.c.lock_key == lock_key, P.c.status.in_(ACTIVE_STATUSES)
    )
    if other_than is not None:
        query = query.where(P.c.id != other_than)
    holder = session.execute(query.limit(1)).first()
    if holder is not None:
        raise ProcessBusy(holder.id, holder.title, holder.status, lock_key)


# -- claim ----------------------------------------------------------------------------


def _claimable(now: datetime):
    return or_(
        and_(P.c.status == QUEUED, P.c.not_before <= now),
        and_(P.c.status == RUNNING, P.c.lease_expires_at <= now),
    )


def claim(
    engine: Engine,
    worker_id: str,
    kinds: Sequence[str] | None = None,
    *,
    settings: QueueSettings | None = None,
) -> ClaimedProcess | None:
    """Claim the oldest runnable process of KINDS for WORKER_ID; None when there is none.

    KINDS defaults to every kind registered in this program: a worker never claims what
    it cannot run. A running process whose lease ran out is taken over (same attempt);
    a queued one starts a new attempt.
    """
    kinds = registered_kinds() if kinds is None else list(kinds)
    if not kinds:
        return None
    settings = settings or QueueSettings.from_env()
    with write_session(engine) as session:
        now = db_now(session)
        return _claim(session, and_(_claimable(now), P.c.kind.in_(kinds)), worker_id, now, settings)


def claim_process(
    engine: Engine, process_id: int, worker_id: str, *, settings: QueueSettings | None = None
) -> ClaimedProcess | None:
    """Claim the process PROCESS_ID if it is runnable now (same rules as `claim`), else None."""
    settings = settings or QueueSettings.from_env()
    with write_session(engine) as session:
        now = db_now(session)
        return _claim(
            session, and_(_claimable(now), P.c.id == process_id), worker_id, now, settings
        )


def _claim(
    session: Session, condition, worker_id: str, now: datetime, settings: QueueSettings
) -> ClaimedProcess | None:
    while True:
        pick = (
            select(P.c.id, P.c.status, P.c.lease_owner, P.c.takeovers)
            .where(condition)
            .order_by(P.c.id)
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            # Rows another worker is claiming or writing to are passed by, not waited for.
            pick = pick.with_for_update(skip_locked=True)
        candidate = session.execute(pick).first()
        if candidate is None:
            return None
        if candidate.status == RUNNING and candidate.takeovers >= settings.max_takeovers:
            if not _give_up(session, candidate, condition, worker_id, now):
                return None
            continue
        return _take(session, candidate, condition, worker_id, now, settings)


def _take(
    session: Session, candidate, condition, worker_id: str, now: datetime, settings: QueueSettings
) -> ClaimedProcess | None:
    lease_expires_at = now + timedelta(seconds=settings.lease_seconds)
    queued = P.c.status == QUEUED
    # The guard repeats the claimable test: under SQLite's BEGIN IMMEDIATE and
    # PostgreSQL's row lock it cannot fail, and if a caller ever claims outside those it
    # turns a double claim into a missed one.
    row = session.execute(
        update(P)
        .where(P.c.id == candidate.id, condition)
        .values(
            status=RUNNING,
            lease_owner=worker_id,
            lease_expires_at=lease_expires_at,
            fence=P.c.fence + 1,
            attempt=case((queued, P.c.attempt + 1), else_=P.c.attempt),
            takeovers=case((queued, 0), else_=P.c.takeovers + 1),
            started_at=func.coalesce(P.c.started_at, now),
        )
        .returning(
            P.c.id,
            P.c.kind,
            P.c.title,
            P.c.params,
            P.c.attempt,
            P.c.max_attempts,
            P.c.fence,
            P.c.takeovers,
        )
    ).first()
    if row is None:
        return None
    taken_over_from = candidate.lease_owner if candidate.status == RUNNING else None
    if taken_over_from:
        add_log(
            session,
            row.id,
            f"taken over by worker {worker_id} from {taken_over_from}, "
            f"whose lease ran out (attempt {row.attempt} of {row.max_attempts}, "
            f"take-over {row.takeovers} of {settings.max_takeovers})",
        )
    else:
        add_log(
            session,
            row.id,
            f"claimed by worker {worker_id} (attempt {row.attempt} of {row.max_attempts})",
        )
    return ClaimedProcess(
        id=row.id,
        kind=row.kind,
        title=row.title,
        params=dict(row.params or {}),
        attempt=row.attempt,
        max_attempts=row.max_attempts,
        fence=row.fence,
        worker_id=worker_id,
        taken_over_from=taken_over_from,
    )


def _give_up(session: Session, candidate, condition, worker_id: str, now: datetime) -> bool:
    """Fail a process whose workers keep dying: its lease ran out again after as many
    take-overs as the settings allow. A worker of it that is only stalled, not dead,
    loses its lease at its next write (the process is no longer running)."""
    error = (
        f"its worker died (lease ran out) {candidate.takeovers + 1} times in one "
        "attempt: killed, out of memory, or stalled past its lease? See the workers' "
        "hosts; "
        f"`tenantctl process retry {candidate.id}` resumes it from its last checkpoint"
    )
    failed = session.execute(
        update(P)
        .where(P.c.id == candidate.id, condition)
        .values(
            status=FAILED,
            error=error,
            exit_code=TenantctlError.exit_code,
            finished_at=now,
            lease_expires_at=None,
        )
        .returning(P.c.id)
    ).first()
    if failed is None:
        return False
    session.execute(
        update(T)
        .where(T.c.process_id == candidate.id, T.c.status == TASK_RUNNING)
        .values(status=TASK_FAILED)
    )
    add_log(
        session,
        candidate.id,
        f"{error}; the process failed (noticed by worker {worker_id}, which did not take it over)",
        level="error",
    )
    logger.warning("process %s failed: %s", candidate.id, error)
    return True


# -- fenced work ----------------------------------------------------------------------


@contextmanager
def fenced_session(
    engine: Engine, claimed: ClaimedProcess, settings: QueueSettings
) -> Iterator[Session]:
    """A write transaction that only commits while CLAIMED still holds its process.

    It checks the claim first (raising LeaseLost if another claim or a cancel came
    between), and renews the lease as the last thing before committing, so the lease
    runs from the moment the work was saved.
    """
    with write_session(engine) as session:
        verify_claim(session, claimed)
        yield session
        renew_lease(session, claimed, settings)


def verify_claim(session: Session, claimed: ClaimedProcess) -> None:
    """Raise LeaseLost unless CLAIMED still holds its process.

    On PostgreSQL the row is locked (FOR UPDATE) until the transaction ends, so no claim
    or cancel can slip in between this check and the caller's commit (a claimer passes
    a locked row by); on SQLite the write session's BEGIN IMMEDIATE already excludes
    every other writer. An expired lease that nobody took over still holds: the fence
    is what tells whether someone did.
    """
    check = select(P.c.status, P.c.lease_owner, P.c.fence).where(P.c.id == claimed.id)
    if session.get_bind().dialect.name == "postgresql":
        check = check.with_for_update()
    row = session.execute(check).first()
    if row is None:
        raise LeaseLost(claimed.id, "the process no longer exists")
    if row.status == CANCELLED:
        raise LeaseLost(claimed.id, "it was cancelled")
    if row.fence != claimed.fence:
        raise LeaseLost(claimed.id, f"it was claimed again since, by {row.lease_owner}")
    if row.status != RUNNING or row.lease_owner != claimed.worker_id:
        raise LeaseLost(claimed.id, f"it is {row.status} now")


def renew_lease(session: Session, claimed: ClaimedProcess, settings: QueueSettings) -> None:
    """Extend CLAIMED's lease to a full lease from now, in SESSION's (fenced) transaction.

    Only while the process is still running: a transaction that just finished it, failed
    it or queued it again leaves it without a lease.
    """
    session.execute(
        update(P)
        .where(P.c.id == claimed.id, P.c.fence == claimed.fence, P.c.status == RUNNING)
        .values(lease_expires_at=db_now(session) + timedelta(seconds=settings.lease_seconds))
    )

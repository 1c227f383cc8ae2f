"""What an operator does with processes: list, show, read the log, retry, cancel.

Plain functions over an engine returning plain dataclasses; `tenantctl process ...`
renders them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tenantctl import process_states as states
from tenantctl.errors import BadInput, Conflict, NotFound, Refused
from tenantctl.jobs import registry
from tenantctl.jobs.queue import L, P, T, add_log, db_now, raise_if_lock_held
from tenantctl.store.engine import read_session, write_session


@dataclass(frozen=True)
class TaskInfo:
    """One task of a process as `process show` lists it."""

    id: int
    position: int
    name: str
    status: str
    done: int
    total: int | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class ProcessInfo:
    """A process with its tasks, as `process list` and `process show` present it."""

    id: int
    kind: str
    title: str
    status: str
    attempt: int
    max_attempts: int
    params: dict
    result: dict | None
    error: str | None
    exit_code: int | None
    lock_key: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    fence: int
    takeovers: int  # in this attempt, from workers that died (their lease ran out)
    not_before: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    tasks: list[TaskInfo] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Whether the process has reached a final status (succeeded, failed, cancelled)."""
        return self.status in states.FINAL_STATUSES

    @property
    def tasks_done(self) -> int:
        """How many tasks are behind it (done or skipped)."""
        return sum(1 for t in self.tasks if t.status in (states.DONE, states.SKIPPED))

    @property
    def current_task(self) -> TaskInfo | None:
        """The first task not yet done or skipped (None when all are)."""
        return next((t for t in self.tasks if t.status not in (states.DONE, states.SKIPPED)), None)


@dataclass(frozen=True)
class LogEntry:
    """One line of a process's log."""

    id: int
    process_id: int
    task_id: int | None
    task_name: str | None
    at: datetime
    level: str
    message: str


_PROCESS_COLUMNS = (
    P.c.id,
    P.c.kind,
    P.c.title,
    P.c.status,
    P.c.attempt,
    P.c.max_attempts,
    P.c.params,
    P.c.result,
    P.c.error,
    P.c.exit_code,
    P.c.lock_key,
    P.c.lease_owner,
    P.c.lease_expires_at,
    P.c.fence,
    P.c.takeovers,
    P.c.not_before,
    P.c.created_at,
    P.c.started_at,
    P.c.finished_at,
)
_TASK_COLUMNS = (
    T.c.id,
    T.c.position,
    T.c.name,
    T.c.status,
    T.c.done,
    T.c.total,
    T.c.started_at,
    T.c.finished_at,
)


def _tasks_of(session: Session, process_ids: list[int]) -> dict[int, list[TaskInfo]]:
    by_process: dict[int, list[TaskInfo]] = defaultdict(list)
    if not process_ids:
        return by_process
    rows = session.execute(
        select(T.c.process_id, *_TASK_COLUMNS)
        .where(T.c.process_id.in_(process_ids))
        .order_by(T.c.process_id, T.c.position)
    )
    for row in rows:
        process_id, *values = row
        by_process[process_id].append(TaskInfo(*values))
    return by_process


def _info(row, tasks: list[TaskInfo]) -> ProcessInfo:
    values = row._asdict()
    values["params"] = dict(values["params"] or {})
    return ProcessInfo(**values, tasks=tasks)


def _visible(query, owner: int | None):
    """QUERY limited to the processes OWNER started (None: every process, for the root)."""
    return query if owner is None else query.where(P.c.owner_id == owner)


def list_processes(
    engine: Engine,
    status: str | None = None,
    *,
    kind: str | None = None,
    limit: int = 50,
    owner: int | None = None,
) -> list[ProcessInfo]:
    """The newest processes first (with their tasks), optionally of one STATUS or KIND;
    with OWNER, only those that organisation started."""
    if status is not None and status not in states.PROCESS_STATUSES:
        raise BadInput(f"--status: {status!r} is not one of {', '.join(states.PROCESS_STATUSES)}")
    query = _visible(select(*_PROCESS_COLUMNS).order_by(P.c.id.desc()).limit(limit), owner)
    if status is not None:
        query = query.where(P.c.status == status)
    if kind is not None:
        query = query.where(P.c.kind == kind)
    with read_session(engine) as session:
        rows = session.execute(query).all()
        tasks = _tasks_of(session, [r.id for r in rows])
    return [_info(r, tasks[r.id]) for r in rows]


# Process ids are INTEGER columns: a larger number names no process (and would overflow
# the driver's integer before the query could say so).
_MAX_ID = 2**31 - 1


def _check_id(process_id: int) -> None:
    if not 1 <= process_id <= _MAX_ID:
        raise NotFound(f"no process {process_id}")


def _get(session: Session, process_id: int, owner: int | None = None) -> ProcessInfo:
    _check_id(process_id)
    row = session.execute(
        _visible(select(*_PROCESS_COLUMNS).where(P.c.id == process_id), owner)
    ).first()
    if row is None:
        raise NotFound(f"no process {process_id}")
    return _info(row, _tasks_of(session, [process_id])[process_id])


def get_process(engine: Engine, process_id: int, owner: int | None = None) -> ProcessInfo:
    """The process PROCESS_ID with its tasks (name, status, done/total); NotFound if none
    (or if OWNER, when given, did not start it: another org's process is not there)."""
    with read_session(engine) as session:
        return _get(session, process_id, owner)


def logs(
    engine: Engine,
    process_id: int,
    after_id: int | None = None,
    limit: int | None = None,
    owner: int | None = None,
) -> list[LogEntry]:
    """The log of PROCESS_ID, oldest first; only entries after AFTER_ID (for --follow)."""
    query = (
        select(L.c.id, L.c.process_id, L.c.task_id, T.c.name, L.c.at, L.c.level, L.c.message)
        .select_from(L.outerjoin(T, T.c.id == L.c.task_id))
        .where(L.c.process_id == process_id)
        .order_by(L.c.id)
    )
    _check_id(process_id)
    if after_id is not None:
        query = query.where(L.c.id > after_id)
    if limit is not None:
        query = query.limit(limit)
    with read_session(engine) as session:
        if (
            session.execute(_visible(select(P.c.id).where(P.c.id == process_id), owner)).first()
            is None
        ):
            raise NotFound(f"no process {process_id}")
        return [LogEntry(*row) for row in session.execute(query)]


def _lock_row(session: Session, process_id: int, owner: int | None):
    # Lock the process row first, as a worker's fenced transaction does, so an operator's
    # change waits for the worker's batch to commit instead of interleaving with it.
    _check_id(process_id)
    query = select(
        P.c.id, P.c.title, P.c.status, P.c.lock_key, P.c.lease_owner, P.c.kind, P.c.params
    ).where(P.c.id == process_id)
    query = _visible(query, owner)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.execute(query).first()
    if row is None:
        raise NotFound(f"no process {process_id}")
    return row


@dataclass(frozen=True)
class ProcessState:
    """A process's id and status, read under its row lock."""

    id: int
    status: str

    @property
    def active(self) -> bool:
        """Queued or running: a worker has it, or will."""
        return self.status in states.ACTIVE_STATUSES


def lock_process(
    session: Session,
    process_id: int | None = None,
    *,
    kind: str | None = None,
    lock_key: str | None = None,
) -> ProcessState | None:
    """Process PROCESS_ID (or the newest of KIND under LOCK_KEY), its row locked until
    SESSION's transaction ends, so a concurrent retry or cancel of it waits; None if none."""
    query = select(P.c.id, P.c.status)
    if process_id is not None:
        query = query.where(P.c.id == process_id)
    else:
        query = (
            query.where(P.c.kind == kind, P.c.lock_key == lock_key).order_by(P.c.id.desc()).limit(1)
        )
    row = session.execute(query.with_for_update()).first()
    return ProcessState(row.id, row.status) if row is not None else None


def retry(engine: Engine, process_id: int, owner: int | None = None) -> ProcessInfo:
    """Queue a failed or cancelled process again; it resumes where it stopped.

    Tasks already done stay done and the interrupted task keeps its checkpoint; the
    attempt and take-over counts start again, so it gets its full number of each.
    """
    with write_session(engine) as session:
        row = _lock_row(session, process_id, owner)
        if row.status not in (states.FAILED, states.CANCELLED):
            raise Conflict(
                f"process {process_id} is {row.status}: "
                "only a failed or cancelled process can be retried"
            )
        kind = registry._REGISTRY.get(row.kind)
        refused = (
            kind.retry_refused(session, process_id, row.params or {})
            if (kind is not None and kind.retry_refused is not None)
            else None
        )
        if refused:
            raise Refused(f"process {process_id} cannot be retried: {refused}")
        if row.lock_key is not None:
            raise_if_lock_held(session, row.lock_key, other_than=process_id)
        now = db_now(session)
        try:
            with session.begin_nested():
                session.execute(
                    update(P)
                    .where(P.c.id == process_id)
                    .values(
                        status=states.QUEUED,
                        attempt=0,
                        takeovers=0,
                        not_before=now,
                        error=None,
                        exit_code=None,
                        finished_at=None,
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                )
        except IntegrityError:
            # Another process took the lock key between the check and the update.
            raise_if_lock_held(session, row.lock_key, other_than=process_id)
            raise
        session.execute(
            update(T)
            .where(
                T.c.process_id == process_id,
                T.c.status.in_((states.TASK_FAILED, states.TASK_RUNNING)),
            )
            .values(status=states.PENDING)
        )
        info = _get(session, process_id)
        task = info.current_task
        add_log(
            session,
            process_id,
            "retried by an operator; resumes at "
            + (f"task {task.position + 1} ({task.name})" if task else "its end"),
        )
    return get_process(engine, process_id)


def cancel(engine: Engine, process_id: int, owner: int | None = None) -> ProcessInfo:
    """Cancel a queued or running process (a cancelled one is left as it is).

    A running one stops at its worker's next transaction (which finds it cancelled and
    rolls back); what it committed before stays, and `retry` resumes from there.
    """
    with write_session(engine) as session:
        row = _lock_row(session, process_id, owner)
        if row.status == states.CANCELLED:
            return _get(session, process_id)
        if row.status not in (states.QUEUED, states.RUNNING):
            raise Conflict(
                f"process {process_id} is {row.status} already: "
                "only a queued or running process can be cancelled"
            )
        now = db_now(session)
        session.execute(
            update(P)
            .where(P.c.id == process_id)
            .values(status=states.CANCELLED, finished_at=now, lease_expires_at=None)
        )
        session.execute(
            update(T)
            .where(T.c.process_id == process_id, T.c.status == states.TASK_RUNNING)
            .values(status=states.PENDING)
        )
        was = (
            f" (it was running on worker {row.lease_owner})" if row.status == states.RUNNING else ""
        )
        add_log(session, process_id, f"cancelled by an operator{was}", level="warning")
    return get_process(engine, process_id)

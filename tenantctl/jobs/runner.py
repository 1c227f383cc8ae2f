"""Running processes: the step context, one process's run, the worker loop, the foreground.

The rules a run follows:
- Tasks run in order; a task already `done` or `skipped` is passed over, and the
  interrupted one starts again from its last committed checkpoint.
- Everything a worker writes goes through a fenced transaction (`ctx.transaction()`), so
  a worker that lost its process (lease taken over, or cancelled) commits nothing more;
  `LeaseLost` makes it stop at once without writing.
- A step that raises one of the project's own errors (a `TenantctlError` such as a
  failed checklist or a refused rule) fails the process at once: retrying cannot make a
  rule pass. Any other exception (a lost connection, a deadlock, a bug that may be
  transient) is retried with exponential backoff until `max_attempts`, then fails it.
- Asked to stop (SIGTERM/SIGINT, or the `stop` event), a worker stops at the next
  transaction boundary and queues the process again for another worker to resume.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from tenantctl import process_states as states
from tenantctl.errors import Busy, Conflict, NotFound, TenantctlError
from tenantctl.jobs.manage import ProcessInfo, get_process
from tenantctl.jobs.queue import (
    ClaimedProcess,
    LeaseLost,
    P,
    QueueSettings,
    T,
    add_log,
    claim,
    claim_process,
    db_now,
    default_worker_id,
    fenced_session,
    new_task,
    to_json_value,
)
from tenantctl.jobs.redaction import redact
from tenantctl.jobs.registry import ProcessKind, get_kind, registered_kinds, sweepers
from tenantctl.store.engine import read_session

logger = logging.getLogger("tenantctl.jobs")

ProgressFn = Callable[[str, int, int | None], None]


class WorkerStopping(BaseException):
    """The worker was asked to stop; raised at the next transaction boundary.

    A BaseException so that a step's `except Exception` cannot swallow it.
    """


class TaskSkipped(Exception):
    """Raised by `ctx.skip(reason)`: the task does not apply to this process."""


# What requests handed to the first run of the process they queued, when this program runs
# it next (in the foreground): a check passed, a plan made, in the transaction that queued
# it. Only that first run here takes it; a worker, a retry or a resumed run works it out
# again (the store may have changed).
_handed: dict[int, Any] = {}


def hand_over(process_id: int, value: Any = True) -> None:
    """Give VALUE to the first run of PROCESS_ID in this program (`TaskContext.handed_over`),
    when this program queued the process and runs it next."""
    _handed[process_id] = value


class TaskContext:
    """What a step function works with: its parameters, checkpoint and fenced transactions.

    A step is written to be re-run: it reads `ctx.checkpoint` (the last committed one),
    skips what it says is done, and commits each batch together with the new checkpoint:

        with ctx.transaction() as session:
            session.execute(insert(...), rows)
            ctx.save(session, checkpoint={"after": last_id}, done=n, total=total)
    """

    def __init__(
        self,
        run: _Run,
        task_id: int,
        position: int,
        name: str,
        checkpoint: dict,
        done: int,
        total: int | None,
    ):
        self._run = run
        self.task_id = task_id
        self.position = position
        self.task_name = name
        self.checkpoint: dict = dict(checkpoint or {})
        self.done: int = done
        self.total: int | None = total
        self._session: Session | None = None
        self._pending: dict[str, Any] = {}

    @property
    def params(self) -> dict:
        """The process's parameters (as JSON gave them back)."""
        return self._run.params

    @property
    def process_id(self) -> int:
        return self._run.claimed.id

    @property
    def attempt(self) -> int:
        """Which attempt this is (1 for the first); a take-over continues the same attempt."""
        return self._run.claimed.attempt

    def handed_over(self) -> Any:
        """What the request that queued this process handed to its first run in this
        program (`hand_over`), taken once; None on a retry, a resumed run or elsewhere."""
        value = _handed.pop(self.process_id, None)
        return value if self.attempt == 1 else None

    @property
    def worker_id(self) -> str:
        return self._run.claimed.worker_id

    @property
    def engine(self) -> Engine:
        """The store, for reads outside a transaction (write only through `transaction`)."""
        return self._run.engine

    @property
    def result(self) -> dict:
        """The process's result (e.g. the new tenant's client id), shown when it is done.

        Changes are saved with the next fenced transaction: the step's own, or the one
        that marks the task done when the step returns.
        """
        return self._run.result

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction fenced by this worker's lease; commits on leaving the block.

        Raises LeaseLost (and writes nothing) if another worker took the process over or
        it was cancelled; renews the lease otherwise. Save the checkpoint inside it with
        `ctx.save`, so the work and the checkpoint commit together or not at all.
        """
        if self._session is not None:
            raise RuntimeError("ctx.transaction() does not nest")
        self._pending = {}
        with self._run.transaction() as session:
            self._session = session
            try:
                yield session
            finally:
                self._session = None
        # Committed: what was saved is now the task's state.
        pending, self._pending = self._pending, {}
        if "checkpoint" in pending:
            self.checkpoint = pending["checkpoint"]
        if "done" in pending:
            self.done = pending["done"]
        if "total" in pending:
            self.total = pending["total"]
        if pending.keys() & {"done", "total"}:
            self._run.progress(self.task_name, self.done, self.total)

    def save(
        self,
        session: Session,
        *,
        checkpoint: dict | None = None,
        done: int | None = None,
        total: int | None = None,
    ) -> None:
        """Record the task's progress in SESSION's transaction (that of `ctx.transaction()`).

        CHECKPOINT replaces the previous one (None keeps it); DONE and TOTAL are counts
        for the progress bar (None keeps them).
        """
        if session is not self._session:
            raise RuntimeError("ctx.save() needs the session of the ctx.transaction() it is in")
        values: dict[str, Any] = {}
        if checkpoint is not None:
            values["checkpoint"] = to_json_value(checkpoint, f"checkpoint of {self.task_name!r}")
        if done is not None:
            values["done"] = int(done)
        if total is not None:
            values["total"] = int(total)
        if values:
            session.execute(update(T).where(T.c.id == self.task_id).values(**values))
            self._pending.update(values)

    def set_total(self, total: int) -> None:
        """Set how many items this task has (in the current transaction, or in its own)."""
        if self._session is not None:
            self.save(self._session, total=total)
            return
        with self.transaction() as session:
            self.save(session, total=total)

    def log(self, message: str, level: str = "info") -> None:
        """Add a line to the process's log, with this task's name; secrets are blanked out.

        Inside `ctx.transaction()` it commits with that transaction's work (so the log
        never claims what was rolled back); outside, it is fenced on its own.
        """
        if self._session is not None:
            add_log(self._session, self.process_id, message, level=level, task_id=self.task_id)
            return
        with self._run.transaction(save_result=False) as session:
            add_log(session, self.process_id, message, level=level, task_id=self.task_id)

    def skip(self, reason: str) -> NoReturn:
        """End this task as `skipped` with REASON (it does not apply to this process)."""
        raise TaskSkipped(reason)


class _Run:
    """One worker's run of one claimed process."""

    def __init__(
        self,
        engine: Engine,
        claimed: ClaimedProcess,
        spec: ProcessKind,
        settings: QueueSettings,
        on_progress: ProgressFn | None,
        stop: threading.Event | None,
    ):
        self.engine = engine
        self.claimed = claimed
        self.spec = spec
        self.settings = settings
        self.on_progress = on_progress
        self.stop = stop
        self.params = dict(claimed.params)
        self.result: dict = {}
        self._saved_result = "{}"
        self._reported: dict[str, tuple[int, int | None]] = {}

    def progress(self, name: str, done: int, total: int | None) -> None:
        # Only changes are reported: a progress bar needs nothing else.
        if self.on_progress is not None and self._reported.get(name) != (done, total):
            self._reported[name] = (done, total)
            self.on_progress(name, done, total)

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise WorkerStopping()

    @contextmanager
    def transaction(
        self, *, save_result: bool = True, check_stop: bool = True
    ) -> Iterator[Session]:
        if check_stop:
            self.check_stop()
        snapshot = None
        with fenced_session(self.engine, self.claimed, self.settings) as session:
            yield session
            if save_result:
                snapshot = json.dumps(
                    to_json_value(self.result, "the process result"), sort_keys=True
                )
                if snapshot != self._saved_result:
                    session.execute(
                        update(P)
                        .where(P.c.id == self.claimed.id)
                        .values(result=json.loads(snapshot))
                    )
        if snapshot is not None:
            self._saved_result = snapshot

    # -- the run ----------------------------------------------------------------------

    def execute(self) -> None:
        current: TaskContext | None = None
        try:
            tasks = self._prepare()
            count = len(self.spec.tasks)
            for position, (name, step) in enumerate(self.spec.tasks):
                row = tasks[position]
                if row.status in (states.DONE, states.SKIPPED):
                    self.progress(name, row.done, row.total)
                    continue
                current = TaskContext(
                    self, row.id, position, name, row.checkpoint, row.done, row.total
                )
                self._start(current, count)
                try:
                    step(current)
                except TaskSkipped as skipped:
                    self._finish(current, count, states.SKIPPED, str(skipped))
                else:
                    self._finish(current, count, states.DONE)
                current = None
            self._succeed()
        except LeaseLost as lost:
            # Someone else owns the process now (or it was cancelled): write nothing.
            logger.warning("%s; worker %s stops it", lost, self.claimed.worker_id)
        except (WorkerStopping, KeyboardInterrupt):
            self._release(current)
            raise
        except TenantctlError as exc:
            self._fail(current, exc, retryable=False)
        except Exception as exc:
            logger.debug("process %s failed", self.claimed.id, exc_info=True)
            self._fail(current, exc, retryable=True)

    def _prepare(self) -> list:
        """Load the tasks (creating rows a kind gained since it was queued) and the result."""
        with self.transaction(save_result=False) as session:
            rows = {
                r.position: r
                for r in session.execute(
                    select(
                        T.c.id, T.c.position, T.c.status, T.c.done, T.c.total, T.c.checkpoint
                    ).where(T.c.process_id == self.claimed.id)
                )
            }
            missing = [
                new_task(self.claimed.id, position, name)
                for position, name in enumerate(self.spec.task_names)
                if position not in rows
            ]
            if missing:
                session.execute(T.insert(), missing)
                rows.update(
                    {
                        r.position: r
                        for r in session.execute(
                            select(
                                T.c.id,
                                T.c.position,
                                T.c.status,
                                T.c.done,
                                T.c.total,
                                T.c.checkpoint,
                            ).where(
                                T.c.process_id == self.claimed.id,
                                T.c.position.in_([m["position"] for m in missing]),
                            )
                        )
                    }
                )
            stored = session.execute(
                select(P.c.result).where(P.c.id == self.claimed.id)
            ).scalar_one()
        self.result = dict(stored or {})
        self._saved_result = json.dumps(self.result, sort_keys=True)
        return [rows[position] for position in range(len(self.spec.tasks))]

    def _label(self, ctx: TaskContext, count: int) -> str:
        return f"task {ctx.position + 1}/{count} ({ctx.task_name})"

    def _start(self, ctx: TaskContext, count: int) -> None:
        with self.transaction(save_result=False) as session:
            now = db_now(session)
            session.execute(
                update(T)
                .where(T.c.id == ctx.task_id)
                .values(status=states.TASK_RUNNING, started_at=func.coalesce(T.c.started_at, now))
            )
            if ctx.checkpoint or ctx.done:
                total = "?" if ctx.total is None else ctx.total
                message = (
                    f"{self._label(ctx, count)} resumed from its checkpoint "
                    f"({ctx.done} of {total} done)"
                )
            else:
                message = f"{self._label(ctx, count)} started"
            add_log(session, self.claimed.id, message, task_id=ctx.task_id)
        self.progress(ctx.task_name, ctx.done, ctx.total)

    def _finish(self, ctx: TaskContext, count: int, status: str, reason: str = "") -> None:
        # A task that never said how much it had counts as all of what it did.
        total = ctx.done if ctx.total is None else ctx.total
        with self.transaction() as session:
            now = db_now(session)
            session.execute(
                update(T)
                .where(T.c.id == ctx.task_id)
                .values(status=status, finished_at=now, total=total)
            )
            if status == states.SKIPPED:
                message = f"{self._label(ctx, count)} skipped: {reason}"
            else:
                message = f"{self._label(ctx, count)} done: {ctx.done} of {total}"
            add_log(session, self.claimed.id, message, task_id=ctx.task_id)
        ctx.total = total
        self.progress(ctx.task_name, ctx.done, total)

    def _succeed(self) -> None:
        with self.transaction() as session:
            now = db_now(session)
            session.execute(
                update(P)
                .where(P.c.id == self.claimed.id)
                .values(
                    status=states.SUCCEEDED,
                    finished_at=now,
                    lease_expires_at=None,
                    error=None,
                    exit_code=None,
                )
            )
            add_log(session, self.claimed.id, "succeeded")

    def _fail(self, ctx: TaskContext | None, exc: BaseException, *, retryable: bool) -> None:
        # The project's errors are written for the user; others need their type to mean much.
        detail = _told(exc)
        where = self._label(ctx, len(self.spec.tasks)) if ctx else "the run"
        error = redact(f"{where} failed: {detail}")
        attempt, attempts = self.claimed.attempt, self.claimed.max_attempts
        final = not retryable or attempt >= attempts
        try:
            with self.transaction(save_result=False, check_stop=False) as session:
                now = db_now(session)
                if ctx is not None:
                    session.execute(
                        update(T).where(T.c.id == ctx.task_id).values(status=states.TASK_FAILED)
                    )
                task_id = ctx.task_id if ctx else None
                if final:
                    exit_code = exc.exit_code if isinstance(exc, TenantctlError) else 1
                    session.execute(
                        update(P)
                        .where(P.c.id == self.claimed.id)
                        .values(
                            status=states.FAILED,
                            error=error,
                            exit_code=exit_code,
                            finished_at=now,
                            lease_expires_at=None,
                        )
                    )
                    why = (
                        "a rule refused it, which retrying cannot change"
                        if not retryable
                        else f"after {attempt} of {attempts} attempts"
                    )
                    add_log(
                        session,
                        self.claimed.id,
                        f"{error}; the process failed ({why})",
                        level="error",
                        task_id=task_id,
                    )
                else:
                    delay = self.settings.backoff(attempt)
                    session.execute(
                        update(P)
                        .where(P.c.id == self.claimed.id)
                        .values(
                            status=states.QUEUED,
                            error=error,
                            lease_owner=None,
                            lease_expires_at=None,
                            not_before=now + timedelta(seconds=delay),
                        )
                    )
                    add_log(
                        session,
                        self.claimed.id,
                        f"{error} (attempt {attempt} of {attempts}); "
                        f"retrying in {delay:g} s from its last checkpoint",
                        level="warning",
                        task_id=task_id,
                    )
        except LeaseLost as lost:
            logger.warning("%s; its failure is left to the worker that owns it", lost)

    def _release(self, ctx: TaskContext | None) -> None:
        release(self.engine, self.claimed, self.settings, ctx.task_id if ctx else None)


def _anything_active(engine: Engine, kinds: Sequence[str] | None) -> bool:
    """Whether any process of KINDS (default: this program's) is queued or running."""
    with read_session(engine) as session:
        return (
            session.execute(
                select(P.c.id)
                .where(
                    P.c.status.in_(states.ACTIVE_STATUSES),
                    P.c.kind.in_(list(kinds) if kinds is not None else registered_kinds()),
                )
                .limit(1)
            ).first()
            is not None
        )


def _told(exc: BaseException) -> str:
    """One line on what went wrong: never the SQL statement or a link to the docs."""
    if isinstance(exc, TenantctlError):
        return str(exc)
    if isinstance(exc, DBAPIError):
        if (
            exc.connection_invalidated
            or isinstance(exc, OperationalError)
            and any(
                word in str(exc.orig).lower()
                for word in ("connection", "terminating", "server closed")
            )
        ):
            return "connection to the database lost"
        first = (str(exc.orig).strip().splitlines() or [""])[0]
        return f"{type(exc.orig).__name__}: {first}"
    return f"{type(exc).__name__}: {exc}"


def release(
    engine: Engine, claimed: ClaimedProcess, settings: QueueSettings, task_id: int | None = None
) -> None:
    """Give a claimed process back to the queue, without counting the attempt it was on.

    For a worker that stops before the process ends (a signal, or a kind it cannot run):
    another worker claims it at once instead of waiting for the lease to run out.
    """
    try:
        with fenced_session(engine, claimed, settings) as session:
            now = db_now(session)
            # The next claim adds the attempt back, so the attempt number stays the same.
            session.execute(
                update(P)
                .where(P.c.id == claimed.id)
                .values(
                    status=states.QUEUED,
                    attempt=P.c.attempt - 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    not_before=now,
                )
            )
            if task_id is not None:
                session.execute(update(T).where(T.c.id == task_id).values(status=states.PENDING))
            add_log(
                session,
                claimed.id,
                f"worker {claimed.worker_id} let go of it; it is "
                "queued again and resumes from its last checkpoint",
                level="warning",
            )
    except LeaseLost:
        pass


# -- running one process --------------------------------------------------------------


def run_process(
    engine: Engine,
    process: int | ClaimedProcess,
    worker_id: str | None = None,
    *,
    on_progress: ProgressFn | None = None,
    settings: QueueSettings | None = None,
    stop: threading.Event | None = None,
) -> ProcessInfo:
    """Run a process to its end (or until it must wait for a retry); returns its state.

    PROCESS is a claim already made, or a process id to claim now (Busy if another worker
    holds it, Conflict if it is not runnable). ON_PROGRESS(task_name, done, total) is
    called whenever a task's committed progress changes (total is None while unknown; a
    finished task ends with done == total). The returned state may be `queued` (a failed
    attempt waits for its retry), `running` (the lease was lost to another worker), or
    final.
    """
    settings = settings or QueueSettings.from_env()
    if isinstance(process, ClaimedProcess):
        claimed = process
    else:
        info = get_process(engine, process)
        get_kind(info.kind)
        claimed = claim_process(
            engine, process, worker_id or default_worker_id(), settings=settings
        )
        if claimed is None:
            raise _not_runnable(get_process(engine, process))
    try:
        spec = get_kind(claimed.kind)
    except NotFound:
        release(engine, claimed, settings)
        raise
    _Run(engine, claimed, spec, settings, on_progress, stop).execute()
    return get_process(engine, claimed.id)


def _not_runnable(info: ProcessInfo) -> TenantctlError:
    if info.status == states.RUNNING:
        return Busy(f"process {info.id} is running on worker {info.lease_owner}")
    if info.status == states.QUEUED:
        return Busy(
            f"process {info.id} waits to retry until {info.not_before:%Y-%m-%d %H:%M:%S} UTC"
        )
    return Conflict(f"process {info.id} is {info.status}: there is nothing left to run")


def run_in_foreground(
    engine: Engine,
    process_id: int,
    on_progress: ProgressFn | None = None,
    *,
    worker_id: str | None = None,
    settings: QueueSettings | None = None,
    poll_interval: float | None = None,
    stop: threading.Event | None = None,
) -> ProcessInfo:
    """Run PROCESS_ID here and now, through its retries, and return its final state.

    If a worker already holds it (or this program cannot run its kind), follow it
    instead: report its progress from the task rows until it ends. Interrupted (Ctrl-C),
    the process is queued again for a worker to finish.
    """
    settings = settings or QueueSettings.from_env()
    worker_id = worker_id or default_worker_id()
    poll = settings.poll_seconds if poll_interval is None else poll_interval
    reported: dict[str, tuple[int, int | None]] = {}

    def report(name: str, done: int, total: int | None) -> None:
        if on_progress is not None and reported.get(name) != (done, total):
            reported[name] = (done, total)
            on_progress(name, done, total)

    while True:
        info = get_process(engine, process_id)
        if not info.finished and info.kind in registered_kinds():
            claimed = claim_process(engine, process_id, worker_id, settings=settings)
            if claimed is not None:
                info = run_process(
                    engine, claimed, worker_id, on_progress=report, settings=settings, stop=stop
                )
        for task in info.tasks:
            report(task.name, task.done, task.total)
        if info.finished:
            return info
        # Another worker runs it, or it waits for its retry: look again shortly.
        if stop is not None:
            if stop.wait(poll):
                raise WorkerStopping()
        else:
            time.sleep(poll)


# -- the worker loop ------------------------------------------------------------------


@dataclass
class WorkerReport:
    """What a worker did: the processes it ran (their state when it let go of them)."""

    worker_id: str
    processes: list[ProcessInfo] = field(default_factory=list)
    # Asked to stop (signal or stop event) rather than running out of work.
    stopped: bool = False
    # What the registered sweepers did (back-ordering: events delivered).
    swept: int = 0


def _sweep(engine: Engine) -> int:
    """Run every registered sweeper once; one that fails is logged and tried next round."""
    done = 0
    for name, fn in sweepers().items():
        try:
            done += fn(engine)
        except Exception:
            logger.exception("sweeper %s failed; it runs again on the next round", name)
    return done


@contextmanager
def _stop_on_signals(
    stop: threading.Event, enabled: bool, on_stopping: Callable[[], None] | None = None
) -> Iterator[None]:
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop.is_set():
            # Asked twice: do not wait for the transaction boundary any longer.
            raise KeyboardInterrupt
        logger.warning("signal %s: stopping at the next transaction boundary", signum)
        stop.set()
        if on_stopping is not None:
            on_stopping()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def worker(
    engine: Engine,
    worker_id: str | None = None,
    *,
    once: bool = False,
    until_empty: bool = False,
    kinds: Sequence[str] | None = None,
    poll_interval: float | None = None,
    settings: QueueSettings | None = None,
    on_process: Callable[[ProcessInfo], None] | None = None,
    stop: threading.Event | None = None,
    handle_signals: bool = True,
    on_start: Callable[[ClaimedProcess], None] | None = None,
    on_stopping: Callable[[], None] | None = None,
) -> WorkerReport:
    """Claim and run processes until stopped; any number may run against one store.

    Each round first runs the registered sweepers (see `register_sweeper`).
    ONCE: run at most one process, and return at once when none is queued or running
    (one running elsewhere is waited for, to be taken over if its worker dies).
    UNTIL_EMPTY: stop as soon as nothing is claimable (a process another live worker
    runs is not), except that a retry of a process this worker ran is waited for until it
    falls due; without it an idle worker looks again every POLL_INTERVAL seconds.
    SIGTERM/SIGINT stop it at the next transaction boundary (the process is queued
    again; ON_STOPPING is told); a second one at once. ON_START is called with each
    process claimed, ON_PROCESS with its state when the worker lets go of it. An
    error of the store itself ends the worker; its process is taken over when the lease
    runs out.
    """
    settings = settings or QueueSettings.from_env()
    worker_id = worker_id or default_worker_id()
    poll = settings.poll_seconds if poll_interval is None else poll_interval
    stop = stop or threading.Event()
    report = WorkerReport(worker_id)
    retrying: set[int] = set()  # processes this worker ran that wait for their retry
    with _stop_on_signals(stop, handle_signals, on_stopping):
        while not stop.is_set():
            report.swept += _sweep(engine)
            claimed = claim(engine, worker_id, kinds, settings=settings)
            if claimed is None:
                if once and not _anything_active(engine, kinds):
                    break
                if until_empty:
                    retrying = {
                        i for i in retrying if get_process(engine, i).status == states.QUEUED
                    }
                    if not retrying:
                        break
                stop.wait(poll)
                continue
            if on_start is not None:
                on_start(claimed)
            try:
                info = run_process(engine, claimed, worker_id, settings=settings, stop=stop)
            except WorkerStopping:
                report.processes.append(get_process(engine, claimed.id))
                break
            report.processes.append(info)
            if info.status == states.QUEUED:
                retrying.add(info.id)
            if on_process is not None:
                on_process(info)
            if once:
                break
    report.stopped = stop.is_set()
    return report

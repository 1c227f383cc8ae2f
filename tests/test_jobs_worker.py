"""Running processes in-process: tasks and checkpoints, retries, refusals, cancelling,
fencing, stopping, the worker loop and the foreground runner."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from tenantctl.errors import Busy, Conflict, NotFound
from tenantctl.jobs import (
    ProcessKind,
    QueueSettings,
    WorkerStopping,
    cancel,
    claim,
    claim_process,
    enqueue,
    get_process,
    logs,
    register,
    retry,
    run_in_foreground,
    run_process,
    worker,
)
from tenantctl.jobs.models import Process
from tenantctl.jobs.registry import unregister
from tenantctl.store.engine import write_session
from tenantctl.store.models import utcnow
from tests.conftest import postgres_only
from tests.jobs_worker_main import (
    FAST,
    ROWS,
    create_test_tables,
    register_test_kinds,
    rows_of,
    unregister_test_kinds,
    wait_until,
    writers_of,
)

P = Process.__table__


@pytest.fixture
def jobs(engine):
    register_test_kinds()
    create_test_tables(engine)
    yield engine
    unregister_test_kinds()


@pytest.fixture
def kinds():
    """Register throw-away kinds for one test; forgets them afterwards."""
    names = []

    def add(kind: ProcessKind) -> ProcessKind:
        names.append(kind.kind)
        return register(kind, replace=True)

    yield add
    for name in names:
        unregister(name)


def _queue(engine, n: int, **params) -> int:
    max_attempts = params.pop("max_attempts", None)
    return enqueue(
        engine, "test.count", {"n": n, **params}, title=f"count to {n}", max_attempts=max_attempts
    )


def _messages(engine, pid: int) -> list[str]:
    return [e.message for e in logs(engine, pid)]


def _expire_lease(engine, pid: int) -> None:
    with write_session(engine) as session:
        session.execute(
            update(P).where(P.c.id == pid).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def test_a_process_runs_every_task_in_order_with_progress_and_result(jobs):
    pid = _queue(jobs, 25, batch=10)
    seen = []
    info = run_process(jobs, pid, "worker-a", settings=FAST, on_progress=lambda *p: seen.append(p))
    assert (info.status, info.attempt, info.error, info.result) == (
        "succeeded",
        1,
        None,
        {"rows": 25},
    )
    assert [(t.name, t.status, t.done, t.total) for t in info.tasks] == [
        ("prepare", "done", 0, 0),
        ("count rows", "done", 25, 25),
        ("finish", "done", 0, 0),
    ]
    assert all(t.started_at and t.finished_at for t in info.tasks)
    assert info.lease_expires_at is None and info.finished_at is not None
    assert rows_of(jobs, pid) == list(range(25))
    count = [(done, total) for name, done, total in seen if name == "count rows"]
    assert count == [(0, None), (0, 25), (10, 25), (20, 25), (25, 25)]
    messages = _messages(jobs, pid)
    for expected in (
        "task 1/3 (prepare) started",
        "preparing to count to 25",
        "task 2/3 (count rows) done: 25 of 25",
        "succeeded",
    ):
        assert expected in messages
    task_of = {e.message: e.task_name for e in logs(jobs, pid)}
    assert task_of["counting from 0"] == "count rows" and task_of["succeeded"] is None


def test_a_task_may_skip_itself(jobs):
    pid = _queue(jobs, 3, skip_prepare=True)
    info = run_process(jobs, pid, "w", settings=FAST)
    assert [t.status for t in info.tasks] == ["skipped", "done", "done"]
    assert "task 1/3 (prepare) skipped: nothing to prepare" in _messages(jobs, pid)


def test_a_rule_refusal_fails_the_process_at_once(jobs):
    pid = _queue(jobs, 3, refuse="the reseller account is not enabled for ordering")
    info = run_process(jobs, pid, "w", settings=FAST)
    assert (info.status, info.attempt, info.exit_code) == ("failed", 1, 3)
    assert info.error == (
        "task 1/3 (prepare) failed: the reseller account is not enabled for ordering"
    )
    assert [t.status for t in info.tasks] == ["failed", "pending", "pending"]
    last = logs(jobs, pid)[-1]
    assert last.level == "error" and "retrying cannot change" in last.message
    assert last.task_name == "prepare"
    assert claim(jobs, "w", settings=FAST) is None


def test_a_failing_step_is_retried_after_a_backoff_then_fails(jobs):
    pid = _queue(jobs, 40, batch=10, fail_at=15)
    slow = QueueSettings(lease_seconds=2.0, backoff_seconds=60.0)
    info = run_process(jobs, pid, "w", settings=slow)
    # Rows 0-19 were committed in two batches; the failure came before row 20.
    assert (info.status, info.attempt) == ("queued", 1)
    assert info.not_before >= info.created_at + timedelta(seconds=59)
    assert [(t.status, t.done) for t in info.tasks] == [("done", 0), ("failed", 20), ("pending", 0)]
    # Waiting out its backoff, it is not claimable; a worker that runs until empty ends.
    assert claim(jobs, "w", settings=slow) is None
    assert worker(jobs, "w", until_empty=True, settings=slow).processes == []
    with pytest.raises(Busy, match="waits to retry"):
        run_process(jobs, pid, "w", settings=slow)

    # The minute passes; with no backoff after that, attempts 2 and 3 run at once and
    # the last one fails the process.
    with write_session(jobs) as session:
        session.execute(update(P).where(P.c.id == pid).values(not_before=utcnow()))
    report = worker(jobs, "w", until_empty=True, settings=FAST)
    assert [p.status for p in report.processes] == ["queued", "failed"]
    info = get_process(jobs, pid)
    assert (info.status, info.attempt, info.exit_code) == ("failed", 3, 1)
    assert info.error == (
        "task 2/3 (count rows) failed: RuntimeError: simulated failure at 20, password=***"
    )
    assert rows_of(jobs, pid) == list(range(20))
    messages = _messages(jobs, pid)
    assert messages.count("counting from 20") == 2
    assert messages.count("task 1/3 (prepare) started") == 1
    assert any("(attempt 1 of 3); retrying in 60 s" in m for m in messages)
    assert messages[-1].endswith("the process failed (after 3 of 3 attempts)")
    assert all("hunter2" not in m for m in messages)


def test_retry_resumes_a_failed_process_from_its_checkpoint(jobs, tmp_path):
    gate = tmp_path / "keep-failing"
    gate.touch()
    pid = _queue(jobs, 40, batch=10, fail_at=20, fail_while_exists=str(gate), max_attempts=1)
    assert run_process(jobs, pid, "w", settings=FAST).status == "failed"
    assert rows_of(jobs, pid) == list(range(20))

    gate.unlink()
    info = retry(jobs, pid)
    assert (info.status, info.attempt) == ("queued", 0)
    assert [(t.status, t.done) for t in info.tasks] == [
        ("done", 0),
        ("pending", 20),
        ("pending", 0),
    ]
    assert _messages(jobs, pid)[-1] == ("retried by an operator; resumes at task 2 (count rows)")
    info = run_process(jobs, pid, "w", settings=FAST)
    assert (info.status, info.attempt, info.error, info.exit_code) == ("succeeded", 1, None, None)
    assert rows_of(jobs, pid) == list(range(40))
    messages = _messages(jobs, pid)
    assert "task 2/3 (count rows) resumed from its checkpoint (20 of 40 done)" in messages
    assert messages.count("preparing to count to 40") == 1


def test_cancelling_a_running_process_stops_its_worker_before_the_next_commit(jobs, kinds):
    def cancelled_midway(ctx):
        for batch in range(3):
            with ctx.transaction() as session:
                session.execute(
                    ROWS.insert(),
                    [{"process_id": ctx.process_id, "n": batch, "writer": ctx.worker_id}],
                )
                ctx.save(session, checkpoint={"next": batch + 1}, done=batch + 1, total=3)
            if batch == 0:
                cancel(ctx.engine, ctx.process_id)  # an operator, from another terminal

    kinds(ProcessKind("test.cancelled", [("write", cancelled_midway)]))
    pid = enqueue(jobs, "test.cancelled", {}, title="cancel me")
    info = run_process(jobs, pid, "worker-a", settings=FAST)
    assert info.status == "cancelled"
    assert rows_of(jobs, pid) == [0]
    assert [(t.status, t.done) for t in info.tasks] == [("pending", 1)]
    assert _messages(jobs, pid)[-1] == (
        "cancelled by an operator (it was running on worker worker-a)"
    )


def test_a_worker_that_lost_its_lease_writes_nothing_more(jobs):
    pid = _queue(jobs, 30, batch=10)
    taken = []

    def take_over_after_first_batch(name, done, total):
        # Called after worker-a's first batch committed: its lease runs out and
        # worker-b takes the process over.
        if name == "count rows" and done == 10 and not taken:
            _expire_lease(jobs, pid)
            taken.append(claim_process(jobs, pid, "worker-b", settings=FAST))

    info = run_process(
        jobs, pid, "worker-a", settings=FAST, on_progress=take_over_after_first_batch
    )
    assert (info.status, info.lease_owner, info.fence) == ("running", "worker-b", 2)
    assert writers_of(jobs, pid) == {"worker-a": 10}

    info = run_process(jobs, taken[0], settings=FAST)
    assert (info.status, info.attempt) == ("succeeded", 1)
    assert rows_of(jobs, pid) == list(range(30))
    assert writers_of(jobs, pid) == {"worker-a": 10, "worker-b": 20}


def test_a_stopped_worker_queues_the_process_again_at_a_transaction_boundary(jobs):
    pid = _queue(jobs, 30, batch=10)
    stop = threading.Event()

    def stop_after_first_batch(name, done, total):
        if name == "count rows" and done == 10:
            stop.set()

    with pytest.raises(WorkerStopping):
        run_process(
            jobs, pid, "worker-a", settings=FAST, stop=stop, on_progress=stop_after_first_batch
        )
    info = get_process(jobs, pid)
    assert (info.status, info.attempt, info.lease_owner) == ("queued", 0, None)
    assert [(t.status, t.done) for t in info.tasks] == [
        ("done", 0),
        ("pending", 10),
        ("pending", 0),
    ]
    assert "worker worker-a let go of it" in _messages(jobs, pid)[-1]

    report = worker(jobs, "worker-b", until_empty=True, settings=FAST)
    assert [(p.id, p.status, p.attempt) for p in report.processes] == [(pid, "succeeded", 1)]
    assert rows_of(jobs, pid) == list(range(30))


def test_worker_once_until_empty_and_stop(jobs):
    ids = [_queue(jobs, 2) for _ in range(3)]
    report = worker(jobs, "w", once=True, until_empty=True, settings=FAST)
    assert [p.id for p in report.processes] == ids[:1] and not report.stopped
    report = worker(jobs, "w", until_empty=True, settings=FAST)
    assert [(p.id, p.status) for p in report.processes] == [(i, "succeeded") for i in ids[1:]]
    assert worker(jobs, "w", until_empty=True, settings=FAST).processes == []

    stop = threading.Event()
    stop.set()
    _queue(jobs, 2)
    report = worker(jobs, "w", stop=stop, settings=FAST)
    assert report.processes == [] and report.stopped


def test_a_waiting_worker_picks_up_work_as_it_arrives(jobs):
    stop = threading.Event()
    done = []
    thread = threading.Thread(
        target=lambda: done.append(
            worker(jobs, "idle", stop=stop, settings=FAST, on_process=lambda _: stop.set())
        )
    )
    thread.start()
    pid = _queue(jobs, 3)
    thread.join(timeout=60)
    stop.set()
    assert [(p.id, p.status) for p in done[0].processes] == [(pid, "succeeded")]


def test_run_process_refuses_what_it_cannot_run(jobs, kinds):
    running = _queue(jobs, 1)
    claim(jobs, "worker-a", settings=QueueSettings(lease_seconds=60))
    with pytest.raises(Busy, match="running on worker worker-a"):
        run_process(jobs, running, "worker-b", settings=FAST)
    done = _queue(jobs, 1)
    run_process(jobs, done, "w", settings=FAST)
    with pytest.raises(Conflict, match="succeeded"):
        run_process(jobs, done, "w", settings=FAST)
    with pytest.raises(NotFound):
        run_process(jobs, 999, "w", settings=FAST)

    kinds(ProcessKind("test.gone", [("nothing", lambda ctx: None)]))
    gone = enqueue(jobs, "test.gone", {}, title="its kind goes away")
    claimed = claim_process(jobs, gone, "w", settings=FAST)
    unregister("test.gone")
    with pytest.raises(NotFound, match="test.gone"):
        run_process(jobs, claimed, settings=FAST)
    # Let go of at once, for a worker that knows the kind.
    assert get_process(jobs, gone).status == "queued"


def test_a_step_must_save_inside_its_own_transaction(jobs, kinds):
    def misuse(ctx):
        with ctx.transaction() as session:
            pass
        ctx.save(session, done=1)

    kinds(ProcessKind("test.misuse", [("misuse", misuse)]))
    pid = enqueue(jobs, "test.misuse", {}, title="misuse", max_attempts=1)
    info = run_process(jobs, pid, "w", settings=FAST)
    assert info.status == "failed" and "ctx.save() needs the session" in info.error


def test_the_result_survives_a_resumed_run(jobs, kinds):
    def create_org(ctx):
        with ctx.transaction():
            ctx.result["client_id"] = "c-123"

    def then_fail_once(ctx):
        if ctx.attempt == 1:
            raise ConnectionError("the store went away")
        ctx.result["copied"] = True

    kinds(ProcessKind("test.result", [("create org", create_org), ("copy", then_fail_once)]))
    pid = enqueue(jobs, "test.result", {}, title="result")
    assert run_process(jobs, pid, "w", settings=FAST).result == {"client_id": "c-123"}
    info = run_process(jobs, pid, "w", settings=FAST)
    assert (info.status, info.result) == ("succeeded", {"client_id": "c-123", "copied": True})


def test_run_in_foreground_runs_the_process_here_through_its_retries(jobs):
    pid = _queue(jobs, 20, batch=10, fail_at=10, fail_attempts=1)
    seen = []
    info = run_in_foreground(jobs, pid, lambda *p: seen.append(p), worker_id="cli", settings=FAST)
    assert (info.status, info.attempt, info.lease_owner) == ("succeeded", 2, "cli")
    assert rows_of(jobs, pid) == list(range(20))
    assert seen[-2:] == [("count rows", 20, 20), ("finish", 0, 0)]
    assert len(seen) == len(set(seen))


def test_run_in_foreground_follows_a_process_another_worker_runs(jobs, kinds):
    gate = threading.Event()

    def gated(ctx):
        for batch in range(2):
            with ctx.transaction() as session:
                ctx.save(session, done=batch + 1, total=2)
            gate.wait(timeout=60)

    kinds(ProcessKind("test.gated", [("gated", gated)]))
    pid = enqueue(jobs, "test.gated", {}, title="gated")
    other = threading.Thread(
        target=run_process,
        args=(jobs, pid, "worker-a"),
        kwargs={"settings": QueueSettings(lease_seconds=60)},
    )
    other.start()
    wait_until(lambda: get_process(jobs, pid).tasks[0].done == 1, "worker-a's first batch")

    seen, following, result = [], threading.Event(), []

    def on_progress(*p):
        seen.append(p)
        following.set()

    foreground = threading.Thread(
        target=lambda: result.append(
            run_in_foreground(jobs, pid, on_progress, worker_id="cli", settings=FAST)
        )
    )
    foreground.start()
    assert following.wait(timeout=60)
    gate.set()
    other.join(timeout=60)
    foreground.join(timeout=60)
    info = result[0]
    assert (info.status, info.lease_owner, info.fence) == ("succeeded", "worker-a", 1)
    assert seen[0] == ("gated", 1, 2) and seen[-1] == ("gated", 2, 2)


def test_a_lost_connection_is_logged_in_one_line_and_until_empty_waits_for_the_retry(jobs, kinds):
    import sqlalchemy.exc

    calls = []

    def flaky(ctx) -> None:
        calls.append(ctx.process_id)
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError(
                "UPDATE product SET name=%(name)s\nWHERE product.id = %(id)s",
                {"id": 1},
                Exception("terminating connection due to administrator command"),
                connection_invalidated=True,
            )

    kinds(ProcessKind("test.flaky", [("copy", flaky)]))
    pid = enqueue(jobs, "test.flaky", {}, title="flaky copy")
    started = []
    slow_retry = QueueSettings(lease_seconds=2.0, backoff_seconds=0.3, poll_seconds=0.02)
    report = worker(
        jobs, "w", until_empty=True, settings=slow_retry, on_start=lambda c: started.append(c.id)
    )
    assert [p.status for p in report.processes] == ["queued", "succeeded"]
    assert started == [pid, pid] and len(calls) == 2
    lost = [m for m in _messages(jobs, pid) if "lost" in m]
    assert lost == [
        "task 1/1 (copy) failed: connection to the database lost (attempt 1 of "
        "3); retrying in 0.3 s from its last checkpoint"
    ]
    assert not any("sqlalche.me" in m or "UPDATE product" in m for m in _messages(jobs, pid))


@postgres_only
def test_a_connection_postgresql_drops_mid_step_is_one_line_and_resumes(jobs, kinds):
    """The real thing (issue 14 item 24): the server ends the worker's connection in the
    middle of a step (`pg_terminate_backend`, as an administrator or a failover does)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(jobs.url, isolation_level="AUTOCOMMIT")
    calls = []

    def copy(ctx) -> None:
        calls.append(ctx.process_id)
        with ctx.transaction() as session:
            if len(calls) == 1:
                backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
                with admin.connect() as conn:
                    conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
                session.execute(text("SELECT count(*)\nFROM process\nWHERE id = :id"), {"id": 0})
            ctx.save(session, done=1, total=1)

    try:
        kinds(ProcessKind("test.dropped", [("copy", copy)]))
        pid = enqueue(jobs, "test.dropped", {}, title="dropped copy")
        slow_retry = QueueSettings(lease_seconds=5.0, backoff_seconds=0.5, poll_seconds=0.02)
        report = worker(jobs, "w", until_empty=True, settings=slow_retry)
    finally:
        admin.dispose()
    # --until-empty waited for the retry that fell due while it ran, and it succeeded.
    assert [p.status for p in report.processes] == ["queued", "succeeded"]
    assert len(calls) == 2
    messages = _messages(jobs, pid)
    lost = [m for m in messages if "lost" in m]
    assert lost == [
        "task 1/1 (copy) failed: connection to the database lost (attempt 1 of "
        "3); retrying in 0.5 s from its last checkpoint"
    ]
    assert all("\n" not in m for m in messages)
    assert not any("sqlalche.me" in m or "SELECT" in m for m in messages)


def test_worker_once_on_an_empty_queue_returns_at_once(jobs):
    import time

    began = time.monotonic()
    report = worker(jobs, "w", once=True, settings=FAST)
    assert report.processes == [] and not report.stopped
    assert time.monotonic() - began < 5
    # A finished process is nothing to wait for either.
    run_process(jobs, _queue(jobs, 1), "w", settings=FAST)
    assert worker(jobs, "w", once=True, settings=FAST).processes == []

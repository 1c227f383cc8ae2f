"""The process queue: enqueue, lock keys, secrets, claiming, fencing, and operator actions."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from tenantctl.errors import BadInput, Busy, Conflict, NotFound, Refused
from tenantctl.jobs import (
    LeaseLost,
    ProcessBusy,
    ProcessKind,
    QueueSettings,
    cancel,
    claim,
    claim_process,
    enqueue,
    get_process,
    list_processes,
    logs,
    redact,
    register,
    retry,
)
from tenantctl.jobs.models import Process
from tenantctl.jobs.queue import fenced_session
from tenantctl.jobs.registry import unregister
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import utcnow
from tests.jobs_worker_main import (
    ROWS,
    create_test_tables,
    register_test_kinds,
    rows_of,
    unregister_test_kinds,
)

P = Process.__table__
LONG = QueueSettings(lease_seconds=60.0, backoff_seconds=0.0)
EXPIRED = QueueSettings(lease_seconds=0.0, backoff_seconds=0.0)


@pytest.fixture
def jobs(engine):
    register_test_kinds()
    create_test_tables(engine)
    yield engine
    unregister_test_kinds()


def _queue(engine, n: int = 10, **kw) -> int:
    title = kw.pop("title", f"count to {n}")
    return enqueue(engine, "test.count", {"n": n, **kw.pop("params", {})}, title=title, **kw)


# -- enqueue --------------------------------------------------------------------------


def test_enqueue_queues_the_process_with_its_tasks_pending(jobs):
    pid = _queue(jobs, 5, title="Count to five")
    info = get_process(jobs, pid)
    assert (info.kind, info.title, info.status) == ("test.count", "Count to five", "queued")
    assert (info.attempt, info.max_attempts, info.params) == (0, 3, {"n": 5})
    assert [(t.position, t.name, t.status, t.done, t.total) for t in info.tasks] == [
        (0, "prepare", "pending", 0, None),
        (1, "count rows", "pending", 0, None),
        (2, "finish", "pending", 0, None),
    ]
    assert [e.message for e in logs(jobs, pid)] == ["queued: Count to five"]


def test_enqueue_commits_with_the_callers_session(jobs):
    with pytest.raises(RuntimeError), write_session(jobs) as session:
        enqueue(session, "test.count", {"n": 1}, title="rolled back")
        raise RuntimeError("the caller's other writes failed")
    assert list_processes(jobs) == []
    with write_session(jobs) as session:
        pid = enqueue(session, "test.count", {"n": 1}, title="kept")
    assert get_process(jobs, pid).title == "kept"


@pytest.mark.parametrize(
    "params",
    [
        {"n": 1, "password": "hunter2"},
        {"n": 1, "admin": {"Password": "hunter2"}},
        {"n": 1, "users": [{"name": "a"}, {"api-token": "t"}]},
        {"n": 1, "client_secret": "s"},
    ],
)
def test_enqueue_refuses_parameters_that_carry_a_secret(jobs, params):
    with pytest.raises(Refused, match="must not carry secrets"):
        enqueue(jobs, "test.count", params, title="leaky")
    assert list_processes(jobs) == []


def test_enqueue_allows_a_password_hash(jobs):
    pid = enqueue(
        jobs, "test.count", {"n": 1, "admin_password_hash": "$scrypt$..."}, title="hashed"
    )
    assert get_process(jobs, pid).params["admin_password_hash"] == "$scrypt$..."


def test_enqueue_refuses_an_unregistered_kind_and_bad_values(jobs):
    with pytest.raises(NotFound, match="no process kind 'test.nope'"):
        enqueue(jobs, "test.nope", {}, title="x")
    with pytest.raises(TypeError, match="JSON"):
        enqueue(jobs, "test.count", {"n": object()}, title="x")
    with pytest.raises(BadInput):
        enqueue(jobs, "test.count", {"n": 1}, title="x", max_attempts=0)
    assert list_processes(jobs) == []


# -- lock keys ------------------------------------------------------------------------


def test_a_second_process_with_an_active_lock_key_is_busy(jobs):
    first = _queue(jobs, lock_key="tenant.create:account:7", title="Create tenant ACME")
    with pytest.raises(ProcessBusy) as refused:
        _queue(jobs, lock_key="tenant.create:account:7")
    assert isinstance(refused.value, Busy) and refused.value.exit_code == 4
    assert refused.value.process_id == first
    assert f"process {first} (Create tenant ACME) is already queued" in str(refused.value)
    assert "tenant.create:account:7" not in str(refused.value)  # an internal key
    # Another key is free, and the rule holds while the first one runs too.
    _queue(jobs, lock_key="tenant.create:account:8")
    assert claim(jobs, "w1", settings=LONG).id == first
    with pytest.raises(ProcessBusy, match="already running"):
        _queue(jobs, lock_key="tenant.create:account:7")
    # Once it is over, the key is free again.
    cancel(jobs, first)
    again = _queue(jobs, lock_key="tenant.create:account:7")
    assert get_process(jobs, again).status == "queued"


def test_the_lock_key_rule_is_enforced_by_the_database(jobs):
    now = utcnow()
    row = {
        "kind": "test.count",
        "title": "t",
        "params": {},
        "attempt": 0,
        "max_attempts": 3,
        "fence": 0,
        "not_before": now,
        "created_at": now,
        "lock_key": "k",
    }
    with write_session(jobs) as session:
        session.execute(
            insert(P),
            [
                {**row, "status": "succeeded"},
                {**row, "status": "failed"},
                {**row, "status": "queued"},
            ],
        )
    for status in ("queued", "running"):
        with pytest.raises(IntegrityError), write_session(jobs) as session:
            session.execute(insert(P).values(**row, status=status))


def test_racing_enqueues_of_one_lock_key_let_exactly_one_through(jobs):
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    won, busy, other = [], [], []

    def attempt():
        barrier.wait()
        try:
            won.append(_queue(jobs, lock_key="tenant.update:tenant:3"))
        except ProcessBusy as exc:
            busy.append(exc.process_id)
        except Exception as exc:  # anything else is a failure of the rule
            other.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert other == []
    assert len(won) == 1 and busy == [won[0]] * (threads_count - 1)


# -- claiming -------------------------------------------------------------------------


def test_claim_takes_the_oldest_runnable_process_and_starts_an_attempt(jobs):
    first, second = _queue(jobs), _queue(jobs)
    claimed = claim(jobs, "worker-a", settings=LONG)
    assert (claimed.id, claimed.fence, claimed.attempt, claimed.worker_id) == (
        first,
        1,
        1,
        "worker-a",
    )
    assert claimed.taken_over_from is None and claimed.params == {"n": 10}
    info = get_process(jobs, first)
    assert (info.status, info.lease_owner, info.attempt) == ("running", "worker-a", 1)
    assert info.lease_expires_at > info.created_at and info.started_at is not None
    assert claim(jobs, "worker-b", settings=LONG).id == second
    assert claim(jobs, "worker-c", settings=LONG) is None
    assert logs(jobs, first)[-1].message == "claimed by worker worker-a (attempt 1 of 3)"


def test_claim_passes_over_a_process_waiting_for_its_retry(jobs):
    pid = _queue(jobs)
    with write_session(jobs) as session:
        session.execute(
            update(P).where(P.c.id == pid).values(not_before=utcnow() + timedelta(hours=1))
        )
    assert claim(jobs, "w", settings=LONG) is None
    assert claim_process(jobs, pid, "w", settings=LONG) is None


def test_claim_only_takes_kinds_this_program_can_run(jobs):
    def nothing(ctx):
        pass

    register(ProcessKind("test.elsewhere", [("nothing", nothing)]))
    pid = enqueue(jobs, "test.elsewhere", {}, title="runs elsewhere")
    unregister("test.elsewhere")
    assert claim(jobs, "w", settings=LONG) is None
    assert claim(jobs, "w", kinds=["test.count"], settings=LONG) is None
    assert claim(jobs, "w", kinds=["test.elsewhere"], settings=LONG).id == pid


def test_concurrent_claims_never_get_the_same_process(jobs):
    ids = {_queue(jobs) for _ in range(20)}
    claimed: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def claimer(name):
        barrier.wait()
        try:
            while (got := claim(jobs, name, settings=LONG)) is not None:
                claimed.append(got.id)
        except BaseException as exc:  # surfaced below: a thread cannot fail the test
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(claimed) == sorted(ids)
    assert {get_process(jobs, pid).fence for pid in ids} == {1}


def test_an_expired_lease_is_taken_over_with_a_new_fence_in_the_same_attempt(jobs):
    pid = _queue(jobs)
    first = claim(jobs, "worker-a", settings=EXPIRED)
    second = claim(jobs, "worker-b", settings=LONG)
    assert (second.id, second.fence, second.attempt) == (pid, 2, 1)
    assert (first.fence, second.taken_over_from) == (1, "worker-a")
    assert "taken over by worker worker-b from worker-a" in logs(jobs, pid)[-1].message
    assert claim(jobs, "worker-c", settings=LONG) is None


def test_a_process_whose_workers_keep_dying_is_failed_not_taken_over_forever(jobs):
    dying = QueueSettings(lease_seconds=0.0, backoff_seconds=0.0, max_takeovers=2)
    pid = _queue(jobs)
    behind = _queue(jobs)
    claims = [claim(jobs, f"worker-{n}", settings=dying) for n in range(3)]
    assert [(c.id, c.fence, c.attempt) for c in claims] == [(pid, 1, 1), (pid, 2, 1), (pid, 3, 1)]
    # The fourth claimer fails PID (its workers died three times) and takes the next one.
    fourth = claim(jobs, "worker-3", settings=dying)
    assert (fourth.id, fourth.attempt) == (behind, 1)
    info = get_process(jobs, pid)
    assert (info.status, info.exit_code, info.fence, info.takeovers) == ("failed", 1, 3, 2)
    assert info.error.startswith("its worker died (lease ran out) 3 times in one attempt")
    assert info.lease_expires_at is None and info.finished_at is not None
    assert "noticed by worker worker-3" in logs(jobs, pid)[-1].message
    assert logs(jobs, pid)[-1].level == "error"
    # The last worker, were it only stalled, commits nothing more.
    with pytest.raises(LeaseLost, match="failed"), fenced_session(jobs, claims[-1], dying):
        pass
    # A retry starts the count of take-overs again.
    retry(jobs, pid)
    again = [claim(jobs, f"worker-{n}", settings=dying) for n in (4, 5, 6)]
    assert [(c.id, c.attempt) for c in again] == [(pid, 1)] * 3
    assert (get_process(jobs, pid).status, get_process(jobs, pid).takeovers) == ("running", 2)


def test_a_fenced_transaction_renews_the_lease_and_refuses_a_replaced_worker(jobs):
    pid = _queue(jobs)
    first = claim(jobs, "worker-a", settings=EXPIRED)
    before = get_process(jobs, pid).lease_expires_at
    with fenced_session(jobs, first, LONG) as session:
        session.execute(insert(ROWS).values(process_id=pid, n=0, writer="worker-a"))
    assert get_process(jobs, pid).lease_expires_at > before

    # Renewed for a minute: nobody may take it over now.
    assert claim(jobs, "worker-b", settings=LONG) is None
    with write_session(jobs) as session:  # the minute passes
        session.execute(
            update(P).where(P.c.id == pid).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    second = claim(jobs, "worker-b", settings=LONG)
    assert second.fence == 2

    with (
        pytest.raises(LeaseLost, match="claimed again since, by worker-b") as lost,
        fenced_session(jobs, first, LONG) as session,
    ):
        session.execute(insert(ROWS).values(process_id=pid, n=1, writer="worker-a"))
    assert isinstance(lost.value, Conflict)
    assert rows_of(jobs, pid) == [0]
    assert get_process(jobs, pid).lease_owner == "worker-b"


# -- operator actions -----------------------------------------------------------------


def test_list_processes_newest_first_with_filters(jobs):
    a, b, c = _queue(jobs, title="a"), _queue(jobs, title="b"), _queue(jobs, title="c")
    cancel(jobs, b)
    assert [p.id for p in list_processes(jobs)] == [c, b, a]
    assert [p.id for p in list_processes(jobs, "queued")] == [c, a]
    assert [p.id for p in list_processes(jobs, limit=1)] == [c]
    assert [p.id for p in list_processes(jobs, kind="test.other")] == []
    listed = list_processes(jobs)[0]
    assert (listed.tasks_done, len(listed.tasks), listed.current_task.name) == (0, 3, "prepare")
    with pytest.raises(BadInput, match="--status"):
        list_processes(jobs, "lost")


def test_logs_follow_from_an_id(jobs):
    pid = _queue(jobs)
    first = logs(jobs, pid)
    claim(jobs, "w", settings=LONG)
    newer = logs(jobs, pid, after_id=first[-1].id)
    assert [e.message for e in newer] == ["claimed by worker w (attempt 1 of 3)"]
    assert logs(jobs, pid, after_id=newer[-1].id) == []
    assert newer[0].at >= first[0].at and newer[0].level == "info"


def test_unknown_process_ids_are_not_found(jobs):
    for action in (get_process, logs, retry, cancel):
        with pytest.raises(NotFound, match="no process 999"):
            action(jobs, 999)


def test_cancel_a_queued_process(jobs):
    pid = _queue(jobs)
    info = cancel(jobs, pid)
    assert info.status == "cancelled" and info.finished_at is not None
    assert claim(jobs, "w", settings=LONG) is None
    assert logs(jobs, pid)[-1].message == "cancelled by an operator"
    assert logs(jobs, pid)[-1].level == "warning"
    # Cancelling it again is harmless: it stays as it was, with no second log entry.
    again = cancel(jobs, pid)
    assert (again.status, again.finished_at) == ("cancelled", info.finished_at)
    assert [e.message for e in logs(jobs, pid)].count("cancelled by an operator") == 1


def test_cancel_a_running_process_makes_its_worker_lose_the_lease(jobs):
    pid = _queue(jobs)
    claimed = claim(jobs, "worker-a", settings=LONG)
    cancel(jobs, pid)
    assert "it was running on worker worker-a" in logs(jobs, pid)[-1].message
    with pytest.raises(LeaseLost, match="cancelled"), fenced_session(jobs, claimed, LONG):
        pass


def test_retry_only_takes_a_failed_or_cancelled_process(jobs):
    pid = _queue(jobs)
    with pytest.raises(Conflict, match="only a failed or cancelled process"):
        retry(jobs, pid)
    cancel(jobs, pid)
    info = retry(jobs, pid)
    assert (info.status, info.attempt, info.error, info.finished_at) == ("queued", 0, None, None)
    assert logs(jobs, pid)[-1].message == "retried by an operator; resumes at task 1 (prepare)"


def test_retry_respects_the_lock_key(jobs):
    old = _queue(jobs, lock_key="acct:1")
    cancel(jobs, old)
    new = _queue(jobs, lock_key="acct:1")
    with pytest.raises(ProcessBusy) as busy:
        retry(jobs, old)
    assert busy.value.process_id == new
    assert get_process(jobs, old).status == "cancelled"


# -- small parts ----------------------------------------------------------------------


def test_redact_blanks_secrets_out_of_messages():
    assert redact("login failed: password=hunter2 for bob") == (
        "login failed: password=*** for bob"
    )
    assert redact('{"api_token": "abc", "n": 1}') == '{"api_token": "***", "n": 1}'
    assert redact("cannot reach postgresql+psycopg://bob:s3cret@db/x") == (
        "cannot reach postgresql+psycopg://bob:***@db/x"
    )
    assert redact("copied 12 products") == "copied 12 products"


def test_a_kind_is_validated_and_registered_once():
    def step(ctx):
        pass

    with pytest.raises(ValueError, match="repeats a task name"):
        ProcessKind("test.bad", [("a", step), ("a", step)])
    with pytest.raises(ValueError, match="no tasks"):
        ProcessKind("test.bad", [])
    kind = ProcessKind("test.once", [("a", step)])
    try:
        register(kind)
        register(ProcessKind("test.once", [("a", step)]))  # the same definition again
        with pytest.raises(ValueError, match="already registered"):
            register(ProcessKind("test.once", [("b", step)]))
        register(ProcessKind("test.once", [("b", step)]), replace=True)
    finally:
        unregister("test.once")


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TENANTCTL_LEASE_SECONDS", "5")
    monkeypatch.setenv("TENANTCTL_RETRY_BACKOFF_SECONDS", "3")
    monkeypatch.setenv("TENANTCTL_RETRY_BACKOFF_CAP_SECONDS", "20")
    settings = QueueSettings.from_env()
    assert settings.lease_seconds == 5
    assert [settings.backoff(a) for a in (1, 2, 3, 4)] == [3, 6, 12, 20]
    assert QueueSettings(backoff_seconds=0).backoff(5) == 0
    assert settings.max_takeovers == 10
    monkeypatch.setenv("TENANTCTL_MAX_TAKEOVERS", "0")
    assert QueueSettings.from_env().max_takeovers == 0
    for bad in ("many", "-1", "2.5"):
        monkeypatch.setenv("TENANTCTL_MAX_TAKEOVERS", bad)
        with pytest.raises(BadInput, match="TENANTCTL_MAX_TAKEOVERS"):
            QueueSettings.from_env()
    monkeypatch.delenv("TENANTCTL_MAX_TAKEOVERS")
    for bad in ("soon", "nan", "inf", "-1"):
        monkeypatch.setenv("TENANTCTL_LEASE_SECONDS", bad)
        with pytest.raises(BadInput, match="TENANTCTL_LEASE_SECONDS"):
            QueueSettings.from_env()


def test_process_rows_read_back_with_utc_times(jobs):
    pid = _queue(jobs)
    with read_session(jobs) as session:
        created = session.execute(select(P.c.created_at).where(P.c.id == pid)).scalar_one()
    assert created.utcoffset() == timedelta(0)

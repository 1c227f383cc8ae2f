"""Worker subprocesses that run at once, die (kill -9), freeze past their lease (SIGSTOP),
or are told to stop (SIGTERM): every process still runs to its end exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tenantctl.jobs import claim_process, enqueue, get_process, logs, retry, run_process
from tenantctl.jobs.models import Process
from tenantctl.jobs.queue import db_now
from tenantctl.store.engine import read_session
from tests.jobs_worker_main import (
    FAST,
    SELF_KILL_ENV,
    SELF_STOP_ENV,
    create_test_tables,
    register_test_kinds,
    rows_of,
    unregister_test_kinds,
    wait_until,
    writers_of,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc"),
]


@pytest.fixture
def jobs(engine):
    register_test_kinds()
    create_test_tables(engine)
    yield engine
    unregister_test_kinds()


@pytest.fixture
def spawn(db_url, python_process):
    """Start `tests.jobs_worker_main` workers on this test's store; none outlives the test."""
    return lambda *args, env=None: python_process(
        "-m", "tests.jobs_worker_main", db_url, *args, env=env
    )


def _report(proc: subprocess.Popen) -> tuple[dict, str]:
    """Wait for a worker to end; its JSON report and its stderr."""
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"worker exited {proc.returncode}\n{err}"
    return json.loads(out.strip().splitlines()[-1]), err


def _queue(engine, n: int, **params) -> int:
    return enqueue(engine, "test.count", {"n": n, **params}, title=f"count to {n}")


def _counted(engine, pid: int) -> int:
    return get_process(engine, pid).tasks[1].done


def _state(pid: int) -> str:
    # The third field of /proc/PID/stat is the state; "T" is stopped by a signal.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_four_workers_run_twenty_processes_each_exactly_once(jobs, spawn):
    ids = [_queue(jobs, 30, batch=5) for _ in range(20)]
    workers = [spawn("--until-empty", "--lease", "30", "--worker-id", f"w{i}") for i in range(4)]
    reports = [_report(w)[0] for w in workers]
    ran = sorted(p["id"] for r in reports for p in r["processes"])
    assert ran == ids
    for pid in ids:
        info = get_process(jobs, pid)
        # One claim (fence 1), one attempt, and every row once.
        assert (info.status, info.attempt, info.fence) == ("succeeded", 1, 1)
        assert rows_of(jobs, pid) == list(range(30))


def test_killed_workers_are_taken_over_without_writing_a_row_twice(jobs, spawn):
    seed = random.randrange(1 << 32)
    rnd = random.Random(seed)
    # Long enough that three kills (each at most 60 rows after its claim) land mid-step.
    n = 400
    pid = _queue(jobs, n, batch=10, delay=0.03)
    for kill in range(3):
        victim = spawn("--once", "--lease", "2", "--worker-id", f"victim-{kill}")
        wait_until(
            lambda k=kill: get_process(jobs, pid).fence == k + 1,
            f"victim-{kill} to claim the process",
        )
        target = _counted(jobs, pid) + 10 * rnd.randint(1, 6)
        wait_until(lambda t=target: _counted(jobs, pid) >= t, f"row {target}")
        # Anywhere in the batch loop: inside a transaction or between two.
        time.sleep(rnd.uniform(0, 0.03))
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        info = get_process(jobs, pid)
        assert info.status == "running" and info.tasks[1].done < n, f"seed {seed}: too late"

    survivor = spawn("--once", "--lease", "2", "--worker-id", "survivor")
    report, _ = _report(survivor)
    assert report["processes"] == [{"id": pid, "status": "succeeded"}]
    info = get_process(jobs, pid)
    # Take-overs continue the attempt; each claim has its own fence.
    assert (info.status, info.attempt, info.fence) == ("succeeded", 1, 4)
    assert rows_of(jobs, pid) == list(range(n)), f"seed {seed}"
    messages = [e.message for e in logs(jobs, pid)]
    assert sum("taken over by worker" in m for m in messages) == 3


def test_a_frozen_worker_commits_nothing_after_it_was_taken_over(jobs, spawn):
    pid = _queue(jobs, 100, batch=10)
    frozen = spawn("--once", "--lease", "2", "--worker-id", "frozen", env={SELF_STOP_ENV: "3"})
    wait_until(lambda: _state(frozen.pid) == "T", "the worker to freeze")
    assert writers_of(jobs, pid) == {"frozen": 30}

    # Its lease runs out; another worker takes the process over and finishes it.
    claimed = wait_until(
        lambda: claim_process(jobs, pid, "thawed-out", settings=FAST),
        "the frozen worker's lease to run out",
        interval=0.1,
    )
    assert claimed.fence == 2
    assert run_process(jobs, claimed, settings=FAST).status == "succeeded"
    last_log = logs(jobs, pid)[-1].id

    os.kill(frozen.pid, signal.SIGCONT)
    report, err = _report(frozen)
    assert "lease lost" in err
    assert report["processes"] == [{"id": pid, "status": "succeeded"}]
    assert rows_of(jobs, pid) == list(range(100))
    assert writers_of(jobs, pid) == {"frozen": 30, "thawed-out": 70}
    assert logs(jobs, pid, after_id=last_log) == []


def test_sigterm_stops_a_worker_between_transactions_and_queues_the_process(jobs, spawn):
    pid = _queue(jobs, 200, batch=10, delay=0.05)
    terminated = spawn("--once", "--lease", "60", "--worker-id", "terminated")
    wait_until(lambda: _counted(jobs, pid) >= 30, "30 rows")
    terminated.send_signal(signal.SIGTERM)
    report, _ = _report(terminated)
    assert report["stopped"] is True
    assert report["processes"] == [{"id": pid, "status": "queued"}]
    info = get_process(jobs, pid)
    assert (info.status, info.attempt, info.lease_owner) == ("queued", 0, None)
    assert 30 <= info.tasks[1].done < 200 and info.tasks[1].status == "pending"

    # Queued again: claimable at once, without waiting for the minute-long lease.
    claimed = claim_process(jobs, pid, "next", settings=FAST)
    assert claimed is not None and claimed.attempt == 1
    assert run_process(jobs, claimed, settings=FAST).status == "succeeded"
    assert rows_of(jobs, pid) == list(range(200))


def test_a_process_that_kills_every_worker_fails_after_the_allowed_take_overs(jobs, spawn):
    """Each worker dies (kill -9) after its first batch: two take-overs are allowed, so the
    fourth worker to come fails the process instead of dying with it; a retry, on a
    healthy worker, resumes from the last checkpoint and counts each row once."""
    pid = _queue(jobs, 100, batch=10)
    poison = {SELF_KILL_ENV: "1"}
    for n in range(3):
        victim = spawn(
            "--once",
            "--lease",
            "1",
            "--max-takeovers",
            "2",
            "--worker-id",
            f"victim-{n}",
            env=poison,
        )
        victim.communicate(timeout=120)
        assert victim.returncode == -signal.SIGKILL, f"victim-{n} exited {victim.returncode}"
        assert get_process(jobs, pid).fence == n + 1
    assert rows_of(jobs, pid) == list(range(30))

    wait_until(lambda: lease_ran_out(jobs, pid), "the last victim's lease to run out")
    report, err = _report(
        spawn("--until-empty", "--lease", "1", "--max-takeovers", "2", "--worker-id", "fourth")
    )
    assert report["processes"] == []  # it ran nothing: it failed the process, and said so
    assert f"process {pid} failed: its worker died (lease ran out) 3 times" in err
    info = get_process(jobs, pid)
    assert (info.status, info.attempt, info.fence, info.exit_code) == ("failed", 1, 3, 1)
    assert "its worker died (lease ran out) 3 times in one attempt" in info.error
    assert f"process retry {pid}" in info.error
    assert [t.status for t in info.tasks] == ["done", "failed", "pending"]
    messages = [e.message for e in logs(jobs, pid)]
    takeovers = [m for m in messages if "taken over by worker" in m]
    assert len(takeovers) == 2 and "take-over 2 of 2" in takeovers[-1]
    assert "noticed by worker fourth, which did not take it over" in messages[-1]

    retry(jobs, pid)
    report, _ = _report(
        spawn("--until-empty", "--lease", "1", "--max-takeovers", "2", "--worker-id", "healthy")
    )
    assert report["processes"] == [{"id": pid, "status": "succeeded"}]
    assert rows_of(jobs, pid) == list(range(100))
    assert get_process(jobs, pid).fence == 4


def lease_ran_out(engine, pid: int) -> bool:
    with read_session(engine) as session:
        expires = session.execute(
            select(Process.lease_expires_at).where(Process.id == pid)
        ).scalar_one()
        return expires is not None and expires <= db_now(session)

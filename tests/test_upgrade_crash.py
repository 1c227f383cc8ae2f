"""Upgrading a big lite reseller while workers die (kill -9) in the middle of the copy, and
two upgrades of one tenant started at once: every customer, subscription, add-on and asset
ends up in the tenant exactly once (SPEC sections 4 and 5).

The workers are real `tenantctl worker` subprocesses with short leases, so a dead worker's
process is taken over within a second; batches are small (TENANTCTL_COPY_BATCH) so that a
kill lands in the middle of the copy, between two batches or inside one.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, or_, select, text
from sqlalchemy.engine import make_url

from tenantctl import jobs
from tenantctl.jobs.queue import db_now
from tenantctl.store.engine import read_session
from tenantctl.store.models import (
    Account,
    Asset,
    Contact,
    Subscription,
    SubscriptionAddon,
    SyncRecord,
)
from tests.jobs_worker_main import wait_until
from tests.upgrade_data import LiteSet, add_lite_customers
from tests.upgrade_world import (
    COPIED,
    DATASET,
    LITE,
    Lite,
    add_ons_of,
    by_source,
    copies,
    create_tenant,
    lite_tenant,
    root_customers,
    root_rows,
    status,
    tenant_state,
)

BATCH = 50
CUSTOMERS, SUBSCRIPTIONS = 300, 10
WORKER_ENV = {
    "TENANTCTL_COPY_BATCH": str(BATCH),
    "TENANTCTL_LEASE_SECONDS": "1",
    "TENANTCTL_WORKER_POLL_SECONDS": "0.05",
    "TENANTCTL_RETRY_BACKOFF_SECONDS": "0",
}
# Only keep a broken test from hanging; nothing asserts on speed.
WAIT = 90.0
HANG_SECONDS = 400

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc"),
]


class Hang(BaseException):
    """A test ran far past anything it needs: the code under test loops or waits forever."""


@pytest.fixture(autouse=True)
def hang_guard():
    def expire(signum, frame):
        raise Hang(f"still running after {HANG_SECONDS} s: the code under test hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(HANG_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def spawn(db_url, python_process):
    """Start `tenantctl` subprocesses on this test's store; none outlives the test."""
    return lambda *args, env=None: python_process(
        "-m", "tenantctl", "--db", db_url, *args, env={**WORKER_ENV, **(env or {})}
    )


@pytest.fixture
def big(cli, engine) -> tuple[Lite, LiteSet]:
    """The data set, LITECLOUD given 300 more customers with 10 subscriptions each, and its
    tenant created."""
    cli("load", DATASET)
    added = add_lite_customers(engine, LITE, customers=CUSTOMERS, subscriptions=SUBSCRIPTIONS)
    create_tenant(cli)
    return lite_tenant(engine), added


SOURCE = {Account: Account.source_account_id, Subscription: Subscription.source_subscription_id}


def copied(engine, model, org_id: int) -> int:
    """How many copies of MODEL the tenant holds (committed)."""
    return _count(engine, model, model.org_id == org_id, SOURCE[model].is_not(None))


def _count(engine, model, *where) -> int:
    with read_session(engine) as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def claimable(engine, pid: int) -> bool:
    """Whether a worker may claim PID now: queued, or its lease ran out (its worker died)."""
    process = jobs.Process.__table__
    with read_session(engine) as session:
        now = db_now(session)
        return (
            session.execute(
                select(process.c.id).where(
                    process.c.id == pid,
                    or_(
                        process.c.status == jobs.QUEUED,
                        (process.c.status == jobs.RUNNING) & (process.c.lease_expires_at <= now),
                    ),
                )
            ).first()
            is not None
        )


def kill_workers_mid_copy(
    engine, spawn, pid: int, kills: int, progress, total: int, rnd: random.Random, seed: int
) -> None:
    """KILLS times: a worker claims PID, copies a random number of batches, and is killed
    (kill -9) at a random moment, between two batches or inside one.

    The victim only ever runs in slices of a few milliseconds (SIGCONT, sleep, SIGSTOP),
    from its start: so it cannot copy much between its claim and the moment the test sees
    the claim, however loaded the machine. It is killed while stopped: wherever a slice
    ends is a random moment of its work, and no machine is fast enough to finish the copy
    in the time the test takes to notice that the target was reached.
    """

    def run_a_slice(victim: subprocess.Popen, longest: float) -> None:
        os.kill(victim.pid, signal.SIGCONT)
        time.sleep(rnd.uniform(0.001, longest))
        os.kill(victim.pid, signal.SIGSTOP)

    for kill in range(kills):
        fence = jobs.get_process(engine, pid).fence
        victim = spawn("worker")  # it claims PID as soon as the last one's lease runs out
        os.kill(victim.pid, signal.SIGSTOP)
        deadline = time.monotonic() + WAIT
        while jobs.get_process(engine, pid).fence == fence:
            assert time.monotonic() < deadline, f"seed {seed}: victim {kill} never claimed"
            run_a_slice(victim, 0.02)  # longer slices while it starts Python
        target = progress() + BATCH * rnd.randint(1, 2)
        deadline = time.monotonic() + WAIT
        while progress() < target:
            assert time.monotonic() < deadline, f"seed {seed}: {target} rows never copied"
            run_a_slice(victim, 0.004)
        os.kill(victim.pid, signal.SIGKILL)  # SIGKILL ends a stopped process too
        victim.wait()
        info = jobs.get_process(engine, pid)
        assert info.status == jobs.RUNNING, f"seed {seed}: kill {kill} came too late"
        assert progress() < total, f"seed {seed}: kill {kill} came too late"


def finish(engine, spawn, pid: int) -> jobs.ProcessInfo:
    """Run `worker --until-empty` once the process is claimable, until it has ended.

    A worker that finds the process still locked by a dead worker's session (PostgreSQL
    notices the dead client a moment later) ends at once; the next one takes it over.
    """
    for _ in range(10):
        wait_until(
            lambda: claimable(engine, pid),
            "the dead worker's lease to run out",
            timeout=WAIT,
            interval=0.05,
        )
        survivor = spawn("worker", "--until-empty")
        out, err = survivor.communicate(timeout=WAIT * 2)
        assert survivor.returncode == 0, f"worker exited {survivor.returncode}\n{out}\n{err}"
        info = jobs.get_process(engine, pid)
        if info.finished:
            return info
    raise AssertionError(f"process {pid} never finished: {info}")


def taken_over(engine, pid: int) -> int:
    return sum("taken over by worker" in e.message for e in jobs.logs(engine, pid))


def test_killed_workers_leave_exactly_one_copy_of_everything(cli, engine, big, spawn):
    lite, added = big
    seed = random.randrange(1 << 32)
    rnd = random.Random(seed)
    customers = root_customers(engine, lite)
    subs = root_rows(engine, lite, Subscription, COPIED)
    assets = root_rows(engine, lite, Asset, COPIED)
    assert len(customers) == 12 + CUSTOMERS
    assert len(subs) > 2500 and len(subs) > added.active_subscriptions

    # Step 1, killed once in the middle of its seven batches of customers (with contacts and
    # sync records).
    pid = cli.json("upgrade", "customers", LITE, "--detach")["process_id"]
    kill_workers_mid_copy(
        engine,
        spawn,
        pid,
        1,
        lambda: copied(engine, Account, lite.org_id),
        len(customers),
        rnd,
        seed,
    )
    info = finish(engine, spawn, pid)
    assert (info.status, info.attempt, info.fence) == ("succeeded", 1, 2), f"seed {seed}"
    assert taken_over(engine, pid) == 1
    account_copies = by_source(copies(engine, Account, lite.org_id), "source_account_id")
    assert set(account_copies) == set(customers), f"seed {seed}"
    copy_ids = [a.id for a in account_copies.values()]
    assert _count(engine, Contact, Contact.account_id.in_(copy_ids)) == _count(
        engine, Contact, Contact.account_id.in_(list(customers))
    )
    assert _count(engine, SyncRecord, SyncRecord.account_id.in_(copy_ids)) == _count(
        engine, SyncRecord, SyncRecord.account_id.in_(list(customers))
    )
    assert tenant_state(engine, lite) == ("customers-copied", "off")

    # Step 2, killed five times in the middle of some sixty batches of subscriptions.
    pid = cli.json("upgrade", "subscriptions", LITE, "--detach")["process_id"]
    kill_workers_mid_copy(
        engine,
        spawn,
        pid,
        5,
        lambda: copied(engine, Subscription, lite.org_id),
        len(subs),
        rnd,
        seed,
    )
    info = finish(engine, spawn, pid)
    assert (info.status, info.attempt, info.fence) == ("succeeded", 1, 6), f"seed {seed}"
    assert taken_over(engine, pid) == info.takeovers == 5
    assert re.search(r"taken over +5 times in this attempt", cli("process", "show", pid).stdout)

    # Exactly one copy of each active subscription: as many rows as distinct sources.
    with read_session(engine) as session:
        rows, distinct = session.execute(
            select(
                func.count(), func.count(func.distinct(Subscription.source_subscription_id))
            ).where(Subscription.org_id == lite.org_id)
        ).one()
    assert rows == distinct == len(subs), f"seed {seed}"
    sub_copies = by_source(copies(engine, Subscription, lite.org_id), "source_subscription_id")
    assert set(sub_copies) == set(subs), f"seed {seed}"
    # Each add-on once, on the copy of its subscription.
    root_add_ons = add_ons_of(engine, list(subs))
    with read_session(engine) as session:
        source_of = dict(
            session.execute(
                select(Subscription.id, Subscription.source_subscription_id).where(
                    Subscription.org_id == lite.org_id
                )
            ).all()
        )
        copy_add_ons = session.execute(
            select(SubscriptionAddon.subscription_id, SubscriptionAddon.quantity).where(
                SubscriptionAddon.subscription_id.in_(list(source_of))
            )
        ).all()
    assert len(copy_add_ons) == sum(map(len, root_add_ons.values())), f"seed {seed}"
    assert len(copy_add_ons) > added.add_ons_of_active // 2
    per_copy: dict[int, list[int]] = {}
    for sub_id, quantity in copy_add_ons:
        per_copy.setdefault(source_of[sub_id], []).append(quantity)
    assert {s: sorted(q) for s, q in per_copy.items()} == {
        s: sorted(q for _, q in a) for s, a in root_add_ons.items() if a
    }, f"seed {seed}"
    # Each active asset once.
    asset_copies = by_source(copies(engine, Asset, lite.org_id), "source_asset_id")
    assert set(asset_copies) == set(assets), f"seed {seed}"

    assert tenant_state(engine, lite) == ("live", "on")
    assert status(cli) == {
        "tenant": LITE,
        "phase": "live",
        "backorder_state": "on",
        "customers_copied": len(customers),
        "customers_left": 0,
        "subscriptions_copied": len(subs),
        "subscriptions_left": 0,
        "assets_copied": len(assets),
        "assets_left": 0,
    }


def outside_any_transaction(db_url: str, engine) -> bool:
    """Whether no other session of the store is inside a transaction now (SQLite: the write
    lock is free; PostgreSQL: no other session of the database is active or in one)."""
    if engine.dialect.name == "sqlite":
        probe = sqlite3.connect(make_url(db_url).database, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:  # database is locked
            return False
        finally:
            probe.close()
    with engine.connect() as conn:
        return not conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle'"
            )
        ).scalar_one()


def freeze_between_transactions(proc: subprocess.Popen, db_url: str, engine) -> None:
    """SIGSTOP PROC at a moment it holds no transaction open, so that it keeps every lock
    it takes to itself no longer than its own transactions do."""
    deadline = time.monotonic() + WAIT
    os.kill(proc.pid, signal.SIGSTOP)
    while not outside_any_transaction(db_url, engine):
        assert time.monotonic() < deadline, "the first run never left its transaction"
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.002)
        os.kill(proc.pid, signal.SIGSTOP)


@pytest.mark.parametrize("step", ["customers", "subscriptions"])
def test_two_upgrades_of_one_tenant_at_once(cli, engine, db_url, big, spawn, step):
    """A second `upgrade` of a tenant whose upgrade is running is refused as busy (exit 4)
    naming the running process, and the first runs on to the end.

    The overlap is made, not hoped for: the first run is frozen (SIGSTOP, outside any
    transaction) once the store shows it has committed some of its batches but not all, and
    the second is started and ends while the store still shows it so."""
    lite, _ = big
    if step == "subscriptions":
        cli.json("upgrade", "customers", LITE)
    customers = root_customers(engine, lite)
    subs = root_rows(engine, lite, Subscription, COPIED)
    model, total = (Account, len(customers)) if step == "customers" else (Subscription, len(subs))

    def progress() -> int:
        return copied(engine, model, lite.org_id)

    # Batches small enough that the first run is seen in the middle of its copy; a lease
    # long enough that freezing it does not make its process claimable.
    env = {
        "TENANTCTL_COPY_BATCH": "5" if step == "customers" else str(BATCH),
        "TENANTCTL_LEASE_SECONDS": "600",
    }
    before = progress()
    first = spawn("--json", "upgrade", step, LITE, env=env)
    wait_until(
        lambda: progress() > before, "the first run to commit a batch", timeout=WAIT, interval=0.002
    )
    freeze_between_transactions(first, db_url, engine)
    [running] = [p for p in jobs.list_processes(engine) if p.status == jobs.RUNNING]
    frozen_at = progress()
    assert before < frozen_at < total, "the first run ended before it could be frozen"

    second = spawn("--json", "upgrade", step, LITE, env=env)
    out, err = second.communicate(timeout=WAIT)
    assert second.returncode == 4, (out, err)
    assert out == ""
    # Busy names the process it waits for, never the internal lock key.
    assert f"process {running.id}" in err and "is already " in err, err
    assert "tenant-transfer" not in err
    # It ended while the first was still in the middle of its copy, and changed nothing.
    assert progress() == frozen_at
    assert [
        (p.id, p.status)
        for p in jobs.list_processes(engine)
        if p.status in (jobs.QUEUED, jobs.RUNNING)
    ] == [(running.id, jobs.RUNNING)]

    os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=WAIT * 2)
    assert first.returncode == 0, err
    assert json.loads(out)["process_id"] == running.id
    assert jobs.get_process(engine, running.id).status == "succeeded"
    assert progress() == total

    account_copies = by_source(copies(engine, Account, lite.org_id), "source_account_id")
    assert set(account_copies) == set(customers)
    copy_ids = [a.id for a in account_copies.values()]
    assert _count(engine, Contact, Contact.account_id.in_(copy_ids)) == _count(
        engine, Contact, Contact.account_id.in_(list(customers))
    )
    if step == "customers":
        assert tenant_state(engine, lite) == ("customers-copied", "off")
        assert copied(engine, Subscription, lite.org_id) == 0
        return
    sub_copies = by_source(copies(engine, Subscription, lite.org_id), "source_subscription_id")
    assert set(sub_copies) == set(subs)
    root_add_ons = add_ons_of(engine, list(subs))
    assert _count(
        engine,
        SubscriptionAddon,
        SubscriptionAddon.subscription_id.in_([s.id for s in sub_copies.values()]),
    ) == sum(map(len, root_add_ons.values()))
    assert tenant_state(engine, lite) == ("live", "on")

"""Back-ordering under kill -9 and concurrency (SPEC section 7): a command killed between
its commit and its delivery, workers killed at random points of a delivery of a few
hundred events, and two deliverers racing over the same events. Each event reaches the
parent exactly once: one copied customer, one mirror and one order per executed sale.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tenantctl.domain import backorder, reconcile
from tenantctl.store.engine import open_engine, read_session, write_session
from tenantctl.store.models import Account, BackorderEvent, SalesOrder, Subscription
from tests import backorder_ops
from tests.jobs_worker_main import wait_until

EVENTS = 200
WAIT = 60


@pytest.fixture
def world(live_world):
    """The live world store (LITECLOUD upgraded and live, ACME never lite)."""
    return live_world


@pytest.fixture
def spawn(python_process):
    """Start subprocesses (`python ARGS...`); none outlives the test."""
    return python_process


def held_events(world, count: int, seed: int) -> tuple[int, int, int]:
    """COUNT events or more recorded while LITECLOUD's back-ordering is paused, then
    switched on again without delivering; returns (tenant id, tenant org, root org)."""
    tenant_id, org_id, root_id = world.ids(world.lite)
    engine = world.engine()
    try:
        with write_session(engine) as session:
            backorder.pause(session, "LITECLOUD", root_id)
        rnd, tally = random.Random(seed), backorder_ops.Tally()
        while pending(engine, tenant_id) < count:
            backorder_ops.operate(engine, org_id, rnd, tally, deliver=False)
        with write_session(engine) as session:
            backorder.resume(session, "LITECLOUD", root_id)
    finally:
        engine.dispose()
    return tenant_id, org_id, root_id


def _count_events(engine, tenant_id: int, *, delivered: bool) -> int:
    """How many of the tenant's events are (not) delivered. SQLite may answer "locking
    protocol" to a reader while a worker is killed or frozen mid-write: asked again."""
    done = (
        BackorderEvent.delivered_at.is_not(None)
        if delivered
        else BackorderEvent.delivered_at.is_(None)
    )
    for attempt in range(50):
        try:
            with read_session(engine) as session:
                return session.execute(
                    select(func.count())
                    .select_from(BackorderEvent)
                    .where(BackorderEvent.tenant_id == tenant_id, done)
                ).scalar_one()
        except OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def pending(engine, tenant_id: int) -> int:
    return _count_events(engine, tenant_id, delivered=False)


def assert_exactly_once(engine, tenant_id: int, root_id: int, org_id: int, seed) -> None:
    with read_session(engine) as session:
        events = (
            session.execute(select(BackorderEvent).where(BackorderEvent.tenant_id == tenant_id))
            .scalars()
            .all()
        )
        assert all(e.delivered_at is not None for e in events), f"seed {seed}: undelivered"
        with_order = {e.id for e in events if e.order_id is not None}
        orders = (
            session.execute(
                select(SalesOrder.backorder_event_id).where(
                    SalesOrder.org_id == root_id, SalesOrder.backorder_event_id.is_not(None)
                )
            )
            .scalars()
            .all()
        )
        assert sorted(orders) == sorted(with_order), f"seed {seed}: orders != sales"
        for model, source in (
            (Account, Account.source_account_id),
            (Subscription, Subscription.source_subscription_id),
        ):
            copies = session.execute(
                select(source, func.count())
                .where(model.org_id == root_id, source.is_not(None))
                .group_by(source)
                .having(func.count() > 1)
            ).all()
            assert copies == [], f"seed {seed}: {model.__name__} copied twice: {copies}"
        result = reconcile.reconcile(session, "LITECLOUD", root_id)
        assert (result.pending, result.differences) == (0, []), f"seed {seed}: {result}"


@pytest.mark.slow
def test_a_command_killed_between_its_commit_and_its_delivery_loses_nothing(world, spawn):
    tenant_id, org_id, root_id = world.ids(world.lite)
    victim = spawn("-m", "tests.backorder_ops", world.db_url, str(org_id), "sell-and-die")
    victim.communicate(timeout=WAIT)
    assert victim.returncode == -signal.SIGKILL
    engine = world.engine()
    try:
        assert pending(engine, tenant_id) == 1
        report = world.cli.json("worker", "--until-empty")
        assert report["delivered"] == 1
        assert_exactly_once(engine, tenant_id, root_id, org_id, "-")
        assert world.cli.json("order", "list")[-1]["lines"][0]["quantity"] == 11
    finally:
        engine.dispose()


def delivered(engine, tenant_id: int) -> int:
    return _count_events(engine, tenant_id, delivered=True)


@pytest.mark.slow
def test_workers_killed_mid_delivery_leave_each_event_applied_once(world, spawn):
    seed = random.randrange(1 << 32)
    rnd = random.Random(seed)
    tenant_id, org_id, root_id = held_events(world, EVENTS, seed)
    engine = world.engine()
    try:
        total = pending(engine, tenant_id)
        for kill in range(5):
            victim = spawn("-m", "tenantctl", "--db", world.db_url, "worker", "--until-empty")
            # Once it delivers, it runs only in slices of a few milliseconds (SIGCONT,
            # sleep, SIGSTOP) and is killed while stopped: a random point of its delivery.
            start = delivered(engine, tenant_id)
            wait_until(
                lambda s=start: delivered(engine, tenant_id) > s,
                f"seed {seed}: victim {kill} to deliver",
                timeout=WAIT,
                interval=0.005,
            )
            os.kill(victim.pid, signal.SIGSTOP)
            target = delivered(engine, tenant_id) + rnd.randint(3, 15)
            deadline = time.monotonic() + WAIT
            while delivered(engine, tenant_id) < target:
                assert time.monotonic() < deadline, f"seed {seed}: kill {kill} never came"
                os.kill(victim.pid, signal.SIGCONT)
                time.sleep(rnd.uniform(0.002, 0.02))
                os.kill(victim.pid, signal.SIGSTOP)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            assert delivered(engine, tenant_id) < total, f"seed {seed}: kill {kill} too late"
        survivor = spawn("-m", "tenantctl", "--db", world.db_url, "worker", "--until-empty")
        out, err = survivor.communicate(timeout=WAIT * 2)
        assert survivor.returncode == 0, f"seed {seed}: {err}"
        wait_until(lambda: pending(engine, tenant_id) == 0, "every event delivered", timeout=WAIT)
        assert_exactly_once(engine, tenant_id, root_id, org_id, seed)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_two_deliverers_racing_deliver_each_event_once(world):
    """A worker's sweep and a command's own delivery, started together over the same held
    events: the tenant row's lock makes them take turns, never the same event twice."""
    seed = random.randrange(1 << 32)
    tenant_id, org_id, root_id = held_events(world, EVENTS // 2, seed)
    engine = world.engine()
    try:
        total = pending(engine, tenant_id)
        barrier, results, errors = threading.Barrier(2), [], []

        def run(deliver) -> None:
            own = open_engine(world.db_url)
            try:
                barrier.wait(timeout=WAIT)
                results.append(deliver(own))
            except Exception as exc:  # reported below with the seed
                errors.append(exc)
            finally:
                own.dispose()

        def after_a_command(own) -> int:
            return sum(r.delivered for r in backorder.deliver_tenants(own, [tenant_id]))

        threads = [
            threading.Thread(target=run, args=(backorder.deliver_all,)),
            threading.Thread(target=run, args=(after_a_command,)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT * 2)
        assert errors == [], f"seed {seed}: {errors}"
        assert pending(engine, tenant_id) == 0 and sum(results) == total, (
            f"seed {seed}: delivered {results} of {total}"
        )
        assert_exactly_once(engine, tenant_id, root_id, org_id, seed)
    finally:
        engine.dispose()

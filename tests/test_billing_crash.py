"""`invoice run --all` killed (kill -9) half-way through many resellers, and two `--all`
runs at once: every cycle is issued once and the invoice numbers have no gap (SPEC 8).

The runs are real `tenantctl` subprocesses; the test kills one as soon as some resellers
have been issued and others not, whichever transaction it is in at that moment.
"""

from __future__ import annotations

import os
import re
import signal
from datetime import date

import pytest
from sqlalchemy import func, select

from tenantctl.store.engine import read_session
from tenantctl.store.models import Account, BillingCycle, Invoice
from tests.billing_world import add_customer, add_reseller, add_subscription, build_world
from tests.jobs_worker_main import wait_until

RESELLERS = 120
PERIOD = "2026-03"

pytestmark = [pytest.mark.slow]


@pytest.fixture
def many(engine):
    """RESELLERS tenant resellers, each with one customer on a separate invoice and one on
    the consolidated one: two invoices each."""
    world = build_world(engine)
    for n in range(RESELLERS):
        code = f"R{n:04d}"
        add_reseller(engine, world, code)
        for separate in (False, True):
            customer = add_customer(engine, world, code, f"{code}-C{int(separate)}", separate)
            add_subscription(
                engine, world, customer, "M365", "monthly", 1 + n % 5, date(2025, 1, 1)
            )
    return world


@pytest.fixture
def spawn(db_url, python_process):
    """Start `tenantctl` subprocesses on this test's store; none outlives the test."""
    return lambda *args: python_process("-m", "tenantctl", "--db", db_url, *args)


def issued_cycles(engine) -> int:
    with read_session(engine) as s:
        return s.execute(select(func.count(BillingCycle.id))).scalar_one()


def assert_each_once_without_gaps(engine) -> None:
    with read_session(engine) as s:
        cycles = s.execute(
            select(BillingCycle.account_id, func.count()).group_by(BillingCycle.account_id)
        ).all()
        numbers = s.execute(select(Invoice.number).order_by(Invoice.id)).scalars().all()
        per_reseller = s.execute(
            select(Account.code, func.count(Invoice.id))
            .join(Invoice, Invoice.account_id == Account.id)
            .group_by(Account.code)
        ).all()
    assert len(cycles) == RESELLERS and {n for _, n in cycles} == {1}
    assert {n for _, n in per_reseller} == {2} and len(per_reseller) == RESELLERS
    serials = [int(re.fullmatch(r"INV-\d{4}-(\d{6})", n)[1]) for n in numbers]
    assert sorted(serials) == list(range(1, 2 * RESELLERS + 1))


def test_a_run_killed_half_way_leaves_no_gap_in_the_numbers(engine, many, spawn):
    proc = spawn("invoice", "run", "--all", "--period", PERIOD)
    try:
        wait_until(lambda: issued_cycles(engine) >= 5, "some resellers issued", 120)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate()
    done = issued_cycles(engine)
    assert 5 <= done < RESELLERS, "the kill did not land half-way"
    rerun = spawn("invoice", "run", "--all", "--period", PERIOD, "--json")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert_each_once_without_gaps(engine)


def test_two_runs_of_all_at_once_issue_each_invoice_once(engine, many, spawn):
    runs = [spawn("invoice", "run", "--all", "--period", PERIOD, "--json") for _ in range(2)]
    for proc in runs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert_each_once_without_gaps(engine)

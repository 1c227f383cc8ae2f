"""`tenant update` survives workers that die (kill -9) in the middle of it (SPEC 4 and 6).

A tenant of a few thousand real products (Google Cloud's 2025-04-27 prices) is updated to
the next published version (thousands of additions, price changes and discontinuations).
The update is queued with `--detach`; worker subprocesses claim it and are killed at
random moments; a last worker finishes it. The tenant must then hold exactly the new
version, and the update log one entry per difference: none lost, none twice.

In-process tests stop a run between two of its committed transactions (as a worker
killed right after a commit would) at each point in turn, and resume it.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tenantctl import jobs
from tenantctl.domain.kinds import register_all
from tenantctl.jobs import QueueSettings
from tenantctl.store.engine import read_session
from tenantctl.store.models import TenantUpdateLog
from tests.gcp_update_world import CODE, gcp_version, load_usd_reseller
from tests.gcp_update_world import PL as GCP_PL
from tests.gcp_update_world import create_tenant as create_usd_tenant
from tests.jobs_worker_main import wait_until
from tests.realdata import GCP_VERSIONS, write_gcp_csv
from tests.tenant_worker_main import hang_guard
from tests.update_world import (
    ADD_ON,
    BELOW,
    DATASET,
    PL,
    PRICE,
    SELL,
    V2,
    assert_log,
    assert_tenant_holds,
    create_tenant,
    edited,
    expected_changes,
    log_of,
    read_rows,
    recorded_revision,
    retail_list,
    retail_prices,
    tenant_products,
    update_one,
    version_1,
    version_of,
    write_rows,
)

LEASE = 2.0
FAST = QueueSettings(lease_seconds=LEASE, backoff_seconds=0.0, poll_seconds=0.02)
# Far more than the test needs; the guard only turns a hang into a failure.
HANG_SECONDS = 600

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc"),
]


@pytest.fixture(autouse=True)
def _guarded(monkeypatch):
    monkeypatch.setenv("TENANTCTL_RETRY_BACKOFF_SECONDS", "0")
    # Small batches: the update commits many times, so every kill lands inside it.
    monkeypatch.setenv("TENANTCTL_COPY_BATCH", "100")
    with hang_guard(HANG_SECONDS):
        yield


# --- workers killed at random moments --------------------------------------------------------


@pytest.fixture
def spawn(db_url, python_process):
    """Start `tests.tenant_worker_main` workers on this test's store; none outlives the test."""
    return lambda worker_id: python_process(
        "-m", "tests.tenant_worker_main", db_url, "--worker-id", worker_id, "--lease", LEASE
    )


def logged(engine, process_id: int) -> int:
    """How many update-log entries the process has committed."""
    with read_session(engine) as session:
        return session.execute(
            select(func.count())
            .select_from(TenantUpdateLog)
            .where(TenantUpdateLog.process_id == process_id)
        ).scalar_one()


def test_workers_killed_during_an_update_leave_every_change_applied_once(
    cli, engine, tmp_path, spawn
):
    seed = random.randrange(1 << 32)
    rnd = random.Random(seed)
    old_v, new_v = GCP_VERSIONS[:2]
    old, new = gcp_version(old_v), gcp_version(new_v)
    expected = expected_changes(old, new)
    assert all(len(keys) >= 50 for keys in expected.values()), "too few changes to crash in"
    load_usd_reseller(cli, tmp_path)
    cli(
        "pricelist",
        "import",
        GCP_PL,
        write_gcp_csv(old_v, tmp_path / "old.csv"),
        "--currency",
        "USD",
    )
    create_usd_tenant(cli)
    cli("pricelist", "import", GCP_PL, write_gcp_csv(new_v, tmp_path / "new.csv"))

    queued = update_one(cli, CODE, "--detach")
    assert queued["status"] == "queued"
    pid = queued["process_id"]

    def fence() -> int:
        return jobs.get_process(engine, pid).fence

    def plans_made() -> int:
        return sum(
            re.match(r"\d+ changes? from revision", e.message) is not None
            for e in jobs.logs(engine, pid)
        )

    # Each victim dies at a random moment of a different phase: planning (or just after),
    # copying the new products, applying the later kinds of change; the last anywhere in
    # its first second. A kill after the update has ended would not count (none should).
    landed: list[str] = []
    for n, moment in enumerate(
        ["after its claim", "after it planned", "after a commit", "after its claim"]
    ):
        planned = plans_made()
        victim = spawn(f"victim-{n}")
        wait_until(lambda n=n: fence() == n + 1, f"victim-{n} to claim the update", timeout=300)
        if moment == "after it planned":
            wait_until(lambda planned=planned: plans_made() > planned, "a plan", timeout=300)
            time.sleep(rnd.uniform(0, 0.6))
        elif moment == "after a commit":
            wait_until(lambda: logged(engine, pid) > 0, "a first commit", timeout=300)
            time.sleep(rnd.uniform(0, 0.2))
        else:
            time.sleep(rnd.uniform(0, 1.0))
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        if jobs.get_process(engine, pid).finished:
            break
        landed.append(f"victim-{n} killed {moment}: {logged(engine, pid)} entries logged")
    assert len(landed) >= 3, f"seed {seed}: only these kills landed in the update: {landed}"
    print(f"seed {seed}:", *landed, sep="\n  ")  # shown with -s, and when the test fails

    if not jobs.get_process(engine, pid).finished:
        survivor = spawn("survivor")
        out, err = survivor.communicate(timeout=600)
        assert survivor.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["status"] == "succeeded"
    info = jobs.get_process(engine, pid)
    assert (info.status, info.attempt) == ("succeeded", 1), f"seed {seed}, {landed}"
    # Every claim after the first was a take-over from a killed worker.
    takeovers = sum("taken over by worker" in e.message for e in jobs.logs(engine, pid))
    assert takeovers == info.fence - 1 >= len(landed), f"seed {seed}, {landed}"

    assert_tenant_holds(engine, new, discontinued=set(old.items) - set(new.items), code=CODE)
    assert recorded_revision(cli, CODE) == 2
    log = log_of(cli, CODE)
    assert_log(log, expected)
    assert {e["process_id"] for e in log} == {pid}, f"seed {seed}, kills {landed}"
    # The margin guard's entries too, once each: the retail list sells at the old cost.
    below = Counter((e["sku"], e["unit"], Decimal(e["new"])) for e in log if e["change"] == BELOW)
    assert below == Counter(
        (*k, new.items[k]) for k in expected[PRICE] if new.items[k] > old.items[k]
    ), f"seed {seed}, kills {landed}"
    again = update_one(cli, CODE)
    assert (again["status"], again["process_id"]) == ("up-to-date", None)


# --- a run stopped between two of its transactions ------------------------------------------


class Died(BaseException):
    """The worker dies here (a BaseException: nothing in the run catches it, as kill -9)."""


def run_until_commit(engine, process_id: int, commits: int) -> list[tuple[int, int | None]]:
    """Run the process and die right after its COMMITS-th committed batch of changes.

    The progress callback runs after a transaction has committed, so dying there leaves
    the process as a kill -9 right after that commit would: running, under a lease that
    runs out. Returns the progress seen.
    """
    seen: list[tuple[int, int | None]] = []

    def on_progress(task: str, done: int, total: int | None) -> None:
        seen.append((done, total))
        if done > 0 and sum(d > 0 for d, _ in seen) == commits:
            raise Died(f"after commit {commits}")

    register_all()
    claimed = jobs.claim_process(engine, process_id, "dies", settings=FAST)
    with pytest.raises(Died):
        jobs.run_process(engine, claimed, on_progress=on_progress, settings=FAST)
    assert jobs.get_process(engine, process_id).status == "running"
    return seen


def resume(engine, process_id: int) -> jobs.ProcessInfo:
    """Take the process over once the dead worker's lease ran out, and finish it."""
    claimed = wait_until(
        lambda: jobs.claim_process(engine, process_id, "takes-over", settings=FAST),
        "the dead worker's lease to run out",
        interval=0.1,
    )
    return jobs.run_process(engine, claimed, settings=FAST)


@pytest.fixture
def store(cli):
    cli("load", DATASET)
    create_tenant(cli, "ACME")
    return cli


@pytest.mark.parametrize("commits", [1, 2, 3])
def test_an_update_stopped_after_a_commit_resumes_without_a_duplicate(store, engine, commits):
    old, new = version_1(), version_of(read_rows(V2))
    expected = expected_changes(old, new)
    store("pricelist", "import", PL, V2)
    pid = update_one(store, "ACME", "--detach")["process_id"]

    run_until_commit(engine, pid, commits)
    assert resume(engine, pid).status == "succeeded"
    assert_tenant_holds(engine, new, discontinued=expected["discontinued"])
    assert_log(log_of(store), expected)
    assert update_one(store)["status"] == "up-to-date"


@pytest.mark.parametrize("commits", [1, 2, 3])
def test_sell_prices_stopped_after_a_commit_still_reach_every_repriced_unit(store, engine, commits):
    """With --sell-prices a unit's new cost and its new sell price are one change: a run
    stopped after any commit and resumed leaves every repriced unit sold at its new cost
    (a resumed plan finds the costs already moved and has nothing left to reprice)."""
    old, new = version_1(), version_of(read_rows(V2))
    repriced = expected_changes(old, new)[PRICE]
    store("pricelist", "import", PL, V2)
    pid = update_one(store, "ACME", "--sell-prices", "--detach")["process_id"]

    run_until_commit(engine, pid, commits)
    assert resume(engine, pid).status == "succeeded"
    prices = retail_prices(retail_list(store, store.json("tenant", "show", "ACME")["client_id"]))
    assert {k: prices[k] for k in repriced} == {k: new.items[k] for k in repriced}
    sold = [(e["sku"], e["unit"]) for e in log_of(store) if e["change"] == SELL]
    assert sorted(sold) == sorted(repriced)


def test_an_update_stopped_after_adding_still_logs_its_add_on_changes(store, engine, tmp_path):
    rows = edited(read_rows(V2), MS_DEFENDER_O365_P1={"add_on_of": "MS-M365-E3"})
    store("pricelist", "import", PL, write_rows(tmp_path / "v2.csv", rows))
    pid = update_one(store, "ACME", "--detach")["process_id"]

    run_until_commit(engine, pid, 1)  # the products were added
    assert resume(engine, pid).status == "succeeded"
    assert [(e["sku"], e["old"], e["new"]) for e in log_of(store) if e["change"] == ADD_ON] == [
        ("MS-DEFENDER-O365-P1", "MS-M365-BS", "MS-M365-E3")
    ]


def test_an_update_commits_the_products_it_adds_in_batches(store, engine, monkeypatch):
    monkeypatch.setenv("TENANTCTL_COPY_BATCH", "2")
    old, new = version_1(), version_of(read_rows(V2))
    added = {sku for sku, _ in expected_changes(old, new)["added"]} - old.skus
    assert len(added) > 2
    store("pricelist", "import", PL, V2)
    pid = update_one(store, "ACME", "--detach")["process_id"]

    run_until_commit(engine, pid, 1)
    assert len(set(tenant_products(engine)) & added) <= 2
    assert resume(engine, pid).status == "succeeded"

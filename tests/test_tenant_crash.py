"""Tenant creation survives its workers (SPEC section 4): a worker killed (kill -9) while it
copies a 12,100-product catalogue, a worker frozen past its lease, and four workers on
twenty queued creations. Every process ends succeeded, exactly once, and no row is
written twice.

The catalogue is Google Cloud's real Compute Engine price list of 2025-04-27 (see
tests/realdata.py). Workers are `python -m tenantctl worker` subprocesses with short
leases from the environment, and the copy batch made smaller with TENANTCTL_COPY_BATCH
so that there are more batches than kills: each kill is aimed after its victim committed
a batch (seen through the store), so each proves resumption from a committed checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tenantctl import jobs
from tenantctl.domain.users import verify_password
from tenantctl.jobs.queue import db_now
from tenantctl.store.engine import open_engine, read_session
from tenantctl.store.models import (
    Account,
    Organisation,
    PriceList,
    PriceListItem,
    Product,
    ProductUnit,
    ProvisioningSetting,
    Storefront,
    TenantReseller,
    User,
    UserGroup,
)
from tests.conftest import PG_SERVER, Cli, create_pg_database, drop_pg_database
from tests.jobs_worker_main import wait_until
from tests.realdata import PRICE_COLUMNS, gcp_prices, write_gcp_csv
from tests.tenant_worker_main import hang_guard

pytestmark = [
    pytest.mark.slow,
]

GCP_VERSION = "2025-04-27"
GCP = "Google Cloud EUR"
PASSWORD = "Crash-Test-Secret-42x"
ORGANISATION = {
    "name": "Cloud Distribution",
    "currency": "EUR",
    "country": "GR",
    "language": "en",
    "timezone": "Europe/Athens",
    "date_format": "DD/MM/YYYY",
}
RESELLER = "CLOUDR"
COPY_BATCH = 250  # 12,100 products: 49 batches, more than the kills can use up
LEASE = 2.0
WORKER_ENV = {
    "TENANTCTL_LEASE_SECONDS": str(LEASE),
    "TENANTCTL_RETRY_BACKOFF_SECONDS": "0",
    "TENANTCTL_WORKER_POLL_SECONDS": "0.05",
    "TENANTCTL_COPY_BATCH": str(COPY_BATCH),
    # The kill test takes the copy over twenty times, twice the default allowance.
    "TENANTCTL_MAX_TAKEOVERS": "25",
}
# Each test needs a fraction of this; the guard only turns a hang into a failure.
HANG_SECONDS = {"test_copy_time_in_process": 120}


@pytest.fixture(autouse=True)
def _no_hang(request):
    with hang_guard(HANG_SECONDS.get(request.node.name, 420)):
        yield


def reseller_dataset(path: Path, codes: list[str]) -> Path:
    """A root organisation and resellers billed in EUR (GCP products need no sync)."""
    accounts = [
        {
            "code": code,
            "name": f"Reseller {code}",
            "kind": "reseller",
            "currency": "EUR",
            "country": "GR",
            "email": f"{code.lower()}@example.com",
        }
        for code in codes
    ]
    path.write_text(
        yaml.safe_dump({"organisation": ORGANISATION, "accounts": accounts}), encoding="utf-8"
    )
    return path


def create_args(code: str, price_list: str, edition: str = "premium") -> list[str]:
    return [
        "tenant",
        "create",
        code,
        "--price-list",
        price_list,
        "--edition",
        edition,
        "--admin-username",
        "admin",
        "--admin-email",
        f"admin@{code.lower()}.example",
        "--detach",
    ]


# --- a store with the Google Cloud price list, built once for the module ------------------


@pytest.fixture(scope="module")
def gcp_store(_template, tmp_path_factory):
    """A migrated store with reseller CLOUDR and GCP's 12,100 products (to copy per test)."""
    folder = tmp_path_factory.mktemp("gcp")
    if PG_SERVER:
        url = create_pg_database(template=_template)
    else:
        shutil.copyfile(_template, folder / "gcp.db")
        url = f"sqlite:///{folder / 'gcp.db'}"
    cli = Cli(url)
    cli("load", reseller_dataset(folder / "dataset.yaml", [RESELLER]))
    imported = cli.json(
        "pricelist",
        "import",
        GCP,
        write_gcp_csv(GCP_VERSION, folder / "gcp.csv"),
        "--currency",
        "EUR",
    )
    assert imported["item_count"] == len(gcp_prices(GCP_VERSION)) >= 10_000
    if not PG_SERVER:
        engine = open_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
    yield url
    if PG_SERVER:
        drop_pg_database(url)


@pytest.fixture
def gcp_url(gcp_store, tmp_path):
    """A private copy of the GCP store."""
    if PG_SERVER:
        url = create_pg_database(template=make_url(gcp_store).database)
        yield url
        drop_pg_database(url)
    else:
        path = tmp_path / "store.db"
        shutil.copyfile(make_url(gcp_store).database, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def gcp_engine(gcp_url):
    engine = open_engine(gcp_url)
    yield engine
    engine.dispose()


# --- worker subprocesses ------------------------------------------------------------------


@pytest.fixture
def spawn(python_process):
    """Start worker subprocesses; none outlives the test."""
    return lambda *argv, env=None: python_process(*argv, env={**WORKER_ENV, **(env or {})})


def tenantctl_worker(spawn, db_url: str, *args: str) -> subprocess.Popen:
    return spawn("-m", "tenantctl", "--db", db_url, "--json", "worker", *args)


def finish(proc: subprocess.Popen) -> tuple[dict, str]:
    """Wait for a worker to end; its JSON report and its stderr."""
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, f"worker exited {proc.returncode}\n{err}"
    return json.loads(out), err


def lease_expired(engine, process_id: int) -> bool:
    with read_session(engine) as session:
        expires = session.execute(
            select(jobs.Process.lease_expires_at).where(jobs.Process.id == process_id)
        ).scalar_one()
        return expires is not None and expires <= db_now(session)


def proc_state(pid: int) -> str:
    # The third field of /proc/PID/stat is the state; "T" is stopped by a signal.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


# --- what a finished tenant must hold -------------------------------------------------------


def tenant_counts(engine, code: str = RESELLER) -> dict[str, int]:
    """Rows of the tenant of CODE, and the distinct sources they were copied from."""
    with read_session(engine) as session:
        org_id = session.execute(
            select(TenantReseller.org_id)
            .join(Account, Account.id == TenantReseller.account_id)
            .where(Account.code == code)
        ).scalar_one()

        def scalar(stmt) -> int:
            return session.execute(stmt).scalar_one()

        retail = select(PriceList.id).where(PriceList.org_id == org_id).scalar_subquery()
        return {
            "products": scalar(select(func.count()).where(Product.org_id == org_id)),
            "product sources": scalar(
                select(func.count(func.distinct(Product.source_product_id))).where(
                    Product.org_id == org_id
                )
            ),
            "units": scalar(select(func.count()).where(ProductUnit.org_id == org_id)),
            "unit sources": scalar(
                select(func.count(func.distinct(ProductUnit.source_unit_id))).where(
                    ProductUnit.org_id == org_id
                )
            ),
            "retail items": scalar(
                select(func.count()).where(PriceListItem.price_list_id.in_(retail))
            ),
            "retail lists": scalar(select(func.count()).where(PriceList.org_id == org_id)),
            "users": scalar(select(func.count()).where(User.org_id == org_id)),
            "groups": scalar(select(func.count()).where(UserGroup.org_id == org_id)),
            "storefronts": scalar(select(func.count()).where(Storefront.org_id == org_id)),
            "provisioning": scalar(
                select(func.count()).where(ProvisioningSetting.org_id == org_id)
            ),
        }


def expected_counts(products: int, units: int, edition: str = "premium") -> dict[str, int]:
    return {
        "products": products,
        "product sources": products,
        "units": units,
        "unit sources": units,
        "retail items": units,
        "retail lists": 1,
        "users": 1,
        "groups": 1,
        "storefronts": int(edition == "premium"),
        "provisioning": 1,
    }


def mispriced_units(engine, code: str = RESELLER) -> int:
    """Units of the tenant whose cost is not their source's price in the price list."""
    with read_session(engine) as session:
        tenant = session.execute(
            select(TenantReseller)
            .join(Account, Account.id == TenantReseller.account_id)
            .where(Account.code == code)
        ).scalar_one()
        source = ProductUnit.__table__.alias("source")
        return session.execute(
            select(func.count())
            .select_from(ProductUnit)
            .join(source, source.c.id == ProductUnit.source_unit_id)
            .join(
                PriceListItem,
                (PriceListItem.product_id == source.c.product_id)
                & (PriceListItem.unit == source.c.unit)
                & (PriceListItem.price_list_id == tenant.price_list_id)
                & PriceListItem.to_revision.is_(None),
            )
            .where(
                ProductUnit.org_id == tenant.org_id, ProductUnit.cost_price != PriceListItem.price
            )
        ).scalar_one()


def one_admin(engine, code: str = RESELLER) -> None:
    with read_session(engine) as session:
        users = (
            session.execute(
                select(User)
                .join(TenantReseller, TenantReseller.org_id == User.org_id)
                .join(Account, Account.id == TenantReseller.account_id)
                .where(Account.code == code)
            )
            .scalars()
            .all()
        )
    assert [u.username for u in users] == ["admin"]
    assert verify_password(PASSWORD, users[0].password_hash)


# --- the copy, measured ------------------------------------------------------------------


def test_copy_time_in_process(gcp_url, gcp_engine, capsys):
    """How long the 12,100-product copy takes here (printed, not asserted)."""
    cli = Cli(gcp_url)
    started = time.perf_counter()
    out = cli.json(*create_args(RESELLER, GCP)[:-1], env={"TENANTCTL_ADMIN_PASSWORD": PASSWORD})
    wall = time.perf_counter() - started
    products = len(gcp_prices(GCP_VERSION))
    assert out["status"] == "succeeded" and out["tenant"]["products"] == products
    assert tenant_counts(gcp_engine) == expected_counts(products, products)
    copy = jobs.get_process(gcp_engine, out["process_id"]).tasks[3]
    seconds = (copy.finished_at - copy.started_at).total_seconds()
    with capsys.disabled():
        print(
            f"\n[{gcp_engine.dialect.name}] copying {products} products in-process "
            f"(batches of {os.environ.get('TENANTCTL_COPY_BATCH', 'the default')}): "
            f"copy task {seconds:.2f} s, whole `tenant create` {wall:.2f} s"
        )


# --- kill -9 ---------------------------------------------------------------------------------

KILLS = 20
# Kills that come right after a claim, before or just as the copy resumes; every other kill
# comes after its victim committed a batch of its own.
EARLY_KILLS = 3
# The log line of a claim; a worker id is host:pid:random.
CLAIM = re.compile(r"(claimed|taken over) by worker \S*:(?P<pid>\d+):[0-9a-f]+ ")
# The log line of the copy's (re)start, with the checkpoint it resumed from.
COPY_START = re.compile(
    r"task 4/7 \(copy the catalogue\) (?:started|resumed from its "
    r"checkpoint \((?P<done>\d+) of \d+ done\))$"
)


def test_workers_killed_while_copying_leave_a_complete_tenant(gcp_url, gcp_engine, spawn, capsys):
    """Twenty workers in turn claim the creation and are killed (kill -9). All but a few
    are killed only after the store shows they committed a batch of their own, at a random
    moment of the next one; and each of them is seen (in the log) to have resumed from
    exactly the checkpoint the previous victim left, with as many products in the tenant as
    that checkpoint says. So the copy goes on from committed checkpoints, never from zero
    and never past rows it lost, and the last worker leaves a complete tenant."""
    seed = random.randrange(1 << 32)
    rnd = random.Random(seed)
    engine = gcp_engine
    cli = Cli(gcp_url)
    pid = cli.json(*create_args(RESELLER, GCP), env={"TENANTCTL_ADMIN_PASSWORD": PASSWORD})[
        "process_id"
    ]
    products = len(gcp_prices(GCP_VERSION))
    # More batches than kills can use up: the copy must outlive every kill.
    assert products // COPY_BATCH > 2 * KILLS

    def copied() -> int:
        """The copy's committed checkpoint: products done."""
        return jobs.get_process(engine, pid).tasks[3].done

    def claim_by(workers: list[subprocess.Popen]) -> tuple[subprocess.Popen, int] | None:
        """The worker of WORKERS that claimed the process, and the id of that log entry."""
        by_pid = {w.pid: w for w in workers}
        for entry in jobs.logs(engine, pid):
            claimer = CLAIM.match(entry.message)
            if claimer and int(claimer["pid"]) in by_pid:
                return by_pid[int(claimer["pid"])], entry.id
        return None

    def copy_start(claim_id: int) -> tuple[int] | None:
        """(the checkpoint it resumed from,) once the worker that claimed at CLAIM_ID has
        (re)started the copy; a fresh start resumes from 0."""
        for e in jobs.logs(engine, pid, after_id=claim_id):
            started = COPY_START.match(e.message)
            if started:
                return (int(started["done"] or 0),)
        return None

    batch_seconds = None  # from one commit to the next, measured on the first victim
    moments = []
    left = 0  # the checkpoint the last victim left
    early = set(rnd.sample(range(1, KILLS), EARLY_KILLS))
    # Two workers wait at any time: starting Python takes longer than a lease here, and
    # the one that claims first after a kill is the next victim.
    standby = [tenantctl_worker(spawn, gcp_url, "--once") for _ in range(2)]
    started, seen = len(standby), set()
    for kill in range(KILLS):
        victim, claim_id = wait_until(
            lambda: claim_by([w for w in standby if w.pid not in seen]),
            f"worker {kill} to claim",
            timeout=120,
        )
        seen.add(victim.pid)
        standby.remove(victim)
        if started < KILLS:
            standby.append(tenantctl_worker(spawn, gcp_url, "--once"))
            started += 1
        if kill in early:
            where, sleep, resumed = "after the claim", rnd.uniform(0, 0.1), None
            time.sleep(sleep)
        else:
            [resumed] = wait_until(
                lambda c=claim_id: copy_start(c), f"worker {kill} to resume the copy", timeout=120
            )
            assert resumed == left, (
                f"seed {seed}: kill {kill}: resumed from {resumed}, "
                f"but the last checkpoint was {left}"
            )
            wait_until(
                lambda r=resumed: copied() > r,
                f"worker {kill} to commit a batch",
                timeout=120,
                interval=0.002,
            )
            committed = copied()
            if batch_seconds is None:
                wait_until(
                    lambda c=committed: copied() > c, "a second batch", timeout=120, interval=0.002
                )
                batch_seconds = time.monotonic()
                committed = copied()
                wait_until(
                    lambda c=committed: copied() > c, "a third batch", timeout=120, interval=0.002
                )
                batch_seconds = time.monotonic() - batch_seconds
                committed = copied()
            # A random moment of the next batch: killed before it commits, or just after.
            where, sleep = "after a commit", rnd.uniform(0, batch_seconds)
            deadline = time.monotonic() + sleep
            while time.monotonic() < deadline and copied() == committed:
                time.sleep(0.002)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()

        info = jobs.get_process(engine, pid)
        done = info.tasks[3].done
        assert info.status == "running" and done < products, (
            f"seed {seed}: kill {kill} came too late: {info}"
        )
        # What the checkpoint says is what the tenant holds: nothing lost, nothing twice.
        counts = tenant_counts(engine)
        assert counts["products"] == counts["product sources"] == done, f"seed {seed}: {counts}"
        if resumed is not None:
            assert done >= resumed + COPY_BATCH, f"seed {seed}: kill {kill}"
        assert done >= left
        moments.append((kill, where, round(sleep, 3), resumed, done))
        left = done

    wait_until(lambda: lease_expired(engine, pid), "the last lease to run out", timeout=60)
    report, _ = finish(tenantctl_worker(spawn, gcp_url, "--until-empty"))
    assert [(p["id"], p["status"]) for p in report["processes"]] == [(pid, "succeeded")]

    with capsys.disabled():
        print(
            f"\n[{engine.dialect.name}] seed {seed}; a batch of {COPY_BATCH} every "
            f"~{batch_seconds:.2f} s; kills (n, moment, sleep, resumed from, done):"
        )
        for moment in moments:
            print("   ", moment)
    proving = [m for m in moments if m[3] is not None]
    assert len(proving) == KILLS - EARLY_KILLS
    resumes = [
        int(m["done"] or 0) for e in jobs.logs(engine, pid) if (m := COPY_START.match(e.message))
    ]
    # Every (re)start of the copy after the first came from a committed checkpoint > 0.
    assert resumes[0] == 0 and all(r > 0 for r in resumes[1:]), f"seed {seed}: {resumes}"
    assert resumes[-1] == left

    info = jobs.get_process(engine, pid)
    # One attempt throughout: a take-over continues it; every claim has its own fence.
    assert (info.status, info.attempt, info.fence) == ("succeeded", 1, KILLS + 1)
    assert [(t.status, t.done == t.total) for t in info.tasks] == [("done", True)] * 7
    assert info.tasks[3].done == products
    messages = [e.message for e in jobs.logs(engine, pid)]
    assert sum("taken over by worker" in m for m in messages) == KILLS
    assert messages[-1] == "succeeded" and messages.count("succeeded") == 1
    assert tenant_counts(engine) == expected_counts(products, products), f"seed {seed}"
    assert mispriced_units(engine) == 0
    one_admin(engine)


# --- SIGSTOP past the lease ----------------------------------------------------------------


def test_a_frozen_worker_commits_nothing_after_it_was_taken_over(gcp_url, gcp_engine, spawn):
    engine = gcp_engine
    cli = Cli(gcp_url)
    pid = cli.json(*create_args(RESELLER, GCP), env={"TENANTCTL_ADMIN_PASSWORD": PASSWORD})[
        "process_id"
    ]
    products = len(gcp_prices(GCP_VERSION))
    frozen = spawn(
        "-m",
        "tests.tenant_worker_main",
        gcp_url,
        "--worker-id",
        "frozen",
        "--lease",
        str(LEASE),
        "--freeze-after-copied",
        str(3 * COPY_BATCH),
    )
    wait_until(lambda: proc_state(frozen.pid) == "T", "the worker to freeze", timeout=120)
    at_freeze = jobs.get_process(engine, pid)
    assert at_freeze.lease_owner == "frozen" and at_freeze.tasks[3].done == 3 * COPY_BATCH
    assert tenant_counts(engine)["products"] == 3 * COPY_BATCH

    # Its lease runs out; a real worker takes the process over and finishes it.
    wait_until(
        lambda: lease_expired(engine, pid), "the frozen worker's lease to run out", timeout=60
    )
    report, _ = finish(tenantctl_worker(spawn, gcp_url, "--until-empty"))
    assert [(p["id"], p["status"]) for p in report["processes"]] == [(pid, "succeeded")]
    finished = jobs.get_process(engine, pid)
    counts = tenant_counts(engine)
    last_log = jobs.logs(engine, pid)[-1].id
    assert counts == expected_counts(products, products)

    os.kill(frozen.pid, signal.SIGCONT)
    out, err = frozen.communicate(timeout=120)
    assert frozen.returncode == 0, err
    assert "lease lost" in err
    assert json.loads(out) == {"worker_id": "frozen", "id": pid, "status": "succeeded"}
    # It wrote nothing: no row, no log line, no change to the process.
    assert tenant_counts(engine) == counts
    assert jobs.logs(engine, pid, after_id=last_log) == []
    after = jobs.get_process(engine, pid)
    assert (after.status, after.fence, after.finished_at, after.lease_owner) == (
        "succeeded",
        2,
        finished.finished_at,
        finished.lease_owner,
    )
    assert [t.done for t in after.tasks] == [t.done for t in finished.tasks]
    assert mispriced_units(engine) == 0
    one_admin(engine)


# --- four workers, twenty creations ----------------------------------------------------------

SMALL = "Small EUR"
TENANTS = [f"RES-{n:02d}" for n in range(1, 21)]


def small_price_list(path: Path, n: int) -> Path:
    """The first N Google Cloud products as a price-list CSV."""
    prices = list(gcp_prices(GCP_VERSION).items())[:n]
    rows = [",".join(PRICE_COLUMNS)]
    for sku, price in prices:
        rows.append(f"{sku},{sku.replace('@', ' in ')},other,monthly,{price}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_four_workers_run_twenty_creations_each_exactly_once(cli, engine, spawn, db_url, tmp_path):
    cli("load", reseller_dataset(tmp_path / "resellers.yaml", TENANTS))
    size = 60
    cli(
        "pricelist",
        "import",
        SMALL,
        small_price_list(tmp_path / "small.csv", size),
        "--currency",
        "EUR",
    )
    env = {"TENANTCTL_ADMIN_PASSWORD": PASSWORD}
    ids = {
        code: cli.json(*create_args(code, SMALL, "premium" if n % 2 else "basic"), env=env)[
            "process_id"
        ]
        for n, code in enumerate(TENANTS)
    }

    # Long enough leases: here nobody dies, so nobody may take anything over.
    workers = [
        spawn(
            "-m",
            "tenantctl",
            "--db",
            db_url,
            "--json",
            "worker",
            "--until-empty",
            env={"TENANTCTL_LEASE_SECONDS": "30", "TENANTCTL_COPY_BATCH": "25"},
        )
        for _ in range(4)
    ]
    reports = [finish(w)[0] for w in workers]
    ran = sorted(p["id"] for r in reports for p in r["processes"])
    assert ran == sorted(ids.values())
    assert all(p["status"] == "succeeded" for r in reports for p in r["processes"])

    for n, (code, pid) in enumerate(ids.items()):
        info = jobs.get_process(engine, pid)
        assert (info.status, info.attempt, info.fence) == ("succeeded", 1, 1), code
        messages = [e.message for e in jobs.logs(engine, pid)]
        assert sum(m.startswith("claimed by worker") for m in messages) == 1, code
        assert not any("taken over" in m for m in messages), code
        assert messages.count("succeeded") == 1 and messages[-1] == "succeeded", code
        for task in range(1, 8):
            assert (
                sum(m.startswith(f"task {task}/7 ") and m.endswith(" started") for m in messages)
                == 1
            ), (code, task)
        edition = "premium" if n % 2 else "basic"
        assert tenant_counts(engine, code) == expected_counts(size, size, edition), code
        assert mispriced_units(engine, code) == 0

    with read_session(engine) as session:
        orgs = session.execute(
            select(Account.code, Organisation.name, Organisation.parent_id)
            .join(TenantReseller, TenantReseller.account_id == Account.id)
            .join(Organisation, Organisation.id == TenantReseller.org_id)
        ).all()
        tenant_orgs = session.execute(
            select(func.count()).where(Organisation.kind == "tenant")
        ).scalar_one()
    assert sorted(code for code, _, _ in orgs) == TENANTS
    assert all(name == f"Reseller {code}" for code, name, _ in orgs)
    assert tenant_orgs == len(TENANTS)

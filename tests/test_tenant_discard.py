"""`tenantctl tenant discard`: a tenant creation that failed or was cancelled is dropped
with everything it had built, so that the account can be made a tenant again; a finished
tenant, a creation still running and a tenant in use are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from tenantctl import jobs
from tenantctl.domain.discard import Discarded, discard_tenant
from tenantctl.domain.kinds import register_all
from tenantctl.errors import NotFound
from tenantctl.store.engine import write_session
from tenantctl.store.models import (
    Account,
    Organisation,
    PriceList,
    Product,
    TenantReseller,
    User,
)
from tests.conftest import at_once, reflected
from tests.create_world import (
    CREATE,
    DATASET,
    ENV,
    HANG_SECONDS,
    PASSWORD,
    all_rows,
    cancel_mid_copy,
    count,
    expected_catalogue,
    run_worker,
    tenant_org,
    tenant_row,
)
from tests.tenant_worker_main import hang_guard
from tests.world import root_id


@pytest.fixture(autouse=True)
def _no_hang():
    with hang_guard(HANG_SECONDS):
        yield


@pytest.fixture
def store(cli):
    """The distributor's data set loaded; returns the CLI runner on it."""
    cli("load", DATASET)
    return cli


def rows_of_org(engine, org_id: int) -> dict[str, int]:
    """How many rows of each table belong to ORG_ID (directly, or through a price list)."""
    meta = reflected(engine)
    found = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if "org_id" in table.c:
                n = conn.execute(
                    select(func.count()).select_from(table).where(table.c.org_id == org_id)
                ).scalar_one()
            elif table.name in ("price_list_item", "price_list_revision"):
                lists = meta.tables["price_list"]
                n = conn.execute(
                    select(func.count())
                    .select_from(table)
                    .where(
                        table.c.price_list_id.in_(
                            select(lists.c.id).where(lists.c.org_id == org_id)
                        )
                    )
                ).scalar_one()
            else:
                continue
            if n:
                found[table.name] = n
    return found


def half_built(store, engine, monkeypatch) -> tuple[int, Organisation]:
    """A creation cancelled after its first batch of 10 products: the organisation, its
    administrator and part of its catalogue exist."""
    info = cancel_mid_copy(store, engine, monkeypatch)
    assert info.status == "cancelled"
    return info.id, tenant_org(engine)


def test_a_cancelled_half_built_creation_is_discarded_whole(store, engine, db_url, monkeypatch):
    pid, org = half_built(store, engine, monkeypatch)
    # Its administrator exists, but nobody logs in before the creation has finished.
    refused = store(
        "--org",
        org.client_id,
        "account",
        "list",
        expect=1,
        env={"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": PASSWORD},
    )
    assert "is still being set up: nobody can log in" in refused.stderr
    held = rows_of_org(engine, org.id)
    assert held["product"] == 10 and held["app_user"] == 1 and held["tenant_reseller"] == 1
    before = all_rows(db_url)

    done = store.json("tenant", "discard", "ACME", "--yes")
    assert (done["tenant"], done["client_id"]) == ("ACME", org.client_id)
    assert (done["process_id"], done["process_status"]) == (pid, "cancelled")
    assert done["deleted"] == {**held, "organisation": 1}

    # Nothing of the tenant is left, and nothing else changed.
    assert rows_of_org(engine, org.id) == {}
    assert tenant_row(engine) is None and tenant_org(engine) is None
    after = all_rows(db_url)
    for table, rows in before.items():
        if table in ("process", "process_task", "process_log"):
            continue
        rows, kept = set(map(repr, rows)), set(map(repr, after[table]))
        assert len(rows - kept) == held.get(table, 0) + (table == "organisation"), table
        assert kept <= rows, table
    assert store.json("tenant", "list") == []
    assert "discarded with `tenantctl tenant discard`" in jobs.logs(engine, pid)[-1].message

    # The account passes the checklist again and is made a tenant with new options.
    assert store("checklist", "ACME", "--price-list", "Resellers EUR").exit_code == 0
    created = store.json(*[a if a != "premium" else "basic" for a in CREATE], env=ENV)
    assert created["status"] == "succeeded"
    t = store.json("tenant", "show", "ACME")
    assert (t["edition"], t["status"], t["products"]) == (
        "basic",
        "active",
        len(expected_catalogue()["skus"]),
    )
    assert t["client_id"] != org.client_id


def test_retrying_a_discarded_creation_is_refused_even_after_a_new_one(store, engine, monkeypatch):
    pid, org = half_built(store, engine, monkeypatch)
    store("tenant", "discard", "ACME", "--yes")
    new_pid = store.json(*CREATE, env=ENV)["process_id"]
    tenant = tenant_row(engine)
    assert tenant.creation_process_id == new_pid != pid

    # The old process would build the new tenant row (SQLite may even reuse its id): its
    # retry is refused at once (exit 1), and the process stays as it was.
    refused = store("process", "retry", pid, expect=1)
    assert refused.stderr.splitlines() == [
        f"Error: process {pid} cannot be retried: the tenant reseller ACME it created was "
        "discarded; `tenantctl tenant create ACME` starts a new creation"
    ]
    assert store.json("process", "show", pid)["status"] == "cancelled"
    assert run_worker(engine) == []  # nothing was queued again
    assert tenant_row(engine).price_list_revision == tenant.price_list_revision
    assert store.json("tenant", "show", "ACME")["status"] == "active"


def test_a_creation_that_never_ran_is_discarded(store, engine):
    pid = store.json(*CREATE, "--detach", env=ENV)["process_id"]
    store("process", "cancel", pid)
    done = store.json("tenant", "discard", "ACME", "--yes")
    assert done["deleted"] == {"tenant_reseller": 1}
    assert done["client_id"] is None
    assert tenant_row(engine) is None


def test_what_is_not_a_stopped_creation_is_refused(store, engine):
    pid = store.json(*CREATE, "--detach", env=ENV)["process_id"]
    queued = store("tenant", "discard", "ACME", "--yes", expect=4)
    assert f"is queued: cancel it first with `tenantctl process cancel {pid}`" in queued.stderr

    register_all()
    assert [p.status for p in run_worker(engine)] == ["succeeded"]
    before = count(engine, Product)
    active = store("tenant", "discard", "ACME", "--yes", expect=1)
    assert "tenant reseller ACME is active: only a creation that failed" in active.stderr
    assert count(engine, Product) == before

    assert (
        "no tenant reseller 'NOPE'" in store("tenant", "discard", "NOPE", "--yes", expect=1).stderr
    )
    # Without --yes and without a terminal to ask on, nothing happens.
    unconfirmed = store("tenant", "discard", "ACME", expect=2)
    assert "--yes" in unconfirmed.stderr


def _own_customer(org: Organisation):
    return Account(org_id=org.id, code="OWN", name="Own customer", country="GR", currency="EUR")


def _own_product(org: Organisation):
    return Product(org_id=org.id, sku="OWN-SVC", name="Own service", platform="other")


def _own_price_list(org: Organisation):
    return PriceList(org_id=org.id, name="Partners EUR", currency="EUR")


def _second_user(org: Organisation):
    return User(
        org_id=org.id, group_id=None, username="sales", email="s@acme.example", password_hash="x"
    )


@pytest.mark.parametrize(
    "entered, message",
    [
        (_own_customer, "1 account"),
        (_own_product, "1 product of its own"),
        (_own_price_list, "1 price list of its own"),
        (_second_user, "1 user besides its administrator"),
    ],
    ids=["customer", "product", "price-list", "user"],
)
def test_a_tenant_its_reseller_works_in_is_not_discarded(
    store, engine, monkeypatch, entered, message
):
    pid, org = half_built(store, engine, monkeypatch)
    with write_session(engine) as session:
        session.add(entered(org))
    before = rows_of_org(engine, org.id)
    refused = store("tenant", "discard", "ACME", "--yes", expect=1)
    assert f"already holds {message}: it is in use" in refused.stderr
    assert "nothing was deleted" in refused.stderr
    assert rows_of_org(engine, org.id) == before
    assert tenant_row(engine) is not None


def test_a_tenant_asked_for_before_its_process_was_recorded_is_guarded_too(store, engine):
    """A tenant row without creation_process_id (queued before schema 0004): the newest
    creation process of its account stands in for it."""
    pid = store.json(*CREATE, "--detach", env=ENV)["process_id"]
    with write_session(engine) as session:
        session.execute(update(TenantReseller).values(creation_process_id=None))
    assert f"process cancel {pid}" in store("tenant", "discard", "ACME", "--yes", expect=4).stderr
    result = store("checklist", "ACME", "--price-list", "Resellers EUR", expect=3)
    assert "its creation is its process (`tenantctl process list`)" in result.stdout
    store("process", "cancel", pid)
    done = store.json("tenant", "discard", "ACME", "--yes")
    assert (done["process_id"], done["process_status"]) == (pid, "cancelled")


def test_the_checklist_names_the_stopped_creation_and_both_ways_out(store, engine):
    pid = store.json(*CREATE, "--detach", env=ENV)["process_id"]
    store("process", "cancel", pid)
    result = store("checklist", "ACME", "--price-list", "Resellers EUR", expect=3)
    assert f"tenantctl process retry {pid}" in result.stdout
    assert "tenantctl tenant discard ACME" in result.stdout


def test_two_discards_at_once_drop_the_tenant_once(store, engine, db_url, monkeypatch):
    """Both start together: one deletes everything, the other finds the tenant gone (on
    PostgreSQL it waits on the row lock; on SQLite on the write lock)."""
    pid, org = half_built(store, engine, monkeypatch)
    held = rows_of_org(engine, org.id)
    root = root_id(engine)
    outcomes = at_once(db_url, lambda own: discard_tenant(own, "ACME", root))
    done = [o for o in outcomes if isinstance(o, Discarded)]
    lost = [o for o in outcomes if not isinstance(o, Discarded)]
    assert len(done) == 1 and len(lost) == 1, outcomes
    assert isinstance(lost[0], NotFound), lost
    assert done[0].deleted == {**held, "organisation": 1}
    assert rows_of_org(engine, org.id) == {} and tenant_row(engine) is None
    logged = [e.message for e in jobs.logs(engine, pid) if "discarded with" in e.message]
    assert len(logged) == 1

"""`tenantctl tenant create` and the process commands (SPEC sections 3 and 4), end to end
through the CLI on the distributor's data set (`fixtures/distributor.yaml`).

What the tenant must hold is computed here from the data-set file itself (prices read as
their text), not from tenantctl, and compared with what the store holds afterwards.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from tenantctl import config, jobs
from tenantctl.domain.tenants.creation import TenantRequest, request_tenant_creation
from tenantctl.domain.users import verify_password
from tenantctl.store.engine import read_session
from tenantctl.store.models import (
    Account,
    Organisation,
    PriceList,
    PriceListItem,
    PriceListRevision,
    Product,
    ProductUnit,
    ProvisioningSetting,
    Storefront,
    TenantReseller,
    User,
    UserGroup,
)
from tests.conftest import PG_SERVER, at_once
from tests.create_world import (
    ADMIN,
    CREATE,
    DATASET,
    ENV,
    HANG_SECONDS,
    PASSWORD,
    PL,
    _dataset,
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

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
def _no_hang():
    with hang_guard(HANG_SECONDS):
        yield


# --- the expectation, from the data-set file ------------------------------------------------


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def store(cli):
    """The distributor's data set loaded; returns the CLI runner on it."""
    cli("load", DATASET)
    return cli


def set_ordering(cli, code: str, enabled: bool) -> None:
    cli("account", "set", code, "--ordering" if enabled else "--no-ordering")


# --- creating a tenant -------------------------------------------------------------------


def test_create_builds_the_tenant_from_the_price_list(store, engine):
    expected = expected_catalogue()
    out = store.json(*CREATE, env=ENV)

    assert set(out) == {"process_id", "status", "client_id", "tenant"}
    assert out["status"] == "succeeded" and isinstance(out["process_id"], int)
    assert HEX32.match(out["client_id"])
    t = out["tenant"]
    assert t["client_id"] == out["client_id"]
    assert (t["account"], t["name"], t["edition"], t["status"]) == (
        "ACME",
        "Acme Cloud Solutions S.A.",
        "premium",
        "active",
    )
    assert (t["phase"], t["backorder_state"]) == ("setup", "off")
    assert (t["price_list"], t["price_list_revision"]) == (PL, 1)
    assert (t["products"], t["units"], t["users"]) == (
        len(expected["skus"]),
        len(expected["units"]),
        1,
    )
    assert (t["currency"], t["language"], t["timezone"], t["date_format"]) == (
        "EUR",
        "en",
        "Europe/Athens",
        "DD/MM/YYYY",
    )
    assert t["storefront"] and t["provisioning"] == sorted(expected["platforms"])

    org = tenant_org(engine)
    with read_session(engine) as session:
        root = session.execute(select(Organisation).where(Organisation.kind == "root")).scalar_one()
        assert (org.kind, org.parent_id, org.client_id, org.edition) == (
            "tenant",
            root.id,
            out["client_id"],
            "premium",
        )
        assert (org.currency, org.country, org.status) == ("EUR", "GR", "active")

        # Products: exactly those of the price list, each remembering its source.
        products = session.execute(select(Product).where(Product.org_id == org.id)).scalars().all()
        assert {p.sku for p in products} == expected["skus"]
        sources = {
            p.id: p
            for p in session.execute(
                select(Product).where(Product.id.in_([p.source_product_id for p in products]))
            ).scalars()
        }
        for p in products:
            source = sources[p.source_product_id]
            assert (source.org_id, source.sku, source.platform) == (root.id, p.sku, p.platform)
            assert p.name == expected["names"][p.sku] and p.status == "active"
        by_id = {p.id: p for p in products}
        assert {
            p.sku: by_id[p.add_on_of_id].sku if p.add_on_of_id else None for p in products
        } == expected["add_ons"]

        # Units at cost: the price-list price, exactly.
        units = session.execute(
            select(Product.sku, ProductUnit)
            .join(Product, Product.id == ProductUnit.product_id)
            .where(ProductUnit.org_id == org.id)
        ).all()
        assert all(isinstance(u.cost_price, Decimal) for _, u in units)
        assert {(sku, u.unit): u.cost_price for sku, u in units} == expected["units"]
        assert len(units) == len(expected["units"])
        assert all(u.source_unit_id is not None for _, u in units)
        assert Decimal("0.1") in {u.cost_price for _, u in units}

        # The retail price list: sell = cost for every unit, at revision 1.
        retail = (
            session.execute(select(PriceList).where(PriceList.org_id == org.id)).scalars().all()
        )
        assert [(r.name, r.currency) for r in retail] == [("Retail EUR", "EUR")]
        sell = session.execute(
            select(Product.sku, PriceListItem.unit, PriceListItem.price)
            .join(Product, Product.id == PriceListItem.product_id)
            .where(PriceListItem.price_list_id == retail[0].id)
        ).all()
        assert {(s, u): p for s, u, p in sell} == expected["units"] and len(sell) == len(units)
        revisions = session.execute(
            select(PriceListRevision.number, PriceListRevision.item_count).where(
                PriceListRevision.price_list_id == retail[0].id
            )
        ).all()
        assert [tuple(r) for r in revisions] == [(1, len(units))]

        # One administrator, in the full-access group; the password only as an argon2id hash.
        users = session.execute(select(User).where(User.org_id == org.id)).scalars().all()
        assert [(u.username, u.email) for u in users] == [("admin", "a@acme.example")]
        group = session.get(UserGroup, users[0].group_id)
        admin_group = config.tenants()["admin_group"]
        assert (group.org_id, group.name) == (org.id, "Administrators")
        assert group.modules == list(admin_group["modules"])
        assert users[0].password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert verify_password(PASSWORD, users[0].password_hash)
        assert not verify_password(PASSWORD + "x", users[0].password_hash)

        # Provisioning settings for each platform present, from the configuration.
        settings = (
            session.execute(select(ProvisioningSetting).where(ProvisioningSetting.org_id == org.id))
            .scalars()
            .all()
        )
        templates = config.tenants()["provisioning"]
        assert {s.platform for s in settings} == expected["platforms"]
        for s in settings:
            assert (s.editable, s.read_only) == (
                templates[s.platform]["editable"],
                templates[s.platform]["read_only"],
            )

        # Premium: a storefront with the configured branding.
        (front,) = (
            session.execute(select(Storefront).where(Storefront.org_id == org.id)).scalars().all()
        )
        assert front.branding == config.tenants()["storefront"]
        assert t["storefront"] == front.name

        tenant = session.execute(
            select(TenantReseller).where(TenantReseller.org_id == org.id)
        ).scalar_one()
        assert (tenant.phase, tenant.backorder_state, tenant.status) == ("setup", "off", "active")
        assert tenant.price_list_revision == 1
        assert tenant.admin_password_hash is None  # held only until the user exists


def test_basic_edition_has_no_storefront_and_the_options_are_kept(store, engine):
    out = store.json(
        "tenant",
        "create",
        "ACME",
        "--price-list",
        PL,
        "--edition",
        "basic",
        "--language",
        "el",
        "--timezone",
        "Europe/Nicosia",
        "--date-format",
        "YYYY-MM-DD",
        "--separate-invoices",
        *ADMIN,
        env=ENV,
    )
    t = out["tenant"]
    assert (t["edition"], t["storefront"]) == ("basic", None)
    assert (t["language"], t["timezone"], t["date_format"], t["separate_invoices"]) == (
        "el",
        "Europe/Nicosia",
        "YYYY-MM-DD",
        True,
    )
    assert count(engine, Storefront) == 0
    assert count(engine, Product, Product.org_id == tenant_org(engine).id) == len(
        expected_catalogue()["skus"]
    )


def test_the_default_edition_is_basic(store):
    out = store.json("tenant", "create", "ACME", "--price-list", PL, *ADMIN, env=ENV)
    assert (out["tenant"]["edition"], out["tenant"]["storefront"]) == ("basic", None)


def test_a_basic_tenants_storefront_task_is_skipped_and_says_so(store):
    made = store("tenant", "create", "ACME", "--price-list", PL, *ADMIN, env=ENV)
    assert "create the storefront: skipped" in made.stderr  # its progress bar
    pid = 1
    tasks = {t["name"]: t for t in store.json("process", "show", pid)["tasks"]}
    assert tasks["create the storefront"]["status"] == "skipped"
    assert re.search(
        r"│ 6 │ create the storefront +│ skipped ",
        store("process", "show", pid, env={"COLUMNS": "120"}).stdout,
    )
    logged = [e["message"] for e in store.json("process", "logs", pid)]
    assert "task 6/7 (create the storefront) skipped: a basic tenant has no storefront" in logged


def test_detach_only_queues_and_a_worker_runs_it(store, engine):
    products_before = count(engine, Product)
    out = store.json(*CREATE, "--detach", env=ENV)
    assert out == {"process_id": out["process_id"], "status": "queued"}

    assert tenant_org(engine) is None
    assert count(engine, Product) == products_before
    assert count(engine, Organisation, Organisation.kind == "tenant") == 0
    assert tenant_row(engine).status == "in-progress"
    shown = store.json("process", "show", out["process_id"])
    assert shown["status"] == "queued" and shown["progress"] == "0/7"
    assert {t["status"] for t in shown["tasks"]} == {"pending"}

    report = store.json("worker", "--until-empty")
    assert [(p["id"], p["status"]) for p in report["processes"]] == [
        (out["process_id"], "succeeded")
    ]
    t = store.json("tenant", "show", "ACME")
    assert (t["status"], t["products"], t["storefront"] is not None) == (
        "active",
        len(expected_catalogue()["skus"]),
        True,
    )
    # Nothing left for the next worker.
    assert store.json("worker", "--until-empty")["processes"] == []


def nothing_queued(cli, engine) -> None:
    assert cli.json("process", "list") == []
    assert count(engine, TenantReseller) == 0
    assert count(engine, Organisation, Organisation.kind == "tenant") == 0


@pytest.mark.parametrize(
    ("account", "price_list", "reason"),
    [
        ("GAMMA", PL, "not synced with acronis, oss"),
        ("NORDIC", PL, "not enabled for ordering"),
        ("UKSERVE", PL, "is billed in GBP"),
        ("BETA-CUST", PL, "not a reseller"),
        ("ACME", "Draft EUR", "is empty"),
        ("NOBODY", PL, "no account 'NOBODY'"),
    ],
)
def test_a_failed_checklist_exits_3_and_queues_nothing(store, engine, account, price_list, reason):
    result = store(
        "tenant", "create", account, "--price-list", price_list, *ADMIN, env=ENV, expect=3
    )
    assert "checklist failed" in result.stderr and reason in result.stderr
    nothing_queued(store, engine)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--edition", "gold"], ENV, "--edition: 'gold'"),
        (["--timezone", "Mars/Olympus"], ENV, "--timezone: 'Mars/Olympus'"),
        (["--date-format", "YY/M/D"], ENV, "--date-format: 'YY/M/D'"),
        (["--language", "xx"], ENV, "--language: 'xx'"),
        (["--admin-email", "not-an-email"], ENV, "--admin-email: 'not-an-email'"),
        (["--admin-username", "a"], ENV, "--admin-username: 'a'"),
        ([], {**ENV, "TENANTCTL_ADMIN_PASSWORD": "short"}, "password: must be at least 10"),
        ([], {**ENV, "TENANTCTL_ADMIN_PASSWORD": None}, "TENANTCTL_ADMIN_PASSWORD"),
    ],
)
def test_bad_options_exit_2_and_queue_nothing(store, engine, args, env, message):
    base = ["tenant", "create", "ACME", "--price-list", PL, *ADMIN]
    result = store(*base, *args, env=env, expect=2)
    assert message in result.stderr
    nothing_queued(store, engine)


def test_every_bad_option_is_named_at_once(store, engine):
    result = store(
        "tenant",
        "create",
        "ACME",
        "--price-list",
        PL,
        "--edition",
        "gold",
        "--timezone",
        "Nowhere",
        "--admin-username",
        "admin",
        "--admin-email",
        "nope",
        env=ENV,
        expect=2,
    )
    for option in ("--edition", "--timezone", "--admin-email"):
        assert option in result.stderr
    nothing_queued(store, engine)


def test_the_password_cannot_be_given_as_an_argument(store, engine):
    result = store(*CREATE, "--admin-password", PASSWORD, env=ENV, expect=2)
    assert "No such option" in result.stderr
    nothing_queued(store, engine)


def test_a_second_create_of_the_same_account_is_refused(store, engine):
    store(*CREATE, env=ENV)
    result = store(*CREATE, env=ENV, expect=3)
    assert "already a tenant reseller" in result.stderr
    assert len(store.json("process", "list")) == 1
    assert count(engine, TenantReseller) == 1
    assert count(engine, Organisation, Organisation.kind == "tenant") == 1


def test_an_overlong_admin_email_is_bad_input(store, engine):
    # The column holds 200 characters: a longer address must be refused as bad input
    # (exit 2, naming the option) on every backend, not fail inside the database.
    email = "a" * 250 + "@acme.example"
    result = store(
        "tenant",
        "create",
        "ACME",
        "--price-list",
        PL,
        "--admin-username",
        "admin",
        "--admin-email",
        email,
        env=ENV,
        expect=None,
    )
    assert "$argon2" not in result.stderr  # no SQL parameters (the hash) in the error
    assert (result.exit_code, "--admin-email" in result.stderr) == (2, True), result.stderr
    nothing_queued(store, engine)


# --- the password goes nowhere ---------------------------------------------------------------


def test_the_password_appears_in_no_output_log_or_table(store, engine, db_url):
    outputs = []

    def run(*args, expect=0, env=ENV):
        result = store(*args, env=env, expect=expect)
        outputs.append(result.stdout + result.stderr)
        return result

    # Failures first, each with -v (tracebacks): bad option, checklist, short password.
    run(
        "-v",
        "tenant",
        "create",
        "ACME",
        "--price-list",
        PL,
        "--admin-username",
        "admin",
        "--admin-email",
        "nope",
        expect=2,
    )
    run("-v", "tenant", "create", "GAMMA", "--price-list", PL, *ADMIN, expect=3)
    short = "sh0rt-pw"
    run("-v", *CREATE, env={**ENV, "TENANTCTL_ADMIN_PASSWORD": short}, expect=2)
    # A process that fails inside the worker, is retried, then succeeds.
    pid = json.loads(run("--json", "-v", *CREATE, "--detach").stdout)["process_id"]
    set_ordering(store, "ACME", False)
    run("-v", "worker", "--until-empty")
    set_ordering(store, "ACME", True)
    run("-v", "process", "retry", pid)
    run("-v", "worker", "--until-empty")
    # And a foreground success, human and JSON, with every reading command.
    run(
        "-v",
        "tenant",
        "create",
        "LITECLOUD",
        "--price-list",
        PL,
        "--edition",
        "premium",
        "--admin-username",
        "root",
        "--admin-email",
        "r@lite.example",
    )
    run("--json", "-v", "process", "show", pid)
    run("-v", "process", "show", pid)
    run("--json", "process", "logs", pid)
    run("process", "logs", pid)
    run("--json", "process", "list")
    run("--json", "tenant", "list")
    run("--json", "tenant", "show", "ACME")

    assert jobs.get_process(engine, pid).status == "succeeded"
    for text in outputs:
        assert PASSWORD not in text and short not in text
    for info in jobs.list_processes(engine):
        assert PASSWORD not in json.dumps([info.params, info.result, info.error])
        for entry in jobs.logs(engine, info.id):
            assert PASSWORD not in entry.message

    rows = all_rows(db_url)
    assert rows["app_user"] and rows["process_log"]  # the dump did see the data
    leaks = [
        (table, row)
        for table, table_rows in rows.items()
        for row in table_rows
        if PASSWORD in row or short in row  # each row as the text of its values
    ]
    assert leaks == []
    with read_session(engine) as session:
        hashes = session.execute(select(User.password_hash)).scalars().all()
    assert len(hashes) == 2 and all(verify_password(PASSWORD, h) for h in hashes)
    if not PG_SERVER:
        # Not even in a free page of the file or its write-ahead log.
        path = Path(db_url.removeprefix("sqlite:///"))
        for part in (path, path.with_name(path.name + "-wal")):
            if part.exists():
                assert PASSWORD.encode() not in part.read_bytes()


# --- listing and showing ----------------------------------------------------------------

TENANT_FIELDS = {
    "account",
    "name",
    "client_id",
    "edition",
    "status",
    "phase",
    "backorder_state",
    "price_list",
    "price_list_revision",
    "created_at",
}
DETAIL_FIELDS = TENANT_FIELDS | {
    "separate_invoices",
    "currency",
    "language",
    "timezone",
    "date_format",
    "products",
    "units",
    "users",
    "storefront",
    "provisioning",
}
PROCESS_FIELDS = {
    "id",
    "kind",
    "title",
    "status",
    "attempt",
    "max_attempts",
    "result",
    "error",
    "lock_key",
    "lease_owner",
    "lease_expires_at",
    "fence",
    "not_before",
    "created_at",
    "started_at",
    "finished_at",
    "tasks",
    "progress",
}
TASK_FIELDS = {"id", "position", "name", "status", "done", "total", "started_at", "finished_at"}
TASK_NAMES = [
    "check the checklist",
    "create the organisation",
    "create the administrator",
    "copy the catalogue",
    "copy provisioning settings",
    "create the storefront",
    "record the price-list revision",
]


def test_tenant_list_and_show_json(store):
    assert store.json("tenant", "list") == []
    client_id = store.json(*CREATE, env=ENV)["client_id"]
    store(*CREATE[:2], "LITECLOUD", *CREATE[3:], "--detach", env=ENV)

    listed = store.json("tenant", "list")
    assert [t["account"] for t in listed] == ["ACME", "LITECLOUD"]
    assert all(set(t) >= TENANT_FIELDS for t in listed)
    acme, lite = listed
    assert (acme["client_id"], acme["status"], acme["phase"], acme["backorder_state"]) == (
        client_id,
        "active",
        "setup",
        "off",
    )
    # Queued, not run: no organisation and no client id yet.
    assert (lite["client_id"], lite["status"], lite["price_list_revision"]) == (
        None,
        "in-progress",
        None,
    )

    by_code = store.json("tenant", "show", "ACME")
    assert set(by_code) >= DETAIL_FIELDS
    assert store.json("tenant", "show", client_id) == by_code
    assert {k: by_code[k] for k in TENANT_FIELDS} == {k: acme[k] for k in TENANT_FIELDS}
    assert store.json("tenant", "show", "LITECLOUD")["products"] == 0
    result = store("tenant", "show", "NOBODY", expect=1)
    assert "no tenant reseller 'NOBODY'" in result.stderr


def test_process_list_show_and_logs_json(store):
    out = store.json(*CREATE, env=ENV)
    pid = out["process_id"]

    (listed,) = store.json("process", "list")
    assert set(listed) >= PROCESS_FIELDS and "params" not in set(listed)
    assert (listed["id"], listed["kind"], listed["title"], listed["status"]) == (
        pid,
        "tenant.create",
        "Create tenant reseller ACME",
        "succeeded",
    )
    assert (listed["progress"], listed["attempt"], listed["fence"]) == ("7/7", 1, 1)
    assert listed["result"] == {"client_id": out["client_id"]}
    assert listed["lock_key"].startswith("tenant-create:")
    assert listed["error"] is None and listed["lease_expires_at"] is None

    shown = store.json("process", "show", pid)
    assert shown == listed
    assert [t["name"] for t in shown["tasks"]] == TASK_NAMES
    products = len(expected_catalogue()["skus"])
    for task in shown["tasks"]:
        assert set(task) >= TASK_FIELDS and task["status"] == "done"
        assert task["done"] == task["total"] and task["finished_at"] >= task["started_at"]
    assert shown["tasks"][3]["done"] == products

    entries = store.json("process", "logs", pid)
    assert {e["level"] for e in entries} == {"info"}
    messages = [e["message"] for e in entries]
    assert messages[0] == "queued: Create tenant reseller ACME"
    assert messages[-1] == "succeeded"
    for n, name in enumerate(TASK_NAMES, 1):
        assert f"task {n}/7 ({name}) started" in messages
        assert any(m.startswith(f"task {n}/7 ({name}) done") for m in messages)
    assert f"task 4/7 (copy the catalogue) done: {products} of {products}" in messages
    assert any(m.startswith(f"catalogue copied: {products} products") for m in messages)
    assert all(e["at"] and e["process_id"] == pid for e in entries)
    assert [e["task_name"] for e in entries if e["message"].startswith("task 4/7")] == [
        "copy the catalogue"
    ] * 2

    lines = store("process", "logs", pid).stdout.splitlines()
    assert len(lines) == len(entries) and lines[-1].endswith("succeeded")
    # --follow of a finished process prints it all, one JSON object a line, and ends.
    followed = store("process", "logs", pid, "--follow", "--json").stdout.splitlines()
    assert [json.loads(line)["message"] for line in followed] == messages
    for args in (["process", "show", "999"], ["process", "logs", "999"]):
        assert "no process 999" in store(*args, expect=1).stderr


def test_a_process_failing_a_rule_fails_at_once_and_retry_resumes_it(store, engine):
    pid = store.json(*CREATE, "--detach", env=ENV)["process_id"]
    # The checklist changes between the request and the run.
    set_ordering(store, "ACME", False)
    report = store.json("worker", "--until-empty")
    assert [(p["id"], p["status"]) for p in report["processes"]] == [(pid, "failed")]

    failed = store.json("process", "show", pid)
    assert (failed["status"], failed["attempt"]) == ("failed", 1)  # a rule: no retry
    assert "not enabled for ordering" in failed["error"]
    assert [t["status"] for t in failed["tasks"]] == ["failed"] + ["pending"] * 6
    entries = store.json("process", "logs", pid)
    errors = [e for e in entries if e["level"] == "error"]
    assert len(errors) == 1 and "not enabled for ordering" in errors[0]["message"]
    assert "retrying cannot change" in errors[0]["message"]
    assert errors[0]["task_name"] == "check the checklist"
    assert sum(e["message"].startswith("claimed by worker") for e in entries) == 1
    assert tenant_org(engine) is None
    # Still failed: nothing for a worker, and a second request is refused.
    assert store.json("worker", "--until-empty")["processes"] == []
    store(*CREATE, env=ENV, expect=3)

    set_ordering(store, "ACME", True)
    retried = store.json("process", "retry", pid)
    assert (retried["status"], retried["error"]) == ("queued", None)
    assert [t["status"] for t in retried["tasks"]] == ["pending"] * 7
    assert store.json("process", "logs", pid)[-1]["message"] == (
        "retried by an operator; resumes at task 1 (check the checklist)"
    )

    report = store.json("worker", "--until-empty")
    assert [(p["id"], p["status"]) for p in report["processes"]] == [(pid, "succeeded")]
    t = store.json("tenant", "show", "ACME")
    assert (t["status"], t["products"]) == ("active", len(expected_catalogue()["skus"]))
    assert "only a failed or cancelled process" in store("process", "retry", pid, expect=1).stderr


def test_a_queued_process_can_be_cancelled_and_runs_nowhere(store, engine):
    pid = store.json(*CREATE, "--detach", env=ENV)["process_id"]
    cancelled = store.json("process", "cancel", pid)
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    assert store.json("process", "logs", pid)[-1]["message"] == "cancelled by an operator"

    assert store.json("worker", "--until-empty")["processes"] == []
    assert store.json("process", "show", pid)["status"] == "cancelled"
    assert tenant_org(engine) is None
    assert count(engine, Organisation, Organisation.kind == "tenant") == 0
    # Cancelling it again is harmless (exit 0); a finished process is another matter.
    assert store("process", "cancel", pid).stderr == f"Process {pid} was already cancelled.\n"

    # A cancelled creation is taken up again with retry.
    assert store.json("process", "retry", pid)["status"] == "queued"
    assert store.json("worker", "--until-empty")["processes"][0]["status"] == "succeeded"
    assert store.json("tenant", "show", "ACME")["status"] == "active"


def test_a_creation_cancelled_mid_copy_resumes_its_copy_on_retry(store, engine, monkeypatch):
    products = len(expected_catalogue()["skus"])
    info = cancel_mid_copy(store, engine, monkeypatch)
    pid = info.id
    assert info.status == "cancelled"
    assert (info.tasks[3].status, info.tasks[3].done) == ("pending", 10)
    org = tenant_org(engine)
    assert count(engine, Product, Product.org_id == org.id) == 10
    messages = [e.message for e in jobs.logs(engine, pid)]
    assert "cancelled by an operator (it was running on worker worker-1)" in messages
    assert not any(m.startswith("copied 10 of") for m in messages)  # it wrote nothing more

    retried = store.json("process", "retry", pid)
    assert retried["status"] == "queued"
    assert store.json("process", "logs", pid)[-1]["message"] == (
        "retried by an operator; resumes at task 4 (copy the catalogue)"
    )
    assert [p.status for p in run_worker(engine)] == ["succeeded"]
    messages = [e.message for e in jobs.logs(engine, pid)]
    assert (
        f"task 4/7 (copy the catalogue) resumed from its checkpoint (10 of {products} done)"
    ) in messages
    t = store.json("tenant", "show", "ACME")
    assert (t["products"], t["units"]) == (products, len(expected_catalogue()["units"]))
    with read_session(engine) as session:
        sources = session.execute(
            select(func.count(func.distinct(Product.source_product_id))).where(
                Product.org_id == org.id
            )
        ).scalar_one()
    assert sources == products


# --- two requests at once ----------------------------------------------------------------

RACERS = [f"RACE-{n}" for n in range(1, 6)]


def racers_yaml(tmp_path: Path) -> Path:
    """The data set's root organisation with five more resellers that pass the checklist."""
    data = _dataset()
    accounts = [
        {
            "code": code,
            "name": f"Racer {code}",
            "kind": "reseller",
            "country": "GR",
            "sync": [
                {"platform": "oss", "status": "synced"},
                {"platform": "acronis", "status": "synced"},
            ],
        }
        for code in RACERS
    ]
    path = tmp_path / "racers.yaml"
    path.write_text(
        yaml.safe_dump({"organisation": data["organisation"], "accounts": accounts}),
        encoding="utf-8",
    )
    return path


def test_two_creations_of_one_account_at_once_queue_exactly_one(store, engine, db_url, tmp_path):
    store("load", racers_yaml(tmp_path))

    root = root_id(engine)

    def request(code: str):
        req = TenantRequest(code, PL, "basic", None, None, None, False, "admin", "a@race.example")
        return lambda own: request_tenant_creation(own, req, PASSWORD, root)

    for code in RACERS:
        outcomes = at_once(db_url, request(code))
        queued = [o for o in outcomes if isinstance(o, int)]
        refused = [o for o in outcomes if not isinstance(o, int)]
        assert len(queued) == 1 and len(refused) == 1, outcomes
        # The checklist saw the other's tenant (3), or the unique key stopped it (1).
        assert refused[0].exit_code in (1, 3), refused[0]
        assert "already a tenant reseller" in str(refused[0])
        processes = [p for p in jobs.list_processes(engine) if p.title.endswith(code)]
        assert [p.id for p in processes] == queued
        with read_session(engine) as session:
            rows = (
                session.execute(
                    select(TenantReseller)
                    .join(Account, Account.id == TenantReseller.account_id)
                    .where(Account.code == code)
                )
                .scalars()
                .all()
            )
        assert len(rows) == 1

    run_worker(engine)
    assert count(engine, Organisation, Organisation.kind == "tenant") == len(RACERS)
    assert {p.status for p in jobs.list_processes(engine)} == {"succeeded"}


# --- what a person reads -------------------------------------------------------------------

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
CLIENT_ID = re.compile(r"\b[0-9a-f]{32}\b")
# A worker id as `default_worker_id` makes it: host:pid:random.
WORKER_ID = re.compile(r"\b[\w.-]+:\d+:[0-9a-f]{6}\b")


def masked(text: str) -> str:
    """TEXT with what changes from run to run replaced by text of the same width."""
    text = TIMESTAMP.sub("YYYY-MM-DD hh:mm:ss", text)
    text = CLIENT_ID.sub("c" * 32, text)
    text = WORKER_ID.sub("HOST:PID:WORKER", text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def test_process_and_tenant_output_snapshots(store, engine, snapshot):
    pid = store.json(*CREATE, "--detach", env=ENV)["process_id"]
    store("tenant", "create", "GAMMA", "--price-list", PL, *ADMIN, env=ENV, expect=3)
    queued = store("process", "list", env=ENV)
    snapshot.assert_match(masked(queued.stdout), "process_list_queued.txt")
    run_worker(engine)

    snapshot.assert_match(masked(store("process", "list", env=ENV).stdout), "process_list.txt")
    snapshot.assert_match(masked(store("process", "show", pid, env=ENV).stdout), "process_show.txt")
    snapshot.assert_match(
        masked(store("tenant", "show", "ACME", env=ENV).stdout), "tenant_show.txt"
    )


def test_a_queued_tenant_is_shown_without_placeholders(store):
    store(*CREATE, "--detach", env=ENV)
    shown = store("tenant", "show", "ACME", env=ENV).stdout
    assert "in-progress" in shown
    assert "None" not in shown  # e.g. `Resellers EUR (revision None)`


def test_tenant_list_shows_the_whole_client_id(store):
    # The client id is what the reseller logs in with: a table that cuts it short (`ad0f…`)
    # on an ordinary 120-column terminal does not show it.
    client_id = store.json(*CREATE, env=ENV)["client_id"]
    assert client_id in store("tenant", "list", env=ENV).stdout

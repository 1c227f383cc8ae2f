"""`tenantctl tenant update` and `tenant log` (SPEC section 6) on the distributor's data set.

Every expectation is computed here from the files themselves (the data set's "Resellers
EUR" list, read with its prices as text, and the price-list CSVs the tests import), with
plain set arithmetic and Decimal comparison; nothing is taken from tenantctl's own diff.
The store is then read directly to see what the tenant holds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tenantctl import jobs
from tenantctl.domain import sales
from tenantctl.domain.kinds import register_all
from tenantctl.domain.updates import Options, request_update, update_tenants
from tenantctl.errors import Busy, ProcessFailed, Refused, TenantctlError
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import (
    Account,
    Organisation,
    Product,
    Subscription,
    TenantReseller,
    TenantUpdateLog,
)
from tests.conftest import at_once
from tests.create_world import all_rows
from tests.tenant_worker_main import hang_guard
from tests.update_world import (
    ADD_ON,
    ADDED,
    BELOW,
    DATASET,
    DISCONTINUED,
    ENV,
    PL,
    PRICE,
    RENAMED,
    RETAIL,
    SELL,
    TENANT_ENV,
    V2,
    assert_log,
    assert_tenant_holds,
    counts_of,
    create_tenant,
    edited,
    expected_changes,
    log_of,
    read_rows,
    recorded_revision,
    retail_list,
    retail_prices,
    tenant_org_id,
    tenant_products,
    tenant_units,
    update_one,
    version_1,
    version_of,
    with_acme,
    write_rows,
)
from tests.world import root_id


@pytest.fixture
def store(cli):
    """The distributor's data set loaded and ACME a tenant of "Resellers EUR"."""
    return with_acme(cli)


LOG_FIELDS = {
    "at",
    "change",
    "sku",
    "unit",
    "old",
    "new",
    "from_revision",
    "to_revision",
    "process_id",
}
# Nothing here takes more than seconds; the guard only turns a hang into a failure.
HANG_SECONDS = 120


@pytest.fixture(autouse=True)
def _guarded(monkeypatch):
    # A process that fails (a bug marked xfail) retries at once instead of backing off.
    monkeypatch.setenv("TENANTCTL_RETRY_BACKOFF_SECONDS", "0")
    with hang_guard(HANG_SECONDS):
        yield


# --- what the files say -------------------------------------------------------------------


# --- what the store holds -------------------------------------------------------------------


def run_worker(engine) -> list[jobs.ProcessInfo]:
    register_all()
    return jobs.worker(engine, "test-worker", until_empty=True, handle_signals=False).processes


# --- a full update ---------------------------------------------------------------------------


def test_update_applies_exactly_the_differences_and_logs_each_once(store, engine):
    old, new = version_1(), version_of(read_rows(V2))
    expected = expected_changes(old, new)
    assert all(expected.values()), "the v2 file must make every kind of change"
    store("pricelist", "import", PL, V2)

    outcome = update_one(store)
    assert outcome["status"] == "succeeded"
    assert (outcome["from_revision"], outcome["to_revision"]) == (1, 2)
    assert outcome["counts"] == counts_of(expected)
    assert_tenant_holds(engine, new, discontinued=expected[DISCONTINUED])
    assert recorded_revision(store) == 2

    log = log_of(store)
    assert_log(log, expected)
    for e in log:
        assert (e["from_revision"], e["to_revision"], e["process_id"]) == (
            1,
            2,
            outcome["process_id"],
        )
    for e in (e for e in log if e["change"] != BELOW):
        key = (e["sku"], e["unit"])
        old_value = None if e["old"] is None else Decimal(e["old"])
        new_value = None if e["new"] is None else Decimal(e["new"])
        assert (old_value, new_value) == (old.items.get(key), new.items.get(key))
    # The retail list still sells at the old cost: every rise is below cost, after the changes.
    rises = {k for k in expected[PRICE] if new.items[k] > old.items[k]}
    assert [(e["sku"], e["unit"], e["old"], e["new"]) for e in log[-len(rises) :]] == [
        (*k, f"{old.items[k]} ({RETAIL})", str(new.items[k])) for k in sorted(rises)
    ]
    assert sum(e["change"] == BELOW for e in log) == len(rises)
    # A new product comes with its add-on relation, as at creation.
    products = tenant_products(engine)
    assert {s: products[s].add_on_of for s in new.skus} == {s: new.add_ons[s] for s in new.skus}

    # Nothing new: the second run says so, queues nothing and logs nothing.
    processes = len(store.json("process", "list"))
    again = update_one(store)
    assert again == {
        "tenant": "ACME",
        "status": "up-to-date",
        "from_revision": 2,
        "to_revision": 2,
        "counts": {},
        "process_id": None,
        "error": None,
        "below_cost": [],
    }
    assert "up to date" in store("tenant", "update", "ACME", env=ENV).stdout
    assert len(store.json("process", "list")) == processes
    assert log_of(store) == log
    assert_tenant_holds(engine, new, discontinued=expected[DISCONTINUED])


def test_dry_run_reports_what_the_run_does_and_changes_nothing(store, engine, db_url, snapshot):
    store("pricelist", "import", PL, V2)
    before = all_rows(db_url)
    dry = update_one(store, "ACME", "--dry-run")
    text = store("tenant", "update", "ACME", "--dry-run", env=ENV)
    assert all_rows(db_url) == before
    assert (dry["status"], dry["process_id"]) == ("planned", None)
    assert log_of(store) == []
    snapshot.assert_match(text.stdout, "dry_run.txt")

    real = update_one(store)
    assert real["status"] == "succeeded"
    assert (real["from_revision"], real["to_revision"], real["counts"]) == (
        dry["from_revision"],
        dry["to_revision"],
        dry["counts"],
    )
    planned = sorted((c["change"], c["sku"], c["unit"], c["old"], c["new"]) for c in dry["changes"])
    log = log_of(store)
    applied = sorted(
        (e["change"], e["sku"], e["unit"], e["old"], e["new"]) for e in log if e["change"] != BELOW
    )
    assert planned == applied
    # The margin guard: what the dry run listed is what the run left and logged.
    assert dry["below_cost"] and real["below_cost"] == dry["below_cost"]
    assert [(e["sku"], e["unit"], e["new"]) for e in log if e["change"] == BELOW] == [
        (b["sku"], b["unit"], b["cost"]) for b in dry["below_cost"]
    ]


def test_partial_moves_prices_only_and_a_full_update_then_brings_the_rest(store, engine):
    old, new = version_1(), version_of(read_rows(V2))
    expected = expected_changes(old, new)
    store("pricelist", "import", PL, V2)

    partial = update_one(store, "ACME", "--partial")
    assert partial["status"] == "succeeded"
    assert partial["counts"] == {PRICE: len(expected[PRICE])}
    units = tenant_units(engine)
    # Prices moved; nothing was added or discontinued; the revision did not advance.
    assert {k: cost for k, (cost, _) in units.items()} == {
        k: new.items[k] if k in expected[PRICE] else old.items[k] for k in old.items
    }
    assert {status for _, status in units.values()} == {"active"}
    assert recorded_revision(store) == 1
    assert_log(log_of(store), {PRICE: expected[PRICE]})

    full = update_one(store)
    assert full["status"] == "succeeded"
    assert full["counts"] == {
        ADDED: len(expected[ADDED]),
        DISCONTINUED: len(expected[DISCONTINUED]),
    }
    assert_tenant_holds(engine, new, discontinued=expected[DISCONTINUED])
    assert recorded_revision(store) == 2
    assert_log(log_of(store), expected)


def test_a_second_partial_run_with_nothing_new_says_up_to_date(store, engine):
    store("pricelist", "import", PL, V2)
    update_one(store, "ACME", "--partial")
    log, processes = log_of(store), len(store.json("process", "list"))
    again = update_one(store, "ACME", "--partial")
    assert (again["status"], again["process_id"], again["counts"]) == ("up-to-date", None, {})
    assert len(store.json("process", "list")) == processes
    assert log_of(store) == log


# --- sell prices and names -----------------------------------------------------------------


def client_id(cli, code: str = "ACME") -> str:
    return cli.json("tenant", "show", code)["client_id"]


OWN_PRICE = (("MS-M365-BP", "monthly"), Decimal("29.90"))


def set_own_sell_price(cli, cid: str) -> None:
    """The reseller prices one unit its own way (a unit whose cost v2 changes)."""
    (sku, unit), price = OWN_PRICE
    cli.json(
        "--org",
        cid,
        "pricelist",
        "set-price",
        RETAIL,
        sku,
        str(price),
        "--unit",
        unit,
        env=TENANT_ENV,
    )


def test_without_sell_prices_the_resellers_own_sell_prices_stay(store, engine):
    old, new = version_1(), version_of(read_rows(V2))
    expected = expected_changes(old, new)
    assert OWN_PRICE[0] in expected[PRICE]
    cid = client_id(store)
    set_own_sell_price(store, cid)
    before = retail_list(store, cid)
    store("pricelist", "import", PL, V2)

    outcome = update_one(store)
    assert SELL not in outcome["counts"]
    after = retail_list(store, cid)
    # The new units start in a new revision; the earlier one still reads as it was.
    assert after["latest_revision"] == before["latest_revision"] + 1
    prices = retail_prices(after)
    # Changed costs leave the sell prices alone: the reseller's own, and the others that
    # are still the old cost they started at.
    assert {k: prices[k] for k in expected[PRICE]} == {
        k: OWN_PRICE[1] if k == OWN_PRICE[0] else old.items[k] for k in expected[PRICE]
    }
    # New units are copied in as at creation: sold at cost.
    assert {k: prices[k] for k in expected[ADDED]} == {k: new.items[k] for k in expected[ADDED]}
    assert SELL not in {e["change"] for e in log_of(store)}


def test_sell_prices_makes_a_new_retail_revision_at_the_new_cost(store, engine):
    old, new = version_1(), version_of(read_rows(V2))
    expected = expected_changes(old, new)
    cid = client_id(store)
    set_own_sell_price(store, cid)
    before = retail_list(store, cid)
    store("pricelist", "import", PL, V2)

    outcome = update_one(store, "ACME", "--sell-prices")
    assert outcome["counts"] == {**counts_of(expected), SELL: len(expected[PRICE])}
    after = retail_list(store, cid)
    # One revision for the units the update added, one for the new sell prices.
    assert after["latest_revision"] == before["latest_revision"] + 2
    prices, earlier = retail_prices(after), retail_prices(before)
    assert {k: prices[k] for k in expected[PRICE]} == {k: new.items[k] for k in expected[PRICE]}
    unchanged = (old.items.keys() & new.items.keys()) - expected[PRICE]
    assert {k: prices[k] for k in unchanged} == {k: earlier[k] for k in unchanged}
    # The revision before the update still reads as it was.
    assert (
        retail_prices(retail_list(store, cid, before["latest_revision"]))[OWN_PRICE[0]]
        == (OWN_PRICE[1])
    )
    log = log_of(store)
    assert_log([e for e in log if e["change"] == SELL], {SELL: expected[PRICE]})
    assert {(e["sku"], e["unit"]): Decimal(e["new"]) for e in log if e["change"] == SELL} == {
        k: new.items[k] for k in expected[PRICE]
    }


def test_the_log_of_a_sell_price_change_says_the_old_sell_price(store):
    cid = client_id(store)
    set_own_sell_price(store, cid)
    store("pricelist", "import", PL, V2)
    update_one(store, "ACME", "--sell-prices")
    (sku, unit), price = OWN_PRICE
    (entry,) = [e for e in log_of(store) if (e["change"], e["sku"], e["unit"]) == (SELL, sku, unit)]
    assert entry["old"] is not None and Decimal(entry["old"]) == price


def test_an_update_leaves_the_earlier_retail_revisions_as_they_were(store):
    cid = client_id(store)
    first = retail_list(store, cid, 1)
    store("pricelist", "import", PL, V2)
    update_one(store)
    assert retail_list(store, cid, 1)["items"] == first["items"]


def renamed_v2(**names: str) -> list[dict]:
    return edited(read_rows(V2), **{sku: {"name": name} for sku, name in names.items()})


def test_names_change_only_with_the_names_flag(store, engine, tmp_path):
    old = version_1()
    rows = renamed_v2(
        MS_M365_E3="Microsoft 365 E3 (no Teams)",
        ACR_CPC_STD="Acronis Cyber Protect Cloud (per workload)",
    )
    new = version_of(rows)
    renamed = {s for s in old.skus & new.skus if old.names[s] != new.names[s]}
    assert renamed == {"MS-M365-E3", "ACR-CPC-STD"}
    store("pricelist", "import", PL, write_rows(tmp_path / "v2.csv", rows))

    outcome = update_one(store)
    assert RENAMED not in outcome["counts"]
    products = tenant_products(engine)
    assert {s: products[s].name for s in old.skus} == old.names

    names = update_one(store, "ACME", "--names")
    assert (names["status"], names["counts"]) == ("succeeded", {RENAMED: 2})
    products = tenant_products(engine)
    assert {s: products[s].name for s in new.skus} == new.names
    entries = {e["sku"]: (e["old"], e["new"]) for e in log_of(store) if e["change"] == RENAMED}
    assert entries == {s: (old.names[s], new.names[s]) for s in renamed}
    assert update_one(store, "ACME", "--names")["status"] == "up-to-date"


def test_a_second_rename_without_a_new_revision_is_applied_and_logged(store, engine, tmp_path):
    store(
        "pricelist",
        "import",
        PL,
        write_rows(tmp_path / "a.csv", renamed_v2(MS_M365_E3="Microsoft 365 E3 (no Teams)")),
    )
    update_one(store, "ACME", "--names")
    # The distributor renames it again and changes nothing else: no new revision.
    result = store.json(
        "pricelist",
        "import",
        PL,
        write_rows(tmp_path / "b.csv", renamed_v2(MS_M365_E3="Microsoft 365 E3 (EEA)")),
    )
    assert result["revision"] is None
    outcome = update_one(store, "ACME", "--names")
    assert (outcome["status"], outcome["counts"]) == ("succeeded", {RENAMED: 1})
    assert tenant_products(engine)["MS-M365-E3"].name == "Microsoft 365 E3 (EEA)"
    assert [(e["old"], e["new"]) for e in log_of(store) if e["change"] == RENAMED] == [
        ("Microsoft 365 E3", "Microsoft 365 E3 (no Teams)"),
        ("Microsoft 365 E3 (no Teams)", "Microsoft 365 E3 (EEA)"),
    ]


# --- add-on relations -------------------------------------------------------------------------


def test_add_on_relation_changes_are_mirrored_and_logged(store, engine, tmp_path):
    old = version_1()
    rows = edited(
        read_rows(V2),
        MS_DEFENDER_O365_P1={"add_on_of": "MS-M365-E3"},  # moved to another parent
        PANDA_PATCH={"add_on_of": ""},  # a product of its own now
        MS_VISIO_P2={"add_on_of": "MS-M365-BS"},
    )  # an add-on now
    new = version_of(rows)
    moved = {
        s: (old.add_ons[s], new.add_ons[s])
        for s in old.skus & new.skus
        if old.add_ons[s] != new.add_ons[s]
    }
    assert len(moved) == 3
    store("pricelist", "import", PL, write_rows(tmp_path / "v2.csv", rows))

    outcome = update_one(store)
    assert outcome["counts"][ADD_ON] == len(moved)
    products = tenant_products(engine)
    assert {s: products[s].add_on_of for s in new.skus} == new.add_ons
    entries = {e["sku"]: (e["old"], e["new"]) for e in log_of(store) if e["change"] == ADD_ON}
    assert entries == moved
    assert update_one(store)["status"] == "up-to-date"


def test_becoming_an_add_on_of_a_new_product_is_logged(store, engine, tmp_path):
    rows = edited(read_rows(V2), MS_VISIO_P2={"add_on_of": "MS-COPILOT-M365"})
    store("pricelist", "import", PL, write_rows(tmp_path / "v2.csv", rows))
    outcome = update_one(store)
    assert tenant_products(engine)["MS-VISIO-P2"].add_on_of == "MS-COPILOT-M365"
    assert outcome["counts"].get(ADD_ON) == 1
    assert [(e["sku"], e["old"], e["new"]) for e in log_of(store) if e["change"] == ADD_ON] == [
        ("MS-VISIO-P2", None, "MS-COPILOT-M365")
    ]


# --- discontinued products ---------------------------------------------------------------------


def test_discontinued_products_keep_their_existing_subscriptions(store, engine):
    old, new = version_1(), version_of(read_rows(V2))
    gone = expected_changes(old, new)[DISCONTINUED]
    assert gone == {("MS-M365-BB", "annual"), ("OTH-SMS-1000", "one-time")}
    org_id = tenant_org_id(engine)
    with write_session(engine) as session:
        customer = Account(
            org_id=org_id, code="CUST-1", name="A customer of Acme", currency="EUR", country="GR"
        )
        session.add(customer)
        session.flush()
        ids = dict(
            session.execute(
                select(Product.sku, Product.id).where(
                    Product.org_id == org_id, Product.sku.in_([s for s, _ in gone])
                )
            ).all()
        )
        for n, (sku, unit) in enumerate(sorted(gone)):
            session.add(
                Subscription(
                    org_id=org_id,
                    code=f"SUB-{n}",
                    account_id=customer.id,
                    product_id=ids[sku],
                    unit=unit,
                    quantity=5,
                    unit_price=old.items[(sku, unit)],
                    currency="EUR",
                    status="active",
                    start_date=date(2025, 1, 1),
                )
            )

    def subscriptions() -> list[tuple]:
        with read_session(engine) as session:
            return [
                (s.code, s.product_id, s.unit, s.quantity, s.unit_price, s.status)
                for s in session.execute(
                    select(Subscription)
                    .where(Subscription.org_id == org_id)
                    .order_by(Subscription.code)
                ).scalars()
            ]

    before = subscriptions()
    store("pricelist", "import", PL, V2)
    update_one(store)
    assert subscriptions() == before
    assert {row[-1] for row in before} == {"active"}
    units, products = tenant_units(engine), tenant_products(engine)
    assert {k: units[k][1] for k in gone} == {k: "discontinued" for k in gone}
    # MS-M365-BB is still sold monthly; OTH-SMS-1000 is not sold at all any more.
    assert (products["MS-M365-BB"].status, products["OTH-SMS-1000"].status) == (
        "active",
        "discontinued",
    )
    # No new sales of what was discontinued.
    with read_session(engine) as session:
        org = session.get(Organisation, org_id)
        for sku, unit in sorted(gone):
            with pytest.raises(Refused, match="no longer sold"):
                sales.sellable_product(session, org, sku, unit)
        assert sales.sellable_product(session, org, "MS-M365-BB", "monthly").sku == "MS-M365-BB"


def test_a_discontinued_unit_listed_again_comes_back_at_its_new_cost(store, engine, tmp_path):
    v2_rows = read_rows(V2)
    v2 = version_of(v2_rows)
    store("pricelist", "import", PL, V2)
    update_one(store)
    log = log_of(store)
    # Both units v2 discontinued are listed again, at new prices.
    relisted = [
        {
            "sku": "MS-M365-BB",
            "name": "Microsoft 365 Business Basic",
            "platform": "microsoft",
            "unit": "annual",
            "price": "64.80",
            "add_on_of": "",
            "type": "license",
        },
        {
            "sku": "OTH-SMS-1000",
            "name": "SMS notification bundle, 1,000 messages",
            "platform": "other",
            "unit": "one-time",
            "price": "19.00",
            "add_on_of": "",
            "type": "service",
        },
    ]
    v3 = version_of(v2_rows + relisted)
    expected = expected_changes(v2, v3)
    assert counts_of(expected) == {ADDED: 2}
    store("pricelist", "import", PL, write_rows(tmp_path / "v3.csv", v2_rows + relisted))

    outcome = update_one(store)
    assert (outcome["status"], outcome["counts"]) == ("succeeded", {ADDED: 2})
    assert_tenant_holds(engine, v3, discontinued=set())
    entries = log_of(store)
    assert entries[: len(log)] == log
    assert_log(entries[len(log) :], expected)
    assert {(e["sku"], e["unit"]): e["new"] for e in entries[len(log) :]} == {
        ("MS-M365-BB", "annual"): "64.80",
        ("OTH-SMS-1000", "one-time"): "19.00",
    }


# --- scheduled revisions ----------------------------------------------------------------------


def days_from_today(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def test_as_of_applies_a_revision_scheduled_for_later(store, engine):
    old, new = version_1(), version_of(read_rows(V2))
    expected = expected_changes(old, new)
    later = days_from_today(30)
    store("pricelist", "import", PL, V2, "--effective", later)
    shown = store.json("pricelist", "show", PL)
    assert shown["latest_revision"] == 2
    assert [(r["revision"], r["effective_date"]) for r in shown["revisions"]] == [
        (1, None),
        (2, later),
    ]
    assert "(scheduled)" in store("pricelist", "show", PL, env=ENV).stdout

    for args in ([], ["--as-of", days_from_today(29)]):
        outcome = update_one(store, "ACME", *args)
        assert (outcome["status"], outcome["to_revision"]) == ("up-to-date", 1)
    assert_tenant_holds(engine, old, discontinued=set())

    outcome = update_one(store, "ACME", "--as-of", later)
    assert (outcome["status"], outcome["from_revision"], outcome["to_revision"]) == (
        "succeeded",
        1,
        2,
    )
    assert outcome["counts"] == counts_of(expected)
    assert_tenant_holds(engine, new, discontinued=expected[DISCONTINUED])
    assert_log(log_of(store), expected)


def test_an_update_after_an_as_of_update_does_not_go_back(store, engine):
    new = version_of(read_rows(V2))
    later = days_from_today(30)
    store("pricelist", "import", PL, V2, "--effective", later)
    update_one(store, "ACME", "--as-of", later)
    log = log_of(store)
    outcome = update_one(store)
    assert (outcome["status"], outcome["to_revision"]) == ("up-to-date", 2)
    assert_tenant_holds(engine, new, discontinued=expected_changes(version_1(), new)[DISCONTINUED])
    assert log_of(store) == log


def test_an_effective_date_before_a_scheduled_revision_is_refused(cli, tmp_path):
    cli("load", DATASET)
    cli("pricelist", "import", PL, V2, "--effective", days_from_today(30))
    before = cli.json("pricelist", "show", PL)
    v3 = write_rows(tmp_path / "v3.csv", edited(read_rows(V2), MS_M365_E3={"price": "36.00"}))
    refused = cli("pricelist", "import", PL, v3, "--effective", days_from_today(10), expect=2)
    assert "--effective" in refused.stderr
    assert cli.json("pricelist", "show", PL) == before


def test_an_immediate_import_while_a_revision_is_scheduled_is_refused(cli, tmp_path):
    cli("load", DATASET)
    cli("pricelist", "import", PL, V2, "--effective", days_from_today(30))
    before = cli.json("pricelist", "show", PL)
    v3 = write_rows(tmp_path / "v3.csv", edited(read_rows(V2), MS_M365_E3={"price": "36.00"}))
    cli("pricelist", "import", PL, v3, expect=2)
    assert cli.json("pricelist", "show", PL) == before


# --- names and add-on relations of a scheduled revision ----------------------------------------

RENAMED_E3 = "Microsoft 365 E3 (no Teams)"


def scheduled_v2(tmp_path, name: str = "v2-scheduled.csv", **changes) -> Path:
    """V2 with Teams Phone no longer an add-on and E3 renamed (or CHANGES instead)."""
    changes = changes or {
        "MS_TEAMS_PHONE": {"add_on_of": ""},
        "MS_M365_E3": {"name": RENAMED_E3},
    }
    return write_rows(tmp_path / name, edited(read_rows(V2), **changes))


def root_product(cli, sku: str) -> tuple[str, str | None]:
    shown = cli.json("product", "show", sku)
    return shown["name"], shown["add_on_of"]


def take_effect_today(engine) -> None:
    """The days pass: what was scheduled is now due (there is no clock to move)."""
    from tenantctl.store.models import PriceListRevision, ProductChange

    with write_session(engine) as session:
        for model in (PriceListRevision, ProductChange):
            session.execute(
                update(model)
                .where(model.effective_date.is_not(None))
                .values(effective_date=date.today())
            )


def test_a_scheduled_revision_renames_and_moves_add_ons_on_its_date_not_before(
    store, engine, tmp_path
):
    before = {sku: root_product(store, sku) for sku in ("MS-TEAMS-PHONE", "MS-M365-E3")}
    assert before["MS-TEAMS-PHONE"][1] == "MS-M365-E3"
    later = days_from_today(30)
    dry = store.json(
        "pricelist", "import", PL, scheduled_v2(tmp_path), "--effective", later, "--dry-run"
    )
    assert dry["products_renamed"] == 1
    made = store("pricelist", "import", PL, scheduled_v2(tmp_path), "--effective", later)
    assert f"1 renamed on {later} (names and add-on relations change" in " ".join(
        made.stderr.split()
    )

    # Nothing moves at once: the root keeps names and add-on relations, and sells them.
    assert {sku: root_product(store, sku) for sku in before} == before
    sold = store.json(
        "subscription",
        "create",
        "LC-OLIVE-TRADE",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "1",
        "--add-on",
        "MS-TEAMS-PHONE=1",
    )
    assert [a["sku"] for a in sold["add_ons"]] == ["MS-TEAMS-PHONE"]
    # A tenant update today has nothing to do, and logs no add-on or name change.
    outcome = update_one(store, "ACME", "--names")
    assert (outcome["status"], outcome["counts"]) == ("up-to-date", {})
    assert log_of(store) == []
    held = tenant_products(engine)
    assert (held["MS-TEAMS-PHONE"].add_on_of, held["MS-M365-E3"].name) == (
        "MS-M365-E3",
        before["MS-M365-E3"][0],
    )

    take_effect_today(engine)
    # The first command on the date applies them, as the revision's prices apply.
    assert root_product(store, "MS-TEAMS-PHONE") == (before["MS-TEAMS-PHONE"][0], None)
    assert root_product(store, "MS-M365-E3") == (RENAMED_E3, None)
    refused = store(
        "subscription", "update", sold["code"], "--add-on", "MS-TEAMS-PHONE=2", expect=None
    )
    assert refused.exit_code != 0 and "add-on" in refused.stderr
    outcome = update_one(store, "ACME", "--names")
    assert outcome["status"] == "succeeded"
    assert outcome["counts"][ADD_ON] == 1 and outcome["counts"][RENAMED] == 1
    changed = {(e["change"], e["sku"]): (e["old"], e["new"]) for e in log_of(store)}
    assert changed[(ADD_ON, "MS-TEAMS-PHONE")] == ("MS-M365-E3", None)
    assert changed[(RENAMED, "MS-M365-E3")] == (before["MS-M365-E3"][0], RENAMED_E3)
    held = tenant_products(engine)
    assert (held["MS-TEAMS-PHONE"].add_on_of, held["MS-M365-E3"].name) == (None, RENAMED_E3)


def test_a_worker_applies_scheduled_names_on_their_date(store, engine, tmp_path):
    store("pricelist", "import", PL, scheduled_v2(tmp_path), "--effective", days_from_today(30))
    assert run_worker(engine) == []
    with read_session(engine) as session:
        name = session.execute(
            select(Product.name).where(
                Product.sku == "MS-M365-E3", Product.source_product_id.is_(None)
            )
        ).scalar_one()
    assert name != RENAMED_E3
    take_effect_today(engine)
    register_all()
    report = jobs.worker(engine, "test-worker", until_empty=True, handle_signals=False)
    assert report.swept >= 1
    with read_session(engine) as session:
        name = session.execute(
            select(Product.name).where(
                Product.sku == "MS-M365-E3", Product.source_product_id.is_(None)
            )
        ).scalar_one()
    assert name == RENAMED_E3


def test_scheduled_revisions_rename_in_their_order(store, engine, tmp_path):
    """A later revision is compared with what the earlier scheduled one will leave."""
    original = root_product(store, "MS-M365-E3")[0]
    store("pricelist", "import", PL, scheduled_v2(tmp_path), "--effective", days_from_today(30))
    back = scheduled_v2(tmp_path, "v3.csv", MS_M365_E3={"name": original, "price": "36.00"})
    result = store.json("pricelist", "import", PL, back, "--effective", days_from_today(40))
    assert (result["revision"], result["products_renamed"]) == (3, 1)
    assert root_product(store, "MS-M365-E3")[0] == original
    take_effect_today(engine)
    assert root_product(store, "MS-M365-E3")[0] == original


def test_a_scheduled_revision_that_only_renames_is_still_a_revision(store, tmp_path):
    """Names take effect with a revision: one whose items are unchanged is still made."""
    store("pricelist", "import", PL, V2)
    only_names = scheduled_v2(tmp_path, MS_M365_E3={"name": RENAMED_E3})
    result = store.json("pricelist", "import", PL, only_names, "--effective", days_from_today(5))
    assert (result["revision"], result["diff"]["added"], result["diff"]["changed"]) == (3, [], [])
    assert root_product(store, "MS-M365-E3")[0] != RENAMED_E3
    # An import in effect at once renames at once, as before.
    store("pricelist", "import", PL, V2, "--effective", days_from_today(5))
    assert root_product(store, "MS-M365-E3")[0] != RENAMED_E3


# --- many tenants --------------------------------------------------------------------------


def three_tenants(cli, engine) -> None:
    """ACME and NORDIC are tenants; LITECLOUD's creation is only queued (in progress)."""
    with write_session(engine) as session:
        session.execute(
            update(Account).where(Account.code == "NORDIC").values(ordering_enabled=True)
        )
    create_tenant(cli, "NORDIC")
    create_tenant(cli, "LITECLOUD", "--detach")


def set_status(engine, code: str, status: str) -> None:
    """There is no command to suspend a tenant: the operator does it in the BSS."""
    with write_session(engine) as session:
        tenant_id = session.execute(
            select(TenantReseller.id)
            .join(Account, Account.id == TenantReseller.account_id)
            .where(Account.code == code)
        ).scalar_one()
        session.execute(
            update(TenantReseller).where(TenantReseller.id == tenant_id).values(status=status)
        )


def test_all_updates_every_tenant_and_reports_the_skipped_ones(store, engine):
    old, new = version_1(), version_of(read_rows(V2))
    expected = expected_changes(old, new)
    three_tenants(store, engine)
    set_status(engine, "NORDIC", "suspended")
    store("pricelist", "import", PL, V2)

    out = store.json("tenant", "update", "--all")
    assert [(t["tenant"], t["status"], t["counts"]) for t in out["tenants"]] == [
        ("ACME", "succeeded", counts_of(expected))
    ]
    assert out["skipped"] == [
        {"tenant": "LITECLOUD", "status": "in-progress"},
        {"tenant": "NORDIC", "status": "suspended"},
    ]
    assert_tenant_holds(engine, new, discontinued=expected[DISCONTINUED])
    assert_tenant_holds(engine, old, discontinued=set(), code="NORDIC")
    assert log_of(store, "NORDIC") == []

    text = store("tenant", "update", "--all", env=ENV)
    assert "Skipped LITECLOUD: it is in-progress." in text.stderr
    assert "Skipped NORDIC: it is suspended." in text.stderr
    # Named on its own, a suspended tenant is refused.
    refused = store("tenant", "update", "NORDIC", expect=1)
    assert "suspended" in refused.stderr


def test_all_exits_4_when_a_tenant_is_busy_and_updates_the_others(store, engine, snapshot):
    old, new = version_1(), version_of(read_rows(V2))
    expected = expected_changes(old, new)
    three_tenants(store, engine)
    run_worker(engine)  # LITECLOUD's creation
    store("pricelist", "import", PL, V2)
    queued = update_one(store, "NORDIC", "--detach")
    assert queued["status"] == "queued"

    # NORDIC's own update is queued: it is busy (exit 4), not failed (exit 5).
    out = store.json("tenant", "update", "--all", expect=4)
    outcomes = {t["tenant"]: t for t in out["tenants"]}
    assert {c: o["status"] for c, o in outcomes.items()} == {
        "ACME": "succeeded",
        "LITECLOUD": "succeeded",
        "NORDIC": "busy",
    }
    assert f"process {queued['process_id']}" in outcomes["NORDIC"]["error"]
    for code in ("ACME", "LITECLOUD"):
        assert_tenant_holds(engine, new, discontinued=expected[DISCONTINUED], code=code)
        assert_log(log_of(store, code), expected)
    assert_tenant_holds(engine, old, discontinued=set(), code="NORDIC")
    assert log_of(store, "NORDIC") == []

    run_worker(engine)  # NORDIC's queued update
    assert_tenant_holds(engine, new, discontinued=expected[DISCONTINUED], code="NORDIC")
    assert_log(log_of(store, "NORDIC"), expected)
    final = store("tenant", "update", "--all", env=ENV)
    snapshot.assert_match(final.stdout, "all_up_to_date.txt")


def test_update_tenants_reports_a_failed_tenant_and_goes_on_with_the_others(store, engine):
    """The rule of `--all` lives in the domain: a failed tenant is reported, not raised."""
    store("pricelist", "import", PL, V2)

    def fail(process_id: int, code: str) -> str:
        raise ProcessFailed(process_id, "failed", f"{code}: boom", exit_code=4)

    # one tenant named: its own error, with its own exit code
    with pytest.raises(ProcessFailed) as failed:
        update_tenants(engine, root_id(engine), "ACME", date.today(), Options(), run=fail)
    assert failed.value.exit_code == 4
    # every tenant: ACME's update is still queued, so this run of it is refused: reported
    # busy (not failed), and the batch exits 4
    report = update_tenants(engine, root_id(engine), None, date.today(), Options(), run=fail)
    assert [(o.tenant, o.status) for o in report.outcomes] == [("ACME", "busy")]
    assert "is already queued" in report.outcomes[0].error
    assert (report.failed, report.busy) == (0, 1)
    with pytest.raises(Busy) as refused:
        report.raise_if_failed()
    assert refused.value.exit_code == 4


# --- the log -----------------------------------------------------------------------------------


def test_tenant_log_json_shape_and_since(store, engine, tmp_path):
    store("pricelist", "import", PL, V2)
    first = update_one(store)
    log = log_of(store)
    assert log and all(set(e) == LOG_FIELDS for e in log)
    for e in log:
        assert datetime.fromisoformat(e["at"]).utcoffset() is not None
        assert isinstance(e["from_revision"], int) and isinstance(e["to_revision"], int)
        assert e["process_id"] == first["process_id"]
        assert e["unit"] and e["change"] in (ADDED, PRICE, DISCONTINUED, BELOW)
    stamps = [datetime.fromisoformat(e["at"]) for e in log]
    assert stamps == sorted(stamps), "oldest first"

    # --since is a day in UTC, as the log's timestamps are.
    assert log_of(store, "ACME", "--since", utc_day(-1)) == log
    assert log_of(store, "ACME", "--since", utc_day(0)) == log
    assert log_of(store, "ACME", "--since", utc_day(1)) == []
    # The first update happened ten days ago; a second one today.
    with write_session(engine) as session:
        session.execute(update(TenantUpdateLog).values(at=datetime.now(UTC) - timedelta(days=10)))
    v3 = write_rows(tmp_path / "v3.csv", edited(read_rows(V2), MS_M365_E3={"price": "36.00"}))
    store("pricelist", "import", PL, v3)
    second = update_one(store)
    recent = log_of(store, "ACME", "--since", utc_day(-5))
    assert sorted(
        (
            e["change"],
            e["sku"],
            e["unit"],
            e["old"],
            e["new"],
            e["from_revision"],
            e["to_revision"],
            e["process_id"],
        )
        for e in recent
    ) == [
        # ACME's retail list still sells E3 monthly at its first cost.
        (BELOW, "MS-M365-E3", "monthly", "33.60 (Retail EUR)", "36.00", 2, 3, second["process_id"]),
        (PRICE, "MS-M365-E3", "annual", "388.08", "36.00", 2, 3, second["process_id"]),
        (PRICE, "MS-M365-E3", "monthly", "35.28", "36.00", 2, 3, second["process_id"]),
    ]
    assert len(log_of(store, "ACME", "--since", utc_day(-11))) == len(log) + 3
    store("tenant", "log", "ACME", "--since", "last week", expect=2)
    text = store("tenant", "log", "ACME", env=ENV)
    assert "Update log of ACME" in text.stdout


def utc_day(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


# --- overlapping runs --------------------------------------------------------------------------


def test_a_second_run_while_one_is_queued_or_running_exits_4_and_changes_nothing(
    store, engine, db_url
):
    old, new = version_1(), version_of(read_rows(V2))
    expected = expected_changes(old, new)
    store("pricelist", "import", PL, V2)
    queued = update_one(store, "ACME", "--detach")
    assert queued["status"] == "queued"

    before = all_rows(db_url)
    for args in ([], ["--detach"], ["--partial"]):
        busy = store("tenant", "update", "ACME", *args, expect=4)
        assert f"process {queued['process_id']}" in busy.stderr
    assert all_rows(db_url) == before

    register_all()
    claimed = jobs.claim_process(engine, queued["process_id"], "another-worker")
    assert claimed is not None
    before = all_rows(db_url)
    store("tenant", "update", "ACME", expect=4)
    assert all_rows(db_url) == before
    assert_tenant_holds(engine, old, discontinued=set())

    assert jobs.run_process(engine, claimed).status == "succeeded"
    assert_tenant_holds(engine, new, discontinued=expected[DISCONTINUED])
    assert update_one(store)["status"] == "up-to-date"
    assert_log(log_of(store), expected)


def test_two_updates_requested_at_once_queue_exactly_one(store, engine, db_url):
    store("pricelist", "import", PL, V2)
    with read_session(engine) as session:
        tenant_id = session.execute(select(TenantReseller.id)).scalar_one()
    outcomes = at_once(db_url, lambda own: request_update(own, tenant_id, date.today(), Options()))
    queued = [o for o in outcomes if not isinstance(o, TenantctlError)]
    busy = [o for o in outcomes if isinstance(o, TenantctlError)]
    assert len(queued) == 1 and queued[0].status == "queued", outcomes
    assert len(busy) == 1 and busy[0].exit_code == 4, outcomes
    run_worker(engine)
    assert_log(log_of(store), expected_changes(version_1(), version_of(read_rows(V2))))


def test_update_needs_one_tenant_or_all(cli):
    cli("load", DATASET)
    for args in ([], ["ACME", "--all"]):
        cli("tenant", "update", *args, expect=2)
    cli("tenant", "update", "ACME", expect=1)  # not a tenant
    cli("tenant", "update", "--all", "--as-of", "tomorrow", expect=2)

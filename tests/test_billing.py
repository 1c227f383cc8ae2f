"""Billing tenant resellers through the store and the CLI (SPEC section 8): what is read
(mirrors of either origin, the quantity history, the price list), what is issued (once per
reseller and cycle, numbered gap-free, never changed) and the `invoice` commands. Totals
are worked out by hand in the comments."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy.exc
from sqlalchemy import func, select, text

from tenantctl.domain import billing_store
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import (
    Account,
    Asset,
    BillingCycle,
    Invoice,
    OrderLine,
    Organisation,
    PriceList,
    PriceListItem,
    PriceListRevision,
    Product,
    SalesOrder,
    Subscription,
    SubscriptionAddon,
    TenantReseller,
)
from tests.billing_world import (
    D,
    World,
    add_customer,
    add_reseller,
    add_subscription,
    build_world,
    record_sale,
)
from tests.conftest import at_once

YEAR = datetime.now(UTC).year  # numbers carry the year of issue


def inv(n: int) -> str:
    return f"INV-{YEAR}-{n:06d}"


# --- a small distributor, built in the store directly --------------------------------


def add_asset(engine, world: World, customer: int, sku: str, quantity: int, day: date):
    with write_session(engine) as s:
        world.counter += 1
        s.add(
            Asset(
                org_id=world.root,
                code=f"AST-{world.counter:04d}",
                account_id=customer,
                product_id=world.products[sku],
                kind="software-subscription",
                quantity=quantity,
                purchase_date=day,
            )
        )


@pytest.fixture
def world(engine) -> World:
    w = build_world(engine)
    add_reseller(engine, w, "RES")
    return w


def invoices_of(engine) -> list[tuple[str, str | None, Decimal]]:
    with read_session(engine) as s:
        rows = s.execute(
            select(Invoice.number, Account.code, Invoice.total)
            .outerjoin(Account, Account.id == Invoice.customer_id)
            .order_by(Invoice.id)
        ).all()
    return [tuple(r) for r in rows]


# --- what is billed ------------------------------------------------------------------


def test_consolidated_and_separate_invoices_with_a_per_account_override(cli, engine, world):
    # The tenant says "separate invoices", but ALPHA's own setting (no) is what counts.
    with write_session(engine) as s:
        s.get(TenantReseller, 1).separate_invoices = True
    alpha = add_customer(engine, world, "RES", "ALPHA", separate=False)
    beta = add_customer(engine, world, "RES", "BETA", separate=True)
    gamma = add_customer(engine, world, "RES", "GAMMA")
    add_subscription(
        engine, world, alpha, "M365", "monthly", 3, date(2025, 1, 1), add_ons={"ADDON": 3}
    )
    add_subscription(engine, world, beta, "M365", "monthly", 2, date(2025, 1, 1))
    add_subscription(engine, world, gamma, "M365", "monthly", 1, date(2025, 1, 1))

    result = cli.json("invoice", "run", "RES", "--period", "2026-03")
    assert result["status"] == "issued"
    consolidated, separate = result["invoices"]
    # ALPHA: 3 x 10.00 + 3 x 2.00 (its add-on, a line of its own) = 36.00; GAMMA 10.00.
    assert (consolidated["number"], consolidated["customer"], consolidated["total"]) == (
        inv(1),
        None,
        "46.00",
    )
    assert [(s["customer"], s["amount"]) for s in consolidated["subtotals"]] == [
        ("ALPHA", "36.00"),
        ("GAMMA", "10.00"),
    ]
    assert [
        (x["sku"], x["quantity"], x["charged"], x["unit_price"], x["amount"])
        for x in consolidated["lines"]
    ] == [
        ("M365", 3, "31/31 days", "10.00", "30.00"),
        ("ADDON", 3, "31/31 days", "2.00", "6.00"),
        ("M365", 1, "31/31 days", "10.00", "10.00"),
    ]
    # BETA on its own: 2 x 10.00 = 20.00
    assert (separate["number"], separate["customer"], separate["total"]) == (
        inv(2),
        "BETA",
        "20.00",
    )


def test_tenant_set_separate_invoices_changes_the_tenant_not_its_mirrored_accounts(
    cli, engine, world
):
    alpha = add_customer(engine, world, "RES", "ALPHA")
    assert cli.json("tenant", "set", "RES", "--separate-invoices") == {
        "tenant": "RES",
        "separate_invoices": True,
        "changed": True,
    }
    assert cli.json("tenant", "set", "RES", "--separate-invoices")["changed"] is False
    with read_session(engine) as s:
        assert s.get(TenantReseller, 1).separate_invoices is True
        assert s.get(Account, alpha).separate_invoices is False
    cli("tenant", "set", "RES", expect=2)


def test_terms_one_time_and_assets_through_the_store(cli, engine, world):
    c = add_customer(engine, world, "RES", "ALPHA")
    add_subscription(engine, world, c, "M365", "annual", 2, date(2025, 3, 20))
    add_subscription(engine, world, c, "SETUP", "one-time", 1, date(2026, 3, 2))
    add_asset(engine, world, c, "DISK", 3, date(2026, 3, 31))
    add_asset(engine, world, c, "DISK", 1, date(2026, 4, 1))  # next cycle
    (invoice,) = cli.json("invoice", "run", "RES", "--period", "2026-03")["invoices"]
    # The annual term renews on 20 March: 2 x 120.00 = 240.00; SETUP once: 25.00;
    # the asset bought on 31 March: 3 x 50.00 = 150.00. Total 415.00.
    assert sorted(x["amount"] for x in invoice["lines"]) == ["150.00", "240.00", "25.00"]
    assert invoice["total"] == "415.00"


def test_a_trial_turned_paid_is_billed_from_the_day_it_turned_paid(cli, engine, world):
    c = add_customer(engine, world, "RES", "ALPHA")
    sub = add_subscription(engine, world, c, "M365", "monthly", 2, date(2026, 2, 1), paid=False)
    record_sale(engine, world, sub, "trial-to-paid", date(2026, 3, 17), {"M365": 2})
    (invoice,) = cli.json("invoice", "preview", "RES", "--period", "2026-03")["invoices"]
    # 17-31 March: 15 days. 2 x 15 x 10.00 / 31 = 300 / 31 = 9.677... = 9.68
    assert (invoice["total"], invoice["number"]) == ("9.68", None)
    assert cli.json("invoice", "preview", "RES", "--period", "2026-02")["invoices"] == []


def test_a_revision_without_an_effective_date_is_in_effect_from_when_it_was_made(
    cli, engine, world
):
    c = add_customer(engine, world, "RES", "ALPHA")
    add_subscription(engine, world, c, "M365", "monthly", 1, date(2025, 1, 1))
    with write_session(engine) as s:
        s.add(
            PriceListRevision(
                price_list_id=world.price_list,
                number=2,
                created_at=datetime(2026, 3, 15, 9, tzinfo=UTC),
            )
        )
        item = s.execute(
            select(PriceListItem).where(
                PriceListItem.product_id == world.products["M365"], PriceListItem.unit == "monthly"
            )
        ).scalar_one()
        item.to_revision = 2
        s.add(
            PriceListItem(
                price_list_id=world.price_list,
                product_id=item.product_id,
                unit="monthly",
                price=D("12.40"),
                from_revision=2,
            )
        )
    march = cli.json("invoice", "preview", "RES", "--period", "2026-03")
    april = cli.json("invoice", "preview", "RES", "--period", "2026-04")
    # Made on 15 March, mid-cycle: March stays at 10.00; April (30 days) at 12.40.
    assert march["invoices"][0]["total"] == "10.00"
    assert april["invoices"][0]["total"] == "12.40"


# --- issuing -------------------------------------------------------------------------


def test_a_second_run_changes_nothing_and_says_so(cli, engine, world):
    c = add_customer(engine, world, "RES", "ALPHA")
    add_subscription(engine, world, c, "M365", "monthly", 1, date(2025, 1, 1))
    first = cli.json("invoice", "run", "RES", "--period", "2026-03")
    again = cli("invoice", "run", "RES", "--period", "2026-03")
    assert "issued already: nothing changes" in again.stderr
    second = cli.json("invoice", "run", "RES", "--period", "2026-03")
    assert second["status"] == "already-issued"
    assert (
        [i["number"] for i in second["invoices"]]
        == [i["number"] for i in first["invoices"]]
        == [inv(1)]
    )
    assert invoices_of(engine) == [(inv(1), None, D("10.00"))]


def test_cycles_are_issued_in_order_and_only_once_ended(cli, engine, world):
    c = add_customer(engine, world, "RES", "ALPHA")
    add_subscription(engine, world, c, "M365", "monthly", 1, date(2025, 1, 1))
    cli("invoice", "run", "RES", "--period", "2026-01")
    skipped = cli("invoice", "run", "RES", "--period", "2026-04", expect=1)
    assert "issue 2026-02, 2026-03 first" in skipped.stderr
    before = cli("invoice", "run", "RES", "--period", "2025-12", expect=1)
    assert "2026-01 is issued already" in before.stderr
    now = datetime.now(UTC)
    open_cycle = cli("invoice", "run", "RES", "--period", f"{now:%Y-%m}", expect=1)
    assert "has not ended yet" in open_cycle.stderr
    cli("invoice", "run", "RES", "--period", "2026-1", expect=2)
    cli("invoice", "run", "NOBODY", "--period", "2026-02", expect=1)
    cli("invoice", "run", "--period", "2026-02", expect=2)  # neither RESELLER nor --all
    assert len(invoices_of(engine)) == 1


def test_a_cycle_with_nothing_to_bill_is_still_closed(cli, engine, world):
    result = cli.json("invoice", "run", "RES", "--period", "2026-01")
    assert (result["status"], result["invoices"]) == ("issued", [])
    with read_session(engine) as s:
        assert s.execute(select(BillingCycle.period)).scalars().all() == ["2026-01"]
    # ... so the next cycle follows it.
    cli("invoice", "run", "RES", "--period", "2026-02")


def test_a_late_cancellation_is_adjusted_next_cycle_as_a_credit_note_once(cli, engine, world):
    c = add_customer(engine, world, "RES", "ALPHA")
    sub = add_subscription(engine, world, c, "M365", "monthly", 1, date(2025, 1, 1))
    cli("invoice", "run", "RES", "--period", "2026-03")  # 1 x 10.00 = 10.00
    # Recorded now, dated 11 March (a delivery held by `backorder pause`, say).
    record_sale(engine, world, sub, "cancel", date(2026, 3, 11), {"M365": 0})
    april = cli.json("invoice", "run", "RES", "--period", "2026-04")
    # March is now 1-10 March: 10 x 10.00 / 31 = 3.2258 = 3.23; issued 10.00: -6.77.
    # April has nothing else, so the invoice is negative: a credit note.
    (note,) = april["invoices"]
    assert (note["number"], note["kind"], note["total"]) == (
        f"CN-{YEAR}-000001",
        "credit-note",
        "-6.77",
    )
    (line,) = note["lines"]
    assert (line["kind"], line["period"], line["corrects"], line["amount"]) == (
        "adjustment",
        "2026-03",
        inv(1),
        "-6.77",
    )
    # Issued once: the next cycle adds nothing.
    may = cli.json("invoice", "run", "RES", "--period", "2026-05")
    assert (may["status"], may["invoices"]) == ("issued", [])
    assert invoices_of(engine) == [
        (inv(1), None, D("10.00")),
        (f"CN-{YEAR}-000001", None, D("-6.77")),
    ]


def test_a_late_change_goes_on_the_same_kind_of_invoice(cli, engine, world):
    c = add_customer(engine, world, "RES", "BETA", separate=True)
    other = add_customer(engine, world, "RES", "ALPHA")
    sub = add_subscription(engine, world, c, "M365", "monthly", 1, date(2025, 1, 1))
    add_subscription(engine, world, other, "M365", "monthly", 5, date(2025, 1, 1))
    cli("invoice", "run", "RES", "--period", "2026-03")  # INV 1: ALPHA 50.00, INV 2: BETA
    record_sale(engine, world, sub, "change", date(2026, 3, 1), {"M365": 4})
    april = cli.json("invoice", "run", "RES", "--period", "2026-04")
    # BETA: April 4 x 10.00 = 40.00 plus March again at 4: 40.00 - 10.00 = 30.00 -> 70.00
    assert [(i["customer"], i["total"]) for i in april["invoices"]] == [
        (None, "50.00"),
        ("BETA", "70.00"),
    ]
    charge, adjustment = april["invoices"][1]["lines"]
    assert (charge["kind"], charge["amount"]) == ("charge", "40.00")
    assert (adjustment["kind"], adjustment["corrects"], adjustment["amount"]) == (
        "adjustment",
        inv(2),
        "30.00",
    )


def test_issued_invoices_never_change_in_the_store(cli, engine, world):
    c = add_customer(engine, world, "RES", "ALPHA")
    add_subscription(engine, world, c, "M365", "monthly", 1, date(2025, 1, 1))
    cli("invoice", "run", "RES", "--period", "2026-03")
    for statement in (
        "UPDATE invoice SET total = 0",
        "DELETE FROM invoice_line",
        "UPDATE invoice_line SET amount = 1",
        "DELETE FROM invoice",
        "UPDATE billing_cycle SET period = '2026-04'",
        "DELETE FROM billing_cycle",
    ):
        with (
            pytest.raises(sqlalchemy.exc.DBAPIError, match="issued invoices never change"),
            engine.begin() as conn,
        ):
            conn.execute(text(statement))
    assert invoices_of(engine) == [(inv(1), None, D("10.00"))]


def test_a_cycle_is_recorded_once_by_a_unique_key(engine, world):
    add_customer(engine, world, "RES", "ALPHA")
    for _ in range(2):
        row = dict(
            org_id=world.root,
            account_id=world.resellers["RES"],
            period="2026-03",
            start_date=date(2026, 3, 1),
            end_date=date(2026, 3, 31),
            currency="EUR",
        )
        try:
            with write_session(engine) as s:
                s.add(BillingCycle(**row))
        except sqlalchemy.exc.IntegrityError:
            break
    else:
        pytest.fail("a second (reseller, cycle) row was accepted")


def test_two_runs_at_once_issue_each_invoice_once(db_url, engine, world):
    c = add_customer(engine, world, "RES", "ALPHA")
    add_subscription(engine, world, c, "M365", "monthly", 1, date(2025, 1, 1))
    outcomes = at_once(db_url, lambda own: billing_store.run(own, None, "RES", "2026-03"))
    assert sorted(o.status for o in outcomes) == ["already-issued", "issued"]
    assert invoices_of(engine) == [(inv(1), None, D("10.00"))]


def test_run_all_in_code_order_one_failure_does_not_stop_the_others(cli, engine, world):
    with write_session(engine) as s:
        empty = PriceList(org_id=world.root, name="Empty", currency="EUR")
        s.add(empty)
        s.flush()
        s.add(PriceListRevision(price_list_id=empty.id, number=1, effective_date=date(2020, 1, 1)))
        empty_id = empty.id
    add_reseller(engine, world, "BROKEN", price_list=empty_id)
    add_reseller(engine, world, "ZED")
    add_reseller(engine, world, "HALF")  # a creation that has not finished: left out
    with write_session(engine) as s:
        s.execute(
            select(TenantReseller).where(TenantReseller.account_id == world.resellers["HALF"])
        ).scalar_one().status = "in-progress"
    for reseller, customer in (("RES", "R1"), ("BROKEN", "B1"), ("ZED", "Z1")):
        add_subscription(
            engine,
            world,
            add_customer(engine, world, reseller, customer),
            "M365",
            "monthly",
            1,
            date(2025, 1, 1),
        )
    failed = cli("invoice", "run", "--all", "--period", "2026-03", expect=5)
    assert "BROKEN" in failed.stderr and "is not sold monthly" in failed.stderr
    assert invoices_of(engine) == [(inv(1), None, D("10.00")), (inv(2), None, D("10.00"))]
    with read_session(engine) as s:
        numbers = dict(
            s.execute(
                select(Account.code, Invoice.number).join(Invoice, Invoice.account_id == Account.id)
            ).all()
        )
    assert numbers == {"RES": inv(1), "ZED": inv(2)}  # the fixed order: by code
    # Twice: nothing more is issued (BROKEN still fails).
    again = cli("invoice", "run", "--all", "--period", "2026-03", "--json", expect=5)
    assert [r["status"] for r in json.loads(again.stdout)["results"]] == [
        "already-issued",
        "already-issued",
    ]
    assert len(invoices_of(engine)) == 2
    half = cli("invoice", "run", "HALF", "--period", "2026-03", expect=1)
    assert "creation has not finished" in half.stderr
    with read_session(engine) as s:
        assert s.execute(select(func.count(BillingCycle.id))).scalar_one() == 2


# --- reading what was issued ---------------------------------------------------------


def test_list_show_and_export(cli, engine, world, tmp_path):
    c = add_customer(engine, world, "RES", "ALPHA")
    add_subscription(engine, world, c, "M365", "monthly", 2, date(2025, 1, 1), add_ons={"ADDON": 1})
    cli("invoice", "run", "RES", "--period", "2026-03")
    listed = cli.json("invoice", "list", "--reseller", "RES", "--period", "2026-03")
    assert [(r["number"], r["total"], r["lines"]) for r in listed] == [(inv(1), "22.00", 2)]
    assert cli.json("invoice", "list", "--period", "2026-02") == []
    shown = cli.json("invoice", "show", inv(1))
    assert (shown["total"], shown["reseller"], shown["period"]) == ("22.00", "RES", "2026-03")
    human = cli("invoice", "show", inv(1)).stdout
    assert "Subtotal ALPHA" in human and "22.00" in human
    cli("invoice", "show", "INV-1999-000001", expect=1)

    out = tmp_path / "inv.csv"
    cli("invoice", "export", inv(1), "--format", "csv", "--output", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["customer"], r["sku"], r["quantity"], r["amount"]) for r in rows] == [
        ("ALPHA", "M365", "2", "20.00"),
        ("ALPHA", "ADDON", "1", "2.00"),
    ]
    exported = json.loads(cli("invoice", "export", inv(1), "--format", "json").stdout)
    assert [(r["customer_name"], r["amount"]) for r in exported] == [
        ("ALPHA Ltd", "20.00"),
        ("ALPHA Ltd", "2.00"),
    ]
    cli("invoice", "export", inv(1), "--format", "xml", expect=2)


# --- mirrors of a lite upgrade -------------------------------------------------------


def test_lite_upgrade_mirrors_bill_only_the_cycle_asked_for(cli, engine, monkeypatch):
    from tests.upgrade_world import CREATE, DATASET, ENV, LITE

    cli("load", DATASET)
    cli(*CREATE, env=ENV)
    cli("upgrade", "customers", LITE)
    cli("upgrade", "subscriptions", LITE)
    with read_session(engine) as s:
        reseller = s.execute(select(Account).where(Account.code == LITE)).scalar_one()
        tenant = s.execute(
            select(TenantReseller).where(TenantReseller.account_id == reseller.id)
        ).scalar_one()
        customers = [
            a.id
            for a in s.execute(
                select(Account).where(
                    Account.bill_to_id == reseller.id, Account.managed_by_org_id == tenant.org_id
                )
            ).scalars()
        ]
        monthly = (
            s.execute(
                select(Subscription).where(
                    Subscription.account_id.in_(customers),
                    Subscription.unit == "monthly",
                    Subscription.status.in_(("active", "suspended")),
                    Subscription.paid.is_(True),
                )
            )
            .scalars()
            .all()
        )  # a trial is not billed
        oldest = min(sub.start_date for sub in monthly)
        # The price of each monthly mirror and of each of its add-ons in the list.
        price = dict(
            ((i.product_id, i.unit), i.price)
            for i in s.execute(
                select(PriceListItem).where(
                    PriceListItem.price_list_id == reseller.price_list_id,
                    PriceListItem.to_revision.is_(None),
                )
            ).scalars()
        )
        expected = D(0)
        for sub in monthly:
            expected += sub.quantity * price[(sub.product_id, "monthly")]
            for add_on in s.execute(
                select(SubscriptionAddon).where(SubscriptionAddon.subscription_id == sub.id)
            ).scalars():
                expected += add_on.quantity * price[(add_on.product_id, "monthly")]
    assert oldest.year <= 2024  # years back
    result = cli.json("invoice", "preview", LITE, "--period", "2026-10")
    lines = [x for i in result["invoices"] for x in i["lines"]]
    monthly_lines = [x for x in lines if x["unit"] == "monthly"]
    # One full cycle (5 Oct - 4 Nov, 31 days) each: quantity x price, never years of it.
    assert {x["charged"] for x in monthly_lines} == {"31/31 days"}
    assert sum(D(x["amount"]) for x in monthly_lines) == expected
    with read_session(engine) as s:
        assert s.execute(select(func.count(BillingCycle.id))).scalar_one() == 0


# --- every level ---------------------------------------------------------------------


def test_a_tenant_bills_its_own_tenant_resellers_and_sees_nothing_else(cli, engine, world):
    """Inside RES's tenant (--org), `invoice` bills RES's own tenant reseller SUB from RES's
    org, with RES's own counter; the root's invoices are not found there, nor the other way."""
    from tenantctl.domain.users import hash_password
    from tenantctl.store.models import User

    c = add_customer(engine, world, "RES", "ALPHA")
    add_subscription(engine, world, c, "M365", "monthly", 1, date(2025, 1, 1))
    cli("invoice", "run", "RES", "--period", "2026-03")  # the root's INV 1: 10.00
    org = world.tenants["RES"]
    with write_session(engine) as s:
        s.add(
            User(
                org_id=org,
                username="admin",
                email="a@res.example",
                password_hash=hash_password("long-enough-pw"),
            )
        )
        pl = PriceList(org_id=org, name="Own", currency="EUR")
        product = Product(org_id=org, sku="OWN-SVC", name="Own service", platform="other")
        s.add_all([pl, product])
        s.flush()
        s.add(PriceListRevision(price_list_id=pl.id, number=1, effective_date=date(2020, 1, 1)))
        s.add(
            PriceListItem(
                price_list_id=pl.id,
                product_id=product.id,
                unit="monthly",
                price=D("7.75"),
                from_revision=1,
            )
        )
        sub_reseller = Account(
            org_id=org,
            code="SUBRES",
            name="Sub reseller",
            kind="reseller",
            currency="EUR",
            country="GR",
            price_list_id=pl.id,
        )
        sub_org = Organisation(
            name="Sub tenant",
            kind="tenant",
            parent_id=org,
            currency="EUR",
            country="GR",
            client_id="client-SUBRES",
        )
        s.add_all([sub_reseller, sub_org])
        s.flush()
        s.add(
            TenantReseller(
                account_id=sub_reseller.id,
                parent_org_id=org,
                org_id=sub_org.id,
                price_list_id=pl.id,
                edition="basic",
                phase="live",
                status="active",
            )
        )
        end = Account(
            org_id=org,
            code="END",
            name="End customer",
            currency="EUR",
            country="GR",
            bill_to_id=sub_reseller.id,
            managed_by_org_id=sub_org.id,
        )
        s.add(end)
        s.flush()
        s.add(
            Subscription(
                org_id=org,
                code="SUB-T-1",
                account_id=end.id,
                product_id=product.id,
                unit="monthly",
                quantity=4,
                unit_price=D(0),
                currency="EUR",
                start_date=date(2025, 1, 1),
            )
        )
    inside = {"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": "long-enough-pw"}
    result = cli.json(
        "--org", "client-RES", "invoice", "run", "SUBRES", "--period", "2026-03", env=inside
    )
    # 4 x 7.75 = 31.00, numbered from RES's own counter.
    assert [(i["number"], i["total"]) for i in result["invoices"]] == [(inv(1), "31.00")]
    assert [
        i["reseller"] for i in cli.json("--org", "client-RES", "invoice", "list", env=inside)
    ] == ["SUBRES"]
    # The root lists only what it issued itself.
    assert [i["reseller"] for i in cli.json("invoice", "list")] == ["RES"]
    # The root's RES is not a tenant reseller of RES's org.
    cli(
        "--org",
        "client-RES",
        "invoice",
        "preview",
        "RES",
        "--period",
        "2026-03",
        env=inside,
        expect=1,
    )


def test_a_lite_mirror_cancelled_later_ends_with_its_add_ons(cli, engine, world):
    c = add_customer(engine, world, "RES", "ALPHA")
    sub = add_subscription(
        engine,
        world,
        c,
        "M365",
        "monthly",
        3,
        date(2024, 6, 1),
        add_ons={"ADDON": 2},
        with_order=False,
    )
    with write_session(engine) as s:  # a cancel order names the quantity it cancels
        world.counter += 1
        order = SalesOrder(
            org_id=world.root,
            number="ORD-C",
            account_id=c,
            order_date=date(2026, 3, 11),
            order_type="cancel",
            subscription_id=sub,
        )
        s.add(order)
        s.flush()
        s.add(
            OrderLine(
                order_id=order.id,
                product_id=world.products["M365"],
                unit="monthly",
                quantity=3,
                unit_price=D(0),
                currency="EUR",
                quantity_after=0,
            )
        )
    (invoice,) = cli.json("invoice", "preview", "RES", "--period", "2026-03")["invoices"]
    # 1-10 March of 31 days: M365 3 x 10 x 10.00 / 31 = 9.677 = 9.68; its add-on ends too:
    # 2 x 10 x 2.00 / 31 = 1.290 = 1.29.
    assert [(x["sku"], x["amount"]) for x in invoice["lines"]] == [
        ("M365", "9.68"),
        ("ADDON", "1.29"),
    ]
    # February: the whole cycle at the quantities from the start date: 30.00 + 4.00.
    (february,) = cli.json("invoice", "preview", "RES", "--period", "2026-02")["invoices"]
    assert february["total"] == "34.00"


def test_an_invoice_in_human_form(cli, engine, world, snapshot):
    alpha = add_customer(engine, world, "RES", "ALPHA")
    beta = add_customer(engine, world, "RES", "BETA")
    add_subscription(
        engine, world, alpha, "M365", "monthly", 3, date(2026, 3, 11), add_ons={"ADDON": 3}
    )
    add_subscription(engine, world, beta, "M365", "annual", 2, date(2025, 3, 20))
    result = cli("invoice", "preview", "RES", "--period", "2026-03", env={"COLUMNS": "120"})
    # 3 x 21 x 10.00 / 31 = 20.32; 3 x 21 x 2.00 / 31 = 4.06; BETA's renewal 2 x 120.00.
    text = "\n".join(line.rstrip() for line in result.stdout.splitlines()) + "\n"
    snapshot.assert_match(text, "invoice_preview.txt")


def test_schema_0006_goes_down_and_up_again_with_its_guard(empty_db_url):
    """The migration of the billing tables undoes cleanly (triggers included) and redoes."""
    from alembic import command

    from tenantctl.store import migrate
    from tenantctl.store.engine import open_engine

    engine = open_engine(empty_db_url)
    try:
        migrate.upgrade(engine, "0006")
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0005")
        with engine.connect() as conn:
            assert not sqlalchemy.inspect(conn).has_table("invoice")
        migrate.upgrade(engine, "0006")
        w = build_world(engine)
        add_reseller(engine, w, "RES")
        with write_session(engine) as s:
            s.add(
                BillingCycle(
                    org_id=w.root,
                    account_id=w.resellers["RES"],
                    period="2026-01",
                    start_date=date(2026, 1, 1),
                    end_date=date(2026, 1, 31),
                    currency="EUR",
                )
            )
        with (
            pytest.raises(sqlalchemy.exc.DBAPIError, match="issued invoices never change"),
            engine.begin() as conn,
        ):
            conn.execute(text("DELETE FROM billing_cycle"))
    finally:
        engine.dispose()


def test_a_reseller_is_invoiced_in_its_own_currency(cli, engine, world):
    add_subscription(
        engine,
        world,
        add_customer(engine, world, "RES", "ALPHA"),
        "M365",
        "monthly",
        1,
        date(2025, 1, 1),
    )
    with write_session(engine) as s:
        s.get(Account, world.resellers["RES"]).currency = "USD"
    refused = cli("invoice", "run", "RES", "--period", "2026-03", expect=1)
    assert "billed in USD but its price list 'Resellers' is in EUR" in refused.stderr
    assert invoices_of(engine) == []


def test_the_unique_key_not_the_check_in_code_stops_a_second_issue(engine, world, monkeypatch):
    """With the check in code blinded (as if two runs read at the same moment), the unique
    (reseller, cycle) key still issues the cycle once, and the second run says so."""
    c = add_customer(engine, world, "RES", "ALPHA")
    add_subscription(engine, world, c, "M365", "monthly", 1, date(2025, 1, 1))
    first = billing_store.run(engine, None, "RES", "2026-03")
    real = billing_store._cycle_state
    monkeypatch.setattr(
        billing_store, "_cycle_state", lambda session, org, reseller, cycle: (None, None)
    )
    second = billing_store.run(engine, None, "RES", "2026-03")
    monkeypatch.setattr(billing_store, "_cycle_state", real)
    assert (first.status, second.status) == ("issued", "already-issued")
    assert "issued by another run at the same time" in second.message
    assert invoices_of(engine) == [(inv(1), None, D("10.00"))]

"""`tenantctl checklist ACCOUNT --price-list NAME` (SPEC section 2): every check's pass and
every reason it fails, through the CLI (exit 0 / 3, JSON) and the domain function."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from tenantctl.domain.catalogue import PriceRow, import_price_list
from tenantctl.domain.checklist import require_checklist, run_checklist
from tenantctl.domain.orgs import root_org
from tenantctl.errors import CheckFailed
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import Account, Organisation, PriceList, SyncRecord, TenantReseller

CHECKS = ["reseller account", "price list", "provisioning sync", "not a tenant yet"]
PL = "Resellers EUR"
ALL_PLATFORMS = ("microsoft", "acronis", "oss", "panda")


@pytest.fixture
def root(engine) -> int:
    with write_session(engine) as session:
        org = Organisation(name="Distributor", kind="root", currency="EUR", country="GR")
        session.add(org)
        session.flush()
        return org.id


def add_account(
    engine,
    code="ACME",
    *,
    kind="reseller",
    ordering=True,
    currency="EUR",
    sync: dict[str, str] | None = None,
) -> int:
    """An account of the root org with sync records {platform: status}."""
    with write_session(engine) as session:
        org = root_org(session)
        account = Account(
            org_id=org.id,
            code=code,
            name=f"{code} Ltd",
            kind=kind,
            ordering_enabled=ordering,
            currency=currency,
            country="GR",
        )
        session.add(account)
        session.flush()
        for platform, status in (sync or {}).items():
            session.add(SyncRecord(account_id=account.id, platform=platform, status=status))
        return account.id


def import_list(engine, platforms=ALL_PLATFORMS, *, name=PL, currency="EUR") -> None:
    """A new version of price list NAME with one product per platform."""
    rows = [
        PriceRow(f"{p.upper()}-1", f"{p} product", p, "monthly", Decimal("9.99")) for p in platforms
    ]
    with write_session(engine) as session:
        import_price_list(session, root_org(session), name, rows, currency=currency)


def add_empty_list(engine, name=PL) -> None:
    """A price list that has no revision (made, never imported into)."""
    with write_session(engine) as session:
        session.add(PriceList(org_id=root_org(session).id, name=name, currency="EUR"))


def add_tenant(engine, account_id: int) -> None:
    with write_session(engine) as session:
        org = root_org(session)
        price_list = session.exec(select(PriceList).where(PriceList.name == PL)).one()
        session.add(
            TenantReseller(
                account_id=account_id,
                parent_org_id=org.id,
                price_list_id=price_list.id,
                edition="basic",
                status="active",
            )
        )


def outcome(result: dict) -> dict[str, bool]:
    return {c["name"]: c["passed"] for c in result["checks"]}


def failed(result: dict, name: str) -> dict:
    [check] = [c for c in result["checks"] if c["name"] == name]
    assert check["passed"] is False
    assert check["fix"]
    return check


SYNCED = {"oss": "synced", "acronis": "synced"}


def test_all_checks_pass(root, engine, cli):
    add_account(engine, sync=SYNCED)
    import_list(engine)
    result = cli.json("checklist", "ACME", "--price-list", PL)
    assert result["passed"] is True
    assert (result["account"], result["price_list"]) == ("ACME", PL)
    assert [c["name"] for c in result["checks"]] == CHECKS
    assert all(c["passed"] and c["fix"] is None and c["reason"] for c in result["checks"])
    reasons = [c["reason"] for c in result["checks"]]
    assert "revision 1" in reasons[1] and "EUR" in reasons[1]
    assert reasons[2] == "synced with acronis, oss"


def test_json_shape(root, engine, cli):
    add_account(engine)
    import_list(engine)
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    assert set(result) == {"account", "price_list", "passed", "checks"}
    assert all(set(c) == {"name", "passed", "reason", "fix"} for c in result["checks"])
    assert result["passed"] is False


def test_account_missing(root, engine, cli):
    import_list(engine)
    result = cli.json("checklist", "NOPE", "--price-list", PL, expect=3)
    assert outcome(result) == {
        "reseller account": False,
        "price list": True,
        "provisioning sync": False,
        "not a tenant yet": False,
    }
    assert "no account 'NOPE'" in failed(result, "reseller account")["reason"]
    assert "cannot be checked" in failed(result, "provisioning sync")["reason"]


def test_account_that_is_not_a_reseller(root, engine, cli):
    add_account(engine, kind="customer", sync=SYNCED)
    import_list(engine)
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    assert outcome(result) == {
        "reseller account": False,
        "price list": True,
        "provisioning sync": True,
        "not a tenant yet": True,
    }
    assert "customer, not a reseller" in failed(result, "reseller account")["reason"]


def test_account_not_enabled_for_ordering(root, engine, cli):
    add_account(engine, ordering=False, sync=SYNCED)
    import_list(engine)
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    assert [c["passed"] for c in result["checks"]] == [False, True, True, True]
    assert "not enabled for ordering" in failed(result, "reseller account")["reason"]


def test_price_list_missing(root, engine, cli):
    add_account(engine, sync=SYNCED)
    result = cli.json("checklist", "ACME", "--price-list", "Nope", expect=3)
    assert outcome(result) == {
        "reseller account": True,
        "price list": False,
        "provisioning sync": False,
        "not a tenant yet": True,
    }
    check = failed(result, "price list")
    assert "no price list 'Nope'" in check["reason"]
    assert "pricelist import" in check["fix"]


def test_price_list_without_a_revision_is_empty(root, engine, cli):
    add_account(engine, sync=SYNCED)
    add_empty_list(engine)
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    assert outcome(result)["price list"] is False
    assert "is empty" in failed(result, "price list")["reason"]
    # Nothing listed needs a sync, so that check alone would pass.
    assert outcome(result)["provisioning sync"] is True


def test_price_list_in_another_currency(root, engine, cli):
    add_account(engine, currency="USD", sync=SYNCED)
    import_list(engine, currency="EUR")
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    assert [c["passed"] for c in result["checks"]] == [True, False, True, True]
    check = failed(result, "price list")
    assert "EUR" in check["reason"] and "USD" in check["reason"]
    assert "USD" in check["fix"]


@pytest.mark.parametrize(
    ("sync", "missing"),
    [
        ({"acronis": "synced"}, ["oss"]),
        ({"oss": "synced"}, ["acronis"]),
        ({}, ["acronis", "oss"]),
        ({"oss": "pending", "acronis": "synced"}, ["oss"]),
        ({"oss": "synced", "acronis": "failed"}, ["acronis"]),
        ({"oss": "synced", "acronis": "synced", "microsoft": "pending"}, []),
    ],
    ids=[
        "oss-missing",
        "acronis-missing",
        "both-missing",
        "oss-pending",
        "acronis-failed",
        "microsoft-needs-none",
    ],
)
def test_provisioning_sync(root, engine, cli, sync, missing):
    add_account(engine, sync=sync)
    import_list(engine)
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3 if missing else 0)
    if not missing:
        assert outcome(result)["provisioning sync"] is True
        return
    assert [c["passed"] for c in result["checks"]] == [True, True, False, True]
    check = failed(result, "provisioning sync")
    assert check["reason"] == f"ACME is not synced with {', '.join(missing)}"
    fixes = {"oss": "Cloud OSS", "acronis": "Acronis portal"}
    assert all(fixes[p] in check["fix"] for p in missing)


@pytest.mark.parametrize(
    "platforms", [("microsoft",), ("panda",), ("microsoft", "panda"), ("other",)]
)
def test_platforms_that_need_no_sync(root, engine, cli, platforms):
    add_account(engine)  # no sync record at all
    import_list(engine, platforms)
    result = cli.json("checklist", "ACME", "--price-list", PL)
    assert result["passed"] is True
    assert result["checks"][2]["reason"] == "no platform of the price list needs a sync"


def test_only_products_still_listed_need_a_sync(root, engine, cli):
    add_account(engine)
    import_list(engine, ("microsoft", "oss"))
    cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    import_list(engine, ("microsoft",))  # the OSS product is discontinued
    assert cli.json("checklist", "ACME", "--price-list", PL)["passed"] is True
    import_list(engine, ("microsoft", "acronis"))
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    assert failed(result, "provisioning sync")["reason"] == "ACME is not synced with acronis"


def test_already_a_tenant_reseller(root, engine, cli):
    account_id = add_account(engine, sync=SYNCED)
    import_list(engine)
    add_tenant(engine, account_id)
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    assert [c["passed"] for c in result["checks"]] == [True, True, True, False]
    check = failed(result, "not a tenant yet")
    assert "already a tenant reseller" in check["reason"]
    assert "tenant show ACME" in check["fix"]


def test_every_failure_is_reported_at_once(root, engine, cli):
    account_id = add_account(engine, kind="customer", currency="USD", sync={"oss": "pending"})
    import_list(engine)
    add_tenant(engine, account_id)
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    assert [c["passed"] for c in result["checks"]] == [False, False, False, False]


def test_require_checklist_raises_exit_3_naming_every_failed_check(root, engine):
    add_account(engine, ordering=False)
    import_list(engine)
    with read_session(engine) as session:
        result = run_checklist(session, root_org(session), "ACME", PL)
    assert result.passed is False
    with pytest.raises(CheckFailed) as raised:
        require_checklist(result)
    assert raised.value.exit_code == 3
    assert "reseller account" in str(raised.value)
    assert "provisioning sync" in str(raised.value)
    assert "price list:" not in str(raised.value)


def test_checklist_without_a_root_org_exits_1(cli):
    result = cli("checklist", "ACME", "--price-list", PL, expect=1)
    assert "root organisation" in result.stderr


def test_checklist_needs_the_price_list_option(root, cli):
    result = cli("checklist", "ACME", expect=2)
    assert "--price-list" in result.stderr


def test_human_output_of_a_failing_checklist(root, engine, cli, snapshot):
    add_account(engine, "GAMMA", sync={"oss": "pending"})
    import_list(engine)
    result = cli("checklist", "GAMMA", "--price-list", PL, expect=3, env={"COLUMNS": "120"})
    snapshot.assert_match(
        f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}", "checklist_gamma.txt"
    )


def test_human_output_of_a_passing_checklist(root, engine, cli):
    add_account(engine, sync=SYNCED)
    import_list(engine)
    result = cli("checklist", "ACME", "--price-list", PL)
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        f"PASS {name}" for name in CHECKS
    ]
    assert "ACME is ready to become a tenant reseller." in result.stderr


def import_scheduled(engine, platforms, effective) -> None:
    rows = [
        PriceRow(f"{p.upper()}-1", f"{p} product", p, "monthly", Decimal("9.99")) for p in platforms
    ]
    with write_session(engine) as session:
        import_price_list(session, root_org(session), PL, rows, effective=effective)


def test_a_revision_scheduled_later_is_not_checked_yet(root, engine, cli):
    """A tenant made today gets the revision in effect today (issue 10 item 7): the
    checklist counts and checks that one, not one that takes effect in 30 days."""
    add_account(engine)  # synced with nothing
    import_list(engine, ("microsoft",))
    import_scheduled(engine, ("microsoft", "oss"), date.today() + timedelta(days=30))
    result = cli.json("checklist", "ACME", "--price-list", PL)
    assert result["passed"] is True
    reasons = [c["reason"] for c in result["checks"]]
    assert "revision 1" in reasons[1]
    assert reasons[2] == "no platform of the price list needs a sync"


def test_a_list_whose_only_revision_is_scheduled_later_is_not_ready(root, engine, cli):
    add_account(engine)
    with write_session(engine) as session:
        import_price_list(
            session,
            root_org(session),
            PL,
            [PriceRow("MS-1", "m", "microsoft", "monthly", Decimal("1"))],
            currency="EUR",
            effective=date.today() + timedelta(days=30),
        )
    result = cli.json("checklist", "ACME", "--price-list", PL, expect=3)
    check = failed(result, "price list")
    assert "no revision in effect yet" in check["reason"]

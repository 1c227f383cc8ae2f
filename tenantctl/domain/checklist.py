"""The preparation checklist a reseller passes before it becomes a tenant (SPEC section 2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import exists, select
from sqlmodel import Session

from tenantctl import config
from tenantctl.domain.catalogue import latest_revision, revision_in_effect
from tenantctl.errors import CheckFailed
from tenantctl.store.models import (
    Account,
    Organisation,
    PriceList,
    PriceListItem,
    Product,
    SyncRecord,
    TenantReseller,
)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    reason: str
    fix: str | None = None


@dataclass(frozen=True)
class ChecklistResult:
    account: str
    price_list: str
    passed: bool
    checks: list[Check]


def run_checklist(
    session: Session,
    org: Organisation,
    account_code: str,
    price_list_name: str,
    *,
    creating: int | None = None,
) -> ChecklistResult:
    """Run every check of the preparation checklist; a failed check never stops the others.

    CREATING is the tenant reseller being created right now (its own row is not "already
    a tenant" when its creation process re-checks).
    """
    account = (
        session.execute(
            select(Account).where(Account.org_id == org.id, Account.code == account_code)
        )
        .scalars()
        .first()
    )
    price_list = (
        session.execute(
            select(PriceList).where(PriceList.org_id == org.id, PriceList.name == price_list_name)
        )
        .scalars()
        .first()
    )
    checks = [
        _check_account(org, account_code, account),
        _check_price_list(session, price_list_name, price_list, account),
        _check_sync(session, account, price_list),
        _check_not_tenant(session, account_code, account, creating),
    ]
    return ChecklistResult(account_code, price_list_name, all(c.passed for c in checks), checks)


def require_checklist(result: ChecklistResult) -> None:
    """Raise CheckFailed (exit 3) naming every failed check."""
    failed = [c for c in result.checks if not c.passed]
    if failed:
        lines = "; ".join(f"{c.name}: {c.reason}" for c in failed)
        raise CheckFailed(f"the preparation checklist failed for {result.account}: {lines}")


def _check_account(org: Organisation, code: str, account: Account | None) -> Check:
    name = "reseller account"
    if account is None:
        return Check(
            name,
            False,
            f"no account {code!r} in {org.name}",
            f"create the reseller as an account in {org.name}",
        )
    if account.kind != "reseller":
        return Check(
            name,
            False,
            f"{code} is a {account.kind}, not a reseller",
            "make the account a reseller",
        )
    if not account.ordering_enabled:
        return Check(
            name, False, f"{code} is not enabled for ordering", "enable ordering on the account"
        )
    return Check(name, True, f"{code} is a reseller enabled for ordering")


def _check_price_list(
    session: Session, name: str, price_list: PriceList | None, account: Account | None
) -> Check:
    check = "price list"
    if price_list is None:
        return Check(
            check,
            False,
            f"no price list {name!r}",
            "import it first: tenantctl pricelist import NAME FILE.csv --currency C",
        )
    revision = revision_in_effect(session, price_list.id, date.today())
    if revision is None and latest_revision(session, price_list.id):
        return Check(
            check,
            False,
            f"price list {name!r} has no revision in effect yet (its first takes effect later)",
            "wait for its effective date, or import it without --effective",
        )
    listed = (
        revision is not None
        and session.execute(select(exists().where(_in_revision(price_list.id, revision)))).scalar()
    )
    if not listed:
        return Check(
            check,
            False,
            f"price list {name!r} is empty",
            "import its products: tenantctl pricelist import NAME FILE.csv",
        )
    if account is not None and account.currency != price_list.currency:
        return Check(
            check,
            False,
            f"price list {name!r} is in {price_list.currency} but {account.code} "
            f"is billed in {account.currency}",
            f"choose a price list in {account.currency}",
        )
    return Check(check, True, f"{name!r} revision {revision} in {price_list.currency}")


def _check_sync(session: Session, account: Account | None, price_list: PriceList | None) -> Check:
    check = "provisioning sync"
    if account is None or price_list is None:
        return Check(
            check,
            False,
            "cannot be checked without the account and the price list",
            "fix the checks above first",
        )
    platforms = config.platforms()
    # The platforms of the revision a tenant made today gets (a revision scheduled later
    # is not checked yet); SQL reads them, the list may be 50k items long.
    revision = revision_in_effect(session, price_list.id, date.today()) or 0
    present = sorted(
        session.execute(
            select(Product.platform)
            .distinct()
            .join(PriceListItem, PriceListItem.product_id == Product.id)
            .where(_in_revision(price_list.id, revision))
        ).scalars()
    )
    synced = set(
        session.execute(
            select(SyncRecord.platform).where(
                SyncRecord.account_id == account.id, SyncRecord.status == "synced"
            )
        ).scalars()
    )
    missing = [
        p for p in present if platforms.get(p) and platforms[p].needs_sync and p not in synced
    ]
    if missing:
        return Check(
            check,
            False,
            f"{account.code} is not synced with {', '.join(missing)}",
            "; ".join(platforms[p].fix for p in missing),
        )
    needing = [p for p in present if platforms.get(p) and platforms[p].needs_sync]
    reason = (
        f"synced with {', '.join(needing)}"
        if needing
        else "no platform of the price list needs a sync"
    )
    return Check(check, True, reason)


def _check_not_tenant(
    session: Session, code: str, account: Account | None, creating: int | None
) -> Check:
    check = "not a tenant yet"
    if account is None:
        return Check(check, False, f"no account {code!r}", "fix the checks above first")
    tenant = (
        session.execute(select(TenantReseller).where(TenantReseller.account_id == account.id))
        .scalars()
        .first()
    )
    if tenant is not None and tenant.id != creating:
        fix = (
            "nothing to do: see tenantctl tenant show " + code
            if tenant.status != "in-progress"
            else _creation_fix(code, tenant.creation_process_id)
        )
        return Check(check, False, f"{code} is already a tenant reseller ({tenant.status})", fix)
    return Check(check, True, f"{code} is not a tenant reseller")


def _creation_fix(code: str, process_id: int | None) -> str:
    process = f"process {process_id}" if process_id is not None else "its process"
    ref = process_id if process_id is not None else "ID"
    return (
        f"its creation is {process} (`tenantctl process list`): a stopped one is "
        f"resumed by `tenantctl process retry {ref}` or dropped by "
        f"`tenantctl tenant discard {code}`"
    )


def _in_revision(price_list_id: int, revision: int):
    """The items of PRICE_LIST_ID listed in REVISION."""
    return (
        (PriceListItem.price_list_id == price_list_id)
        & (PriceListItem.from_revision <= revision)
        & (PriceListItem.to_revision.is_(None) | (PriceListItem.to_revision > revision))
    )

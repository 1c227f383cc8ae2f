"""Accounts of an organisation: customers and resellers with their pricing options and
contacts, created and changed with the same rules in every org."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from tenantctl.domain import fields, outbox
from tenantctl.domain.fields import ACCOUNT_KINDS, PAYMENT_METHODS  # noqa: F401 (their home)
from tenantctl.domain.orgs import get_account, get_price_list
from tenantctl.errors import BadInput, Conflict, NotFound, Refused
from tenantctl.store.models import (
    Account,
    Contact,
    Organisation,
    PriceList,
    SyncRecord,
    TenantReseller,
)


@dataclass(frozen=True)
class _AccountBasics:
    """What an account's list row and its detail both begin with (in this order: the
    order of the JSON keys)."""

    code: str
    name: str
    kind: str
    bill_to: str | None
    ordering_enabled: bool
    currency: str
    country: str


@dataclass(frozen=True)
class AccountView(_AccountBasics):
    price_list: str | None


@dataclass(frozen=True)
class AccountDetail(_AccountBasics):
    accounting_number: str | None
    email: str | None
    billing_address: str | None
    price_list: str | None
    billing_day: int
    payment_method: str
    credit_limit: Decimal | None
    invoicing_options: str | None
    separate_invoices: bool
    contacts: list[dict]
    sync: list[dict]
    # A back-ordering record: the tenant reseller (its account code) whose BSS manages
    # the account, and that tenant's back-ordering state.
    managed_by: str | None = None
    backorder_state: str | None = None


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def list_accounts(
    session: Session, org: Organisation, *, kind: str | None = None, bill_to: str | None = None
) -> list[AccountView]:
    """The accounts of ORG ordered by code (optionally of one kind or billed to one reseller)."""
    reseller = aliased(Account)
    stmt = (
        select(
            Account.code,
            Account.name,
            Account.kind,
            reseller.code.label("bill_to"),
            Account.ordering_enabled,
            Account.currency,
            Account.country,
            PriceList.name.label("price_list"),
        )
        .outerjoin(reseller, reseller.id == Account.bill_to_id)
        .outerjoin(PriceList, PriceList.id == Account.price_list_id)
        .where(Account.org_id == org.id)
        .order_by(Account.code)
    )
    if kind:
        stmt = stmt.where(Account.kind == kind)
    if bill_to:
        get_account(session, org, bill_to)  # an unknown code is an error, not "none"
        stmt = stmt.where(reseller.code == bill_to)
    return [AccountView(*r) for r in session.execute(stmt)]


def account_detail(session: Session, org: Organisation, code: str) -> AccountDetail:
    """One account of ORG with its contacts, pricing options and provisioning sync records."""
    a = get_account(session, org, code)
    bill_to = session.get(Account, a.bill_to_id).code if a.bill_to_id else None
    price_list = session.get(PriceList, a.price_list_id).name if a.price_list_id else None
    contacts = [
        dict(r._mapping)
        for r in session.execute(
            select(Contact.name, Contact.email, Contact.phone, Contact.role)
            .where(Contact.account_id == a.id)
            .order_by(Contact.id)
        )
    ]
    sync = [
        dict(r._mapping)
        for r in session.execute(
            select(SyncRecord.platform, SyncRecord.status, SyncRecord.external_id)
            .where(SyncRecord.account_id == a.id)
            .order_by(SyncRecord.platform)
        )
    ]
    managed_by = backorder_state = None
    if a.managed_by_org_id is not None:
        reseller = aliased(Account)
        row = session.execute(
            select(reseller.code, TenantReseller.backorder_state)
            .join(TenantReseller, TenantReseller.account_id == reseller.id)
            .where(TenantReseller.org_id == a.managed_by_org_id)
        ).first()
        if row is not None:
            managed_by, backorder_state = row
    return AccountDetail(
        a.code,
        a.name,
        a.kind,
        bill_to,
        a.ordering_enabled,
        a.currency,
        a.country,
        a.accounting_number,
        a.email,
        a.billing_address,
        price_list,
        a.billing_day,
        a.payment_method,
        a.credit_limit,
        a.invoicing_options,
        a.separate_invoices,
        contacts,
        sync,
        managed_by,
        backorder_state,
    )


# --- creating and changing accounts ------------------------------------------------------

_CONTACT = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<\s*(?P<email>[^<>\s]+)\s*>\s*$")


@dataclass(frozen=True)
class NewAccount:
    """What `account create` asks for; None means "the default"."""

    code: str
    name: str
    kind: str = "customer"
    bill_to: str | None = None
    currency: str | None = None
    country: str | None = None
    email: str | None = None
    accounting_number: str | None = None
    billing_address: str | None = None
    ordering_enabled: bool = True
    price_list: str | None = None  # the price list it is priced from, in its currency


@dataclass(frozen=True)
class AccountChanges:
    """What `account set` asks to change; None leaves a field as it is.

    For the optional fields (email, billing address, accounting number, price list, credit
    limit, invoicing options) an empty text clears the value.
    """

    name: str | None = None
    email: str | None = None
    billing_address: str | None = None
    accounting_number: str | None = None
    ordering_enabled: bool | None = None
    price_list: str | None = None
    billing_day: int | str | None = None  # str: the option as written
    payment_method: str | None = None
    credit_limit: str | None = None
    invoicing_options: str | None = None
    separate_invoices: bool | None = None
    add_contacts: tuple[str, ...] = ()
    remove_contacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountChange:
    """An account after `account set`, and the fields that changed (empty: nothing did)."""

    account: AccountDetail
    changed: list[str]


@dataclass(frozen=True)
class ManagingTenant:
    """The tenant reseller that manages a back-ordering record (SPEC section 5)."""

    reseller: str
    client_id: str | None  # None when the tenant org is not visible from the session
    phase: str
    backorder_state: str

    def where(self, command: str) -> str:
        """How to do COMMAND in the tenant's BSS instead."""
        org = self.client_id or "TENANT_CLIENT_ID"
        return f"tenantctl --org {org} {command}"


def managing_tenant(session: Session, account: Account) -> ManagingTenant | None:
    """The tenant reseller that manages ACCOUNT (None when the account is not managed)."""
    if account.managed_by_org_id is None:
        return None
    tenant = (
        session.execute(
            select(TenantReseller).where(TenantReseller.org_id == account.managed_by_org_id)
        )
        .scalars()
        .first()
    )
    org = session.get(Organisation, account.managed_by_org_id)
    reseller = session.get(Account, tenant.account_id) if tenant is not None else None
    return ManagingTenant(
        reseller=reseller.code if reseller is not None else "(unknown)",
        client_id=org.client_id if org is not None else None,
        phase=tenant.phase if tenant is not None else "live",
        # without its tenant row nothing says it is still lite: treat it as live
        backorder_state=tenant.backorder_state if tenant is not None else "on",
    )


def parse_contact(text: str) -> tuple[str, str]:
    """`Name <email>` -> (name, email); BadInput naming --add-contact otherwise."""
    match = _CONTACT.match(text or "")
    if not match or not match["name"]:
        raise BadInput(f'--add-contact: {text!r} is not written "Name <email>"')
    name = fields.option(
        "--add-contact", fields.text, match["name"], fields.length(Contact, "name")
    )
    email = fields.option(
        "--add-contact", fields.email, match["email"], fields.length(Contact, "email")
    )
    return name, email


def check_price_list_currency(code: str, currency: str, price_list: PriceList) -> None:
    """An account (CODE, billed in CURRENCY) is priced only from a price list in its own
    currency."""
    if price_list.currency != currency:
        raise BadInput(
            f"--price-list: {price_list.name!r} is in {price_list.currency}, but "
            f"account {code} is billed in {currency} (choose a {currency} price list)"
        )


def create_account(session: Session, org: Organisation, new: NewAccount) -> AccountDetail:
    """Create an account in ORG: a customer or a reseller, in ORG's currency and country
    unless told otherwise (a sub-customer: in its reseller's currency)."""
    problems: list[str] = []
    fields.collect(problems, "CODE", fields.code, new.code)
    name = _clean_text(new.name, "--name", Account, "name", problems, required=True)
    fields.collect(problems, "--kind", fields.choice, new.kind, fields.ACCOUNT_KINDS)
    bill_to = None
    if new.bill_to is not None:
        bill_to = _bill_to(session, org, new.bill_to, new.code, problems)
    default_currency = bill_to.currency if bill_to is not None else org.currency
    currency = _checked(fields.currency, new.currency, default_currency, "--currency", problems)
    country = _checked(fields.country, new.country, org.country, "--country", problems)
    if bill_to is not None and currency and currency != bill_to.currency:
        problems.append(
            f"--currency: {new.code} is billed to {bill_to.code}, which is billed "
            f"in {bill_to.currency}, not {currency}"
        )
    email = _optional_email(new.email, "--email", problems)
    accounting = _clean_text(
        new.accounting_number, "--accounting-number", Account, "accounting_number", problems
    )
    address = _clean_text(
        new.billing_address, "--billing-address", Account, "billing_address", problems
    )
    price_list = None
    if new.price_list is not None and not problems:
        price_list = get_price_list(session, org, new.price_list)
        try:
            check_price_list_currency(new.code, currency, price_list)
        except BadInput as exc:
            problems.append(str(exc))
    if problems:
        raise BadInput("bad account options; nothing was created", problems)
    if session.execute(
        select(Account.id).where(Account.org_id == org.id, Account.code == new.code)
    ).first():
        raise Conflict(
            f"account {new.code} already exists in {org.name} (change it with "
            f"tenantctl account set {new.code})"
        )
    session.add(
        Account(
            org_id=org.id,
            code=new.code,
            name=name,
            kind=new.kind,
            bill_to_id=bill_to.id if bill_to is not None else None,
            ordering_enabled=new.ordering_enabled,
            currency=currency,
            country=country,
            email=email or None,
            accounting_number=accounting or None,
            billing_address=address or None,
            price_list_id=price_list.id if price_list is not None else None,
        )
    )
    session.flush()
    return account_detail(session, org, new.code)


def update_account(
    session: Session, org: Organisation, code: str, changes: AccountChanges
) -> AccountChange:
    """Change an account's details, pricing options and contacts; all or nothing.

    An account the root org keeps as a back-ordering record (managed by a tenant reseller)
    keeps its name, e-mail, addresses, accounting number and contacts in step with the
    tenant: those are changed there; its pricing options stay the parent's to set.
    """
    account = get_account(session, org, code)
    if changes == AccountChanges():
        raise BadInput(
            f"account set {code}: nothing to change (give at least one option; "
            "see tenantctl account set --help)"
        )
    problems: list[str] = []
    wanted: dict[str, object] = {}
    if changes.name is not None:
        wanted["name"] = _clean_text(
            changes.name, "--name", Account, "name", problems, required=True
        )
    if changes.email is not None:
        wanted["email"] = _optional_email(changes.email, "--email", problems) or None
    for fld, option in (
        ("billing_address", "--billing-address"),
        ("accounting_number", "--accounting-number"),
        ("invoicing_options", "--invoicing-options"),
    ):
        value = getattr(changes, fld)
        if value is not None:
            wanted[fld] = _clean_text(value, option, Account, fld, problems) or None
    if changes.ordering_enabled is not None:
        wanted["ordering_enabled"] = changes.ordering_enabled
    if changes.separate_invoices is not None:
        wanted["separate_invoices"] = changes.separate_invoices
    if changes.billing_day is not None:
        wanted["billing_day"] = fields.collect(
            problems, "--billing-day", fields.billing_day, changes.billing_day
        )
    if changes.payment_method is not None:
        wanted["payment_method"] = fields.collect(
            problems,
            "--payment-method",
            fields.choice,
            changes.payment_method,
            fields.PAYMENT_METHODS,
        )
    if changes.credit_limit is not None:
        wanted["credit_limit"] = None
        if changes.credit_limit.strip():
            wanted["credit_limit"] = fields.collect(
                problems, "--credit-limit", fields.amount, changes.credit_limit
            )
    if changes.price_list is not None:
        wanted["price_list_id"] = None
        if changes.price_list.strip():
            price_list = get_price_list(session, org, changes.price_list)
            try:
                check_price_list_currency(account.code, account.currency, price_list)
            except BadInput as exc:
                problems.append(str(exc))
            wanted["price_list_id"] = price_list.id
    contacts = [parse_contact(text) for text in changes.add_contacts]
    removed = [
        fields.option("--remove-contact", fields.email, e, fields.length(Contact, "email"))
        for e in changes.remove_contacts
    ]
    if problems:
        raise BadInput(f"bad options for account {code}; nothing was changed", problems)
    _refuse_locked_fields(session, account, wanted, bool(contacts or removed))

    changed = [fld for fld, value in wanted.items() if getattr(account, fld) != value]
    for fld in changed:
        setattr(account, fld, wanted[fld])
    changed += _change_contacts(session, account, contacts, removed)
    session.flush()
    outbox.record_customer_change(session, org, account, changed)
    return AccountChange(
        account_detail(session, org, code),
        ["price_list" if fld == "price_list_id" else fld for fld in changed],
    )


# Fields a tenant reseller keeps in step for the back-ordering records of its customers.
_LOCKED_WHEN_MANAGED = ("name", "email", "billing_address", "accounting_number")


def _refuse_locked_fields(session: Session, account: Account, wanted: dict, contacts: bool) -> None:
    tenant = managing_tenant(session, account)
    if tenant is None:
        return
    locked = [f for f in _LOCKED_WHEN_MANAGED if f in wanted and getattr(account, f) != wanted[f]]
    if contacts:
        locked.append("contacts")
    if locked:
        verb = "are" if len(locked) > 1 or locked == ["contacts"] else "is"
        raise Refused(
            f"account {account.code} is managed by tenant reseller {tenant.reseller} "
            f"(a back-ordering record): its {_and(locked)} {verb} changed in the "
            "tenant's BSS "
            f"({tenant.where(f'account set {account.code} ...')}); "
            "here only its pricing options and ordering"
        )


def _change_contacts(
    session: Session, account: Account, added: list[tuple[str, str]], removed: list[str]
) -> list[str]:
    existing = {
        (c.email or "").lower(): c
        for c in session.execute(select(Contact).where(Contact.account_id == account.id)).scalars()
    }
    missing = [e for e in removed if e.lower() not in existing]
    if missing:
        raise NotFound(
            f"--remove-contact: account {account.code} has no contact "
            f"{', '.join(missing)}; nothing was changed"
        )
    changed = False
    for email in removed:
        contact = existing.pop(email.lower(), None)
        if contact is not None:
            session.delete(contact)
            changed = True
    for name, email in added:
        contact = existing.get(email.lower())
        if contact is None:
            contact = Contact(account_id=account.id, name=name, email=email)
            session.add(contact)
            existing[email.lower()] = contact
            changed = True
        elif contact.name != name:
            contact.name = name
            changed = True
    return ["contacts"] if changed else []


def _bill_to(
    session: Session, org: Organisation, code: str, own_code: str, problems: list[str]
) -> Account | None:
    if code == own_code:
        problems.append(f"--bill-to: an account cannot be billed to itself ({code})")
        return None
    try:
        reseller = get_account(session, org, code)
    except NotFound:
        problems.append(f"--bill-to: account {code!r} not found in {org.name}")
        return None
    if reseller.kind != "reseller":
        problems.append(
            f"--bill-to: {code} is a {reseller.kind}, not a reseller (a customer "
            "is billed to a reseller account)"
        )
        return None
    return reseller


def _checked(check, value: str | None, default: str, option: str, problems: list[str]) -> str:
    if value is None:
        return default
    try:
        return check(value)
    except ValueError as exc:
        problems.append(f"{option}: {exc}")
        return default


def _clean_text(
    value: str | None,
    option: str,
    model,
    column: str,
    problems: list[str],
    *,
    required: bool = False,
) -> str | None:
    if value is None:
        return None
    note = column == "billing_address"
    return fields.collect(
        problems,
        option,
        fields.text,
        value,
        fields.length(model, column),
        required=required,
        note=note,
        default=value.strip(),
    )


def _optional_email(value: str | None, option: str, problems: list[str]) -> str | None:
    if value is None or not value.strip():
        return value.strip() if value is not None else None
    return fields.collect(problems, option, fields.email, value, fields.length(Account, "email"))

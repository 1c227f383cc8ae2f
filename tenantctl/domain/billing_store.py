"""Billing the tenant reseller, the store's part (SPEC section 8): read the mirrors, their
quantity history and the price list into the pure rules of `domain/billing.py`, and record
what is issued, once per (reseller, cycle), numbered gap-free from one counter per org.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy.exc
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session

from tenantctl import config
from tenantctl.domain import billing
from tenantctl.domain.billing import Billable, Change, Cycle, Draft, Issued, IssuedCycle
from tenantctl.domain.orgs import current_org
from tenantctl.domain.pricing import today
from tenantctl.errors import BatchFailed, NotFound, Refused, TenantctlError
from tenantctl.store.engine import advisory_lock, read_session, write_session
from tenantctl.store.models import (
    Account,
    Asset,
    BillingCycle,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
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
from tenantctl.words import plural

# Scope of the advisory lock that serialises the invoice runs of one org (PostgreSQL).
BILLING_LOCK = 8_008


# --- what the CLI shows ---------------------------------------------------------------


@dataclass(frozen=True)
class LineView:
    customer: str
    customer_name: str
    subject: str
    subscription: str
    sku: str
    product: str
    unit: str | None
    quantity: int
    charged: str
    unit_price: Decimal
    amount: Decimal
    kind: str
    period: str
    revision: int | None
    note: str | None
    corrects: str | None


def _line_view(x) -> LineView:
    """A line as the CLI shows it, from a drafted line or a stored one (same field names)."""
    return LineView(
        x.customer_code,
        x.customer_name,
        x.subject,
        x.subject_code,
        x.sku,
        x.product_name,
        x.unit,
        x.quantity,
        x.charged,
        x.unit_price,
        x.amount,
        x.kind,
        x.period,
        x.revision,
        x.note or None,
        x.corrects,
    )


@dataclass(frozen=True)
class SubtotalView:
    customer: str
    customer_name: str
    amount: Decimal


@dataclass(frozen=True)
class InvoiceView:
    number: str | None  # None in a preview
    kind: str  # invoice | credit-note
    reseller: str
    reseller_name: str
    customer: str | None  # a separate invoice's end customer
    period: str
    cycle_start: date
    cycle_end: date
    currency: str
    issued_on: date | None
    total: Decimal
    subtotals: list[SubtotalView]
    lines: list[LineView]


@dataclass(frozen=True)
class CycleResult:
    """A cycle of one reseller: previewed, issued now, or issued before."""

    reseller: str
    period: str
    cycle_start: date
    cycle_end: date
    status: str  # preview | issued | already-issued
    message: str
    invoices: list[InvoiceView]


@dataclass(frozen=True)
class BatchResult:
    period: str
    results: list[CycleResult]
    failures: list[dict]


@dataclass(frozen=True)
class InvoiceSummary:
    number: str
    kind: str
    reseller: str
    customer: str | None
    period: str
    issued_on: date
    currency: str
    total: Decimal
    lines: int


# --- reading the inputs ---------------------------------------------------------------


def _zone(org: Organisation) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(org.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Reseller:
    account: Account
    tenant: TenantReseller


def find_reseller(session: Session, org: Organisation, code: str) -> Reseller:
    """The tenant reseller of ORG whose reseller account is CODE."""
    row = session.execute(
        select(Account, TenantReseller)
        .join(TenantReseller, TenantReseller.account_id == Account.id)
        .where(
            Account.org_id == org.id, Account.code == code, TenantReseller.parent_org_id == org.id
        )
    ).first()
    if row is None:
        raise NotFound(
            f"no tenant reseller {code!r} in {org.name} (give the reseller account's code)"
        )
    account, tenant = row
    if tenant.org_id is None or tenant.status != "active":
        raise Refused(
            f"{code}'s tenant has not been created yet (its creation has not "
            "finished): there is nothing to bill"
        )
    return Reseller(account, tenant)


def price_book(
    session: Session, org: Organisation, reseller: Reseller, product_ids: set[int]
) -> billing.PriceBook:
    """The reseller's price list in ORG, every revision, the items of PRODUCT_IDS: its
    account's price list, or else the list its tenant was made from (as back-ordering
    prices the orders)."""
    account = reseller.account
    price_list = session.get(PriceList, account.price_list_id or reseller.tenant.price_list_id)
    if price_list.currency != account.currency:
        raise Refused(
            f"account {account.code} is billed in {account.currency} but its price "
            f"list {price_list.name!r} is in {price_list.currency}: a reseller is "
            "invoiced in its own currency"
        )
    zone = _zone(org)
    revisions = tuple(
        billing.Revision(
            r.number,
            r.effective_date or _aware(r.created_at).astimezone(zone).date(),
            _aware(r.created_at),
        )
        for r in session.execute(
            select(PriceListRevision).where(PriceListRevision.price_list_id == price_list.id)
        ).scalars()
    )
    items: list[billing.PriceItem] = []
    ids = sorted(product_ids)
    for start in range(0, len(ids), 500):
        items += [
            billing.PriceItem(i.product_id, i.unit, i.price, i.from_revision, i.to_revision)
            for i in session.execute(
                select(PriceListItem).where(
                    PriceListItem.price_list_id == price_list.id,
                    PriceListItem.product_id.in_(ids[start : start + 500]),
                )
            ).scalars()
        ]
    return billing.PriceBook(price_list.name, price_list.currency, revisions, tuple(items))


def billables(session: Session, org: Organisation, reseller: Reseller) -> list[Billable]:
    """The mirrors of the reseller's tenant in ORG (subscriptions, each add-on on its own,
    assets) with their quantity history, whatever made them (lite upgrade or delivery)."""
    customers = {
        a.id: a
        for a in session.execute(
            select(Account).where(
                Account.org_id == org.id,
                Account.bill_to_id == reseller.account.id,
                Account.managed_by_org_id == reseller.tenant.org_id,
            )
        ).scalars()
    }
    if not customers:
        return []
    ids = list(customers)
    subs = list(
        session.execute(
            select(Subscription).where(
                Subscription.org_id == org.id, Subscription.account_id.in_(ids)
            )
        ).scalars()
    )
    assets = list(
        session.execute(
            select(Asset).where(Asset.org_id == org.id, Asset.account_id.in_(ids))
        ).scalars()
    )
    sub_ids = [s.id for s in subs]
    asset_ids = [a.id for a in assets]
    orders = (
        list(
            session.execute(
                select(SalesOrder)
                .where(
                    SalesOrder.org_id == org.id,
                    SalesOrder.subscription_id.in_(sub_ids) | SalesOrder.asset_id.in_(asset_ids),
                )
                .order_by(SalesOrder.order_date, SalesOrder.id)
            ).scalars()
        )
        if subs or assets
        else []
    )
    lines: dict[int, list[OrderLine]] = {}
    if orders:
        for line in session.execute(
            select(OrderLine)
            .where(OrderLine.order_id.in_([o.id for o in orders]))
            .order_by(OrderLine.id)
        ).scalars():
            lines.setdefault(line.order_id, []).append(line)
    add_ons: dict[int, list[SubscriptionAddon]] = {}
    if sub_ids:
        for row in session.execute(
            select(SubscriptionAddon).where(SubscriptionAddon.subscription_id.in_(sub_ids))
        ).scalars():
            add_ons.setdefault(row.subscription_id, []).append(row)
    product_ids = (
        {s.product_id for s in subs}
        | {a.product_id for a in assets}
        | {r.product_id for rows in add_ons.values() for r in rows}
        | {ln.product_id for rows in lines.values() for ln in rows}
    )
    products = (
        {
            p.id: p
            for p in session.execute(select(Product).where(Product.id.in_(product_ids))).scalars()
        }
        if product_ids
        else {}
    )

    out: list[Billable] = []
    by_sub: dict[int, list[SalesOrder]] = {}
    by_asset: dict[int, list[SalesOrder]] = {}
    for order in orders:
        if order.subscription_id is not None:
            by_sub.setdefault(order.subscription_id, []).append(order)
        elif order.asset_id is not None:
            by_asset.setdefault(order.asset_id, []).append(order)

    for sub in subs:
        customer = customers[sub.account_id]
        histories = _subscription_history(
            sub, by_sub.get(sub.id, []), lines, add_ons.get(sub.id, [])
        )
        if histories is None:
            continue
        start, per_product = histories
        for product_id, history in per_product.items():
            product = products[product_id]
            add_on = product_id != sub.product_id
            out.append(
                Billable(
                    f"subscription:{sub.id}:{product_id}",
                    customer.id,
                    customer.code,
                    customer.name,
                    customer.separate_invoices,
                    "subscription",
                    sub.id,
                    sub.code,
                    product_id,
                    product.sku,
                    product.name,
                    product.platform,
                    sub.unit,
                    start,
                    sub.auto_renew or sub.status == "cancelled",
                    tuple(history),
                    add_on,
                )
            )
    for asset in assets:
        customer = customers[asset.account_id]
        product = products[asset.product_id]
        recorded = min((o.created_at for o in by_asset.get(asset.id, [])), default=None)
        out.append(
            Billable(
                f"asset:{asset.id}",
                customer.id,
                customer.code,
                customer.name,
                customer.separate_invoices,
                "asset",
                asset.id,
                asset.code,
                asset.product_id,
                product.sku,
                product.name,
                product.platform,
                None,
                asset.purchase_date,
                False,
                (Change(asset.purchase_date, asset.quantity, _aware(recorded)),),
            )
        )
    return out


def _subscription_history(
    sub: Subscription,
    orders: list[SalesOrder],
    lines: dict[int, list[OrderLine]],
    add_ons: list[SubscriptionAddon],
) -> tuple[date, dict[int, list[Change]]] | None:
    """(first day billed, history per product) of one mirror; None when it is not billed
    (a trial never turned paid)."""
    turned_paid = [o for o in orders if o.order_type == "trial-to-paid"]
    if turned_paid:
        start = turned_paid[0].order_date
        orders = [o for o in orders if o.order_date >= start]
    elif not sub.paid:
        return None
    else:
        start = sub.start_date
    per_product: dict[int, list[Change]] = {}
    if not orders:
        # A mirror made at a lite upgrade, never changed since: today's quantities from its
        # start date.
        if sub.status == "cancelled":
            return None
        per_product[sub.product_id] = [Change(start, sub.quantity)]
        for row in add_ons:
            per_product[row.product_id] = [Change(start, row.quantity)]
        return start, per_product
    opened = orders[0].order_type in ("new", "trial-to-paid")
    before: dict[int, int] = {}  # per product, the quantity before its first change
    for order in orders:
        for line in lines.get(order.id, []):
            after = line.quantity_after if line.quantity_after is not None else line.quantity
            # A cancel line names the quantity cancelled (what was in force before it).
            before.setdefault(
                line.product_id, line.quantity if order.order_type == "cancel" else after
            )
            per_product.setdefault(line.product_id, []).append(
                Change(order.order_date, after, _aware(order.created_at))
            )
    if not opened:
        # Changed after a lite upgrade, which recorded no order: before its first recorded
        # change, the quantity a cancellation names, else the first one recorded (the
        # store keeps no older one); a product no order names: today's quantity.
        for product_id, history in per_product.items():
            history.insert(0, Change(start, before[product_id]))
        current = {sub.product_id: sub.quantity, **{r.product_id: r.quantity for r in add_ons}}
        for product_id, quantity in current.items():
            per_product.setdefault(product_id, [Change(start, quantity)])
    for order in orders:
        if order.order_type == "cancel":
            # A cancellation ends the add-ons with the subscription.
            for product_id, history in per_product.items():
                if product_id != sub.product_id:
                    history.append(Change(order.order_date, 0, _aware(order.created_at)))
    return start, per_product


def _issued(
    session: Session, account: Account
) -> tuple[list[IssuedCycle], dict[tuple[str, str], Issued]]:
    cycles = [
        IssuedCycle(Cycle(c.period, c.start_date, c.end_date), _aware(c.issued_at))
        for c in session.execute(
            select(BillingCycle)
            .where(BillingCycle.account_id == account.id)
            .order_by(BillingCycle.period)
        ).scalars()
    ]
    rows = session.execute(
        select(
            InvoiceLine.item_key,
            InvoiceLine.period,
            InvoiceLine.amount,
            InvoiceLine.kind,
            Invoice.number,
            Invoice.customer_id,
        )
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(Invoice.account_id == account.id)
        .order_by(Invoice.id, InvoiceLine.position)
    ).all()
    issued: dict[tuple[str, str], Issued] = {}
    for key, period, amount, _kind, number, customer_id in rows:
        old = issued.get((key, period))
        if old is None:
            issued[(key, period)] = Issued(amount, number, customer_id is not None)
        else:
            issued[(key, period)] = Issued(old.amount + amount, old.invoice, old.separate)
    return cycles, issued


def _drafts(
    session: Session, org: Organisation, reseller: Reseller, cycle: Cycle
) -> tuple[list[Draft], str]:
    items = billables(session, org, reseller)
    book = price_book(session, org, reseller, {i.product_id for i in items})
    windows = config.cancellation_days()
    lines = billing.cycle_lines(items, book, cycle, windows)
    issued_cycles, issued = _issued(session, reseller.account)
    when = {c.cycle.period: c.issued_at for c in issued_cycles}
    lines += billing.adjustment_lines(
        items,
        lambda period: book.as_known_at(when.get(period)),
        [c for c in issued_cycles if c.cycle.period < cycle.period],
        issued,
        windows,
        book.currency,
    )
    return billing.invoices(lines, book.currency), book.currency


def _view(
    reseller: Reseller, cycle: Cycle, draft: Draft, number: str | None, issued_on: date | None
) -> InvoiceView:
    return InvoiceView(
        number,
        draft.kind,
        reseller.account.code,
        reseller.account.name,
        draft.customer_code,
        cycle.period,
        cycle.start,
        cycle.end,
        draft.currency,
        issued_on,
        draft.total,
        [SubtotalView(s.customer_code, s.customer_name, s.amount) for s in draft.subtotals],
        [_line_view(x) for x in draft.lines],
    )


def _cycle_state(
    session: Session, org: Organisation, reseller: Reseller, cycle: Cycle
) -> tuple[BillingCycle | None, str | None]:
    """(the cycle if already issued, why it cannot be issued now, or None)."""
    done = (
        session.execute(
            select(BillingCycle).where(
                BillingCycle.account_id == reseller.account.id, BillingCycle.period == cycle.period
            )
        )
        .scalars()
        .first()
    )
    if done is not None:
        return done, None
    if today(org) <= cycle.end:
        return None, (
            f"cycle {cycle.period} of {reseller.account.code} ({cycle.start} to "
            f"{cycle.end}) has not ended yet in {org.timezone}"
        )
    last = session.execute(
        select(func.max(BillingCycle.period)).where(BillingCycle.account_id == reseller.account.id)
    ).scalar()
    if last is not None and last > cycle.period:
        return None, (
            f"cycles of {reseller.account.code} are issued in order: {last} is "
            f"issued already, {cycle.period} comes before it"
        )
    if last is not None:
        missing = billing.periods_between(
            billing.next_period(last), billing.next_period(cycle.period, -1)
        )
        if missing:
            return None, (
                f"cycles of {reseller.account.code} are issued in order: issue "
                f"{', '.join(missing)} first (the last issued is {last})"
            )
    return None, None


def _reseller_cycle(
    session: Session, org: Organisation, code: str, period: str
) -> tuple[Reseller, billing.Cycle]:
    """Reseller CODE of ORG and its cycle of PERIOD (which its billing day sets)."""
    reseller = find_reseller(session, org, code)
    return reseller, billing.cycle_of(period, reseller.account.billing_day)


def preview(session: Session, org: Organisation, code: str, period: str) -> CycleResult:
    """What `invoice run` would issue to reseller CODE for PERIOD (no number is used)."""
    reseller, cycle = _reseller_cycle(session, org, code, period)
    done, why = _cycle_state(session, org, reseller, cycle)
    if done is not None:
        message = f"cycle {cycle.period} of {code} was issued on {done.issued_at:%Y-%m-%d}"
        return _already_issued(session, code, cycle, done, message)
    drafts, _ = _drafts(session, org, reseller, cycle)
    message = why or f"cycle {cycle.period} of {code} can be issued"
    views = [_view(reseller, cycle, d, None, None) for d in drafts]
    return _cycle_result(code, cycle, "preview", message, views)


def _cycle_result(
    code: str, cycle: billing.Cycle, status: str, message: str, invoices: list[InvoiceView]
) -> CycleResult:
    return CycleResult(code, cycle.period, cycle.start, cycle.end, status, message, invoices)


def _already_issued(
    session: Session, code: str, cycle: billing.Cycle, done: BillingCycle, message: str
) -> CycleResult:
    """The result for a cycle DONE issued before: its invoices as issued."""
    return _cycle_result(code, cycle, "already-issued", message, _issued_views(session, done))


def _next_number(session: Session, org_id: int, series: str, year: int) -> str:
    """The next number of SERIES in the org, in the caller's transaction (gap-free: a
    transaction that does not commit gives its numbers back)."""
    last = session.execute(
        update(InvoiceCounter)
        .where(InvoiceCounter.org_id == org_id, InvoiceCounter.series == series)
        .values(last=InvoiceCounter.last + 1)
        .returning(InvoiceCounter.last)
    ).scalar()
    if last is None:
        session.add(InvoiceCounter(org_id=org_id, series=series, last=1))
        session.flush()
        last = 1
    return f"{series}-{year:04d}-{last:06d}"


def issue(session: Session, org: Organisation, code: str, period: str) -> CycleResult:
    """Issue reseller CODE's invoices for PERIOD in the session's transaction: once per
    (reseller, cycle) under a unique key, cycles in order, only an ended cycle."""
    advisory_lock(session, BILLING_LOCK, org.id)
    reseller, cycle = _reseller_cycle(session, org, code, period)
    done, why = _cycle_state(session, org, reseller, cycle)
    if done is not None:
        message = f"cycle {cycle.period} of {code} was issued already: nothing changes"
        return _already_issued(session, code, cycle, done, message)
    if why is not None:
        raise Refused(why)
    drafts, currency = _drafts(session, org, reseller, cycle)
    record = BillingCycle(
        org_id=org.id,
        account_id=reseller.account.id,
        period=cycle.period,
        start_date=cycle.start,
        end_date=cycle.end,
        currency=currency,
    )
    session.add(record)
    session.flush()  # the unique (reseller, period) key: a second issuer stops here
    issued_on = today(org)
    views = []
    for draft in drafts:
        number = _next_number(
            session, org.id, "CN" if draft.kind == "credit-note" else "INV", issued_on.year
        )
        invoice = Invoice(
            org_id=org.id,
            cycle_id=record.id,
            account_id=reseller.account.id,
            customer_id=draft.customer_id,
            number=number,
            kind=draft.kind,
            currency=draft.currency,
            total=draft.total,
            issued_on=issued_on,
            issued_at=record.issued_at,
        )
        session.add(invoice)
        session.flush()
        session.execute(
            insert(InvoiceLine),
            [
                dict(
                    invoice_id=invoice.id,
                    position=n,
                    item_key=x.key,
                    period=x.period,
                    kind=x.kind,
                    customer_id=x.customer_id,
                    customer_code=x.customer_code,
                    customer_name=x.customer_name,
                    subject=x.subject,
                    subject_code=x.subject_code,
                    sku=x.sku,
                    product_name=x.product_name,
                    unit=x.unit,
                    quantity=x.quantity,
                    charged=x.charged,
                    unit_price=x.unit_price,
                    amount=x.amount,
                    revision=x.revision,
                    note=x.note or None,
                    corrects=x.corrects,
                )
                for n, x in enumerate(draft.lines, 1)
            ],
        )
        views.append(_view(reseller, cycle, draft, number, issued_on))
    message = (
        f"issued {plural(len(views), 'invoice')} to {code} for cycle {cycle.period}"
        if views
        else f"cycle {cycle.period} of {code} had nothing to bill: closed"
    )
    return _cycle_result(code, cycle, "issued", message, views)


def run(engine: Engine, org_id: int | None, code: str, period: str) -> CycleResult:
    """`invoice run RESELLER`: issue one reseller's cycle in one transaction. Another run
    that issued it first (the unique key stops this one) makes this one say so."""
    try:
        with write_session(engine, org_id=org_id) as session:
            return issue(session, current_org(session, org_id), code, period)
    except sqlalchemy.exc.IntegrityError as exc:
        if "billing_cycle" not in str(exc.orig):
            raise
    with read_session(engine, org_id=org_id) as session:
        reseller, cycle = _reseller_cycle(session, current_org(session, org_id), code, period)
        done = (
            session.execute(
                select(BillingCycle).where(
                    BillingCycle.account_id == reseller.account.id,
                    BillingCycle.period == cycle.period,
                )
            )
            .scalars()
            .one()
        )
        message = (
            f"cycle {cycle.period} of {code} was issued by another run at "
            "the same time: nothing changes"
        )
        return _already_issued(session, code, cycle, done, message)


def billed_resellers(session: Session, org: Organisation) -> list[str]:
    """The codes of ORG's tenant resellers whose creation has finished, in a fixed order."""
    return list(
        session.execute(
            select(Account.code)
            .join(TenantReseller, TenantReseller.account_id == Account.id)
            .where(
                TenantReseller.parent_org_id == org.id,
                TenantReseller.org_id.is_not(None),
                TenantReseller.status == "active",
            )
            .order_by(Account.code)
        ).scalars()
    )


def run_all(
    engine: Engine,
    org_id: int | None,
    period: str,
    progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """`invoice run --all`: every tenant reseller of the org in code order, each in a
    transaction of its own; one that fails does not stop the others (BatchFailed after)."""
    billing.parse_period(period)
    with read_session(engine, org_id=org_id) as session:
        codes = billed_resellers(session, current_org(session, org_id))
    results, failures = [], []
    if progress is not None:
        progress(0, len(codes))
    for n, code in enumerate(codes, 1):
        try:
            results.append(run(engine, org_id, code, period))
        except TenantctlError as exc:
            failures.append({"reseller": code, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a store error of one reseller is its own
            failures.append({"reseller": code, "error": f"{type(exc).__name__}: {exc}"})
        if progress is not None:
            progress(n, len(codes))
    return BatchResult(period, results, failures)


def batch_error(result: BatchResult) -> BatchFailed:
    names = "; ".join(f"{f['reseller']}: {f['error']}" for f in result.failures)
    return BatchFailed(
        f"{len(result.failures)} of {len(result.failures) + len(result.results)}"
        f" {'reseller' if len(result.failures) + len(result.results) == 1 else 'resellers'}"
        f" failed: {names}"
    )


# --- reading what was issued ----------------------------------------------------------


def _issued_views(session: Session, cycle: BillingCycle) -> list[InvoiceView]:
    invoices = session.execute(
        select(Invoice).where(Invoice.cycle_id == cycle.id).order_by(Invoice.id)
    ).scalars()
    return [_invoice_view(session, invoice, cycle) for invoice in invoices]


def _invoice_view(
    session: Session, invoice: Invoice, cycle: BillingCycle | None = None
) -> InvoiceView:
    cycle = cycle or session.get(BillingCycle, invoice.cycle_id)
    reseller = session.get(Account, invoice.account_id)
    customer = session.get(Account, invoice.customer_id) if invoice.customer_id else None
    rows = list(
        session.execute(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.position)
        ).scalars()
    )
    subtotals: dict[str, SubtotalView] = {}
    for x in rows:
        old = subtotals.get(x.customer_code)
        subtotals[x.customer_code] = SubtotalView(
            x.customer_code, x.customer_name, (old.amount if old else 0) + x.amount
        )
    return InvoiceView(
        invoice.number,
        invoice.kind,
        reseller.code,
        reseller.name,
        customer.code if customer else None,
        cycle.period,
        cycle.start_date,
        cycle.end_date,
        invoice.currency,
        invoice.issued_on,
        invoice.total,
        list(subtotals.values()),
        [_line_view(x) for x in rows],
    )


def list_invoices(
    session: Session, org: Organisation, reseller: str | None = None, period: str | None = None
) -> list[InvoiceSummary]:
    """The invoices and credit notes ORG issued, newest cycle last, by number."""
    if period is not None:
        billing.parse_period(period)
    customer = aliased(Account, name="customer")
    stmt = (
        select(
            Invoice,
            BillingCycle.period,
            Account.code,
            customer.code,
            select(func.count(InvoiceLine.id))
            .where(InvoiceLine.invoice_id == Invoice.id)
            .scalar_subquery(),
        )
        .join(BillingCycle, BillingCycle.id == Invoice.cycle_id)
        .join(Account, Account.id == Invoice.account_id)
        .outerjoin(customer, customer.id == Invoice.customer_id)
        .where(Invoice.org_id == org.id)
        .order_by(Invoice.id)
    )
    if reseller is not None:
        stmt = stmt.where(Account.code == reseller)
    if period is not None:
        stmt = stmt.where(BillingCycle.period == period)
    return [
        InvoiceSummary(i.number, i.kind, code, cust, p, i.issued_on, i.currency, i.total, n)
        for i, p, code, cust, n in session.execute(stmt).all()
    ]


def invoice_detail(session: Session, org: Organisation, number: str) -> InvoiceView:
    """One issued invoice or credit note, by its number."""
    invoice = (
        session.execute(select(Invoice).where(Invoice.org_id == org.id, Invoice.number == number))
        .scalars()
        .first()
    )
    if invoice is None:
        raise NotFound(f"no invoice {number!r} in {org.name}")
    return _invoice_view(session, invoice)


EXPORT_FIELDS = (
    "invoice",
    "kind",
    "issued_on",
    "reseller",
    "period",
    "customer",
    "customer_name",
    "subscription",
    "sku",
    "product",
    "unit",
    "quantity",
    "charged",
    "unit_price",
    "amount",
    "currency",
    "line_kind",
    "note",
    "corrects",
)


def export_rows(view: InvoiceView) -> list[dict]:
    """One row per line, with its end customer (what the reseller bills its own customers
    from)."""
    return [
        dict(
            zip(
                EXPORT_FIELDS,
                (
                    view.number,
                    view.kind,
                    view.issued_on,
                    view.reseller,
                    x.period,
                    x.customer,
                    x.customer_name,
                    x.subscription,
                    x.sku,
                    x.product,
                    x.unit or "",
                    x.quantity,
                    x.charged,
                    x.unit_price,
                    x.amount,
                    view.currency,
                    x.kind,
                    x.note or "",
                    x.corrects or "",
                ),
                strict=True,
            )
        )
        for x in view.lines
    ]

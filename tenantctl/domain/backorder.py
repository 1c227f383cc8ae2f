"""Back-ordering (SPEC section 7): every paid sale of a tenant reaches its parent once.

A change in the tenant writes an event in its own transaction (`tenantctl.domain.outbox`).
`deliver` applies one tenant's pending events in the order they were written, each in one
transaction with its delivered mark, under the tenant row's lock (FOR UPDATE on
PostgreSQL; SQLite's write lock), so two deliverers never interleave. The parent's rows an
event makes (the copied customer, the mirror, the order) carry the event's id under a
unique key: a second delivery of the same event fails on the key and is rolled back.

Delivery runs right after the command that wrote the events (`deliver_written`) and in
every worker (`deliver_all`, registered as the queue's sweeper). What a delivery changes
in a parent that is itself a live tenant is recorded in that parent's outbox in the same
transaction, and travels on up the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tenantctl import jobs
from tenantctl.domain import outbox
from tenantctl.domain.pricing import listed_price
from tenantctl.domain.sales import _add_with_code, _Line, write_order
from tenantctl.domain.tenants import find_tenant
from tenantctl.domain.transfer import copy_customer_batch
from tenantctl.errors import CheckFailed, Conflict, Refused, TenantctlError
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import (
    Account,
    Asset,
    BackorderEvent,
    OrderLine,
    Organisation,
    PriceList,
    Product,
    ProductUnit,
    SalesOrder,
    Subscription,
    SubscriptionAddon,
    TenantReseller,
    utcnow,
)
from tenantctl.words import plural

_COPY_BATCH = 2000
# Subscription statuses the parent bills: one such in the parent not copied down blocks
# `backorder enable` (SPEC section 7).
_LIVE = ("active",)


def origin_of(reseller: Account) -> str:
    """The origin every back-ordered order carries."""
    return f"originated from {reseller.name} tenant reseller purchases"


# --- the switch ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SwitchResult:
    """A tenant's back-ordering state after enable, pause or resume."""

    tenant: str
    state: str
    changed: bool
    customers_copied: int = 0
    adopted: int = 0


def _locked_tenant(session: Session, tenant_id: int) -> TenantReseller:
    """The tenant row, locked for the rest of the transaction (PostgreSQL: FOR UPDATE; on
    SQLite the write transaction already holds the database's write lock)."""
    return (
        session.execute(
            select(TenantReseller).where(TenantReseller.id == tenant_id).with_for_update()
        )
        .scalars()
        .one()
    )


def _code(session: Session, tenant: TenantReseller) -> str:
    return session.get(Account, tenant.account_id).code


def _ready(session: Session, ref: str, parent_id: int) -> TenantReseller:
    tenant = _locked_tenant(session, find_tenant(session, ref, parent_id).id)
    if tenant.status != "active" or tenant.org_id is None:
        raise Refused(
            f"tenant reseller {ref} is {tenant.status}: its creation has not "
            "finished (see tenantctl process list)"
        )
    return tenant


def uncopied_subscriptions(session: Session, tenant: TenantReseller) -> list[str]:
    """Codes of the parent's live subscriptions of the reseller's customers that were not
    copied down into the tenant (back-ordering cannot start while any is left)."""
    copy = select(Subscription.source_subscription_id).where(
        Subscription.org_id == tenant.org_id, Subscription.source_subscription_id.is_not(None)
    )
    return list(
        session.execute(
            select(Subscription.code)
            .join(Account, Account.id == Subscription.account_id)
            .where(
                Account.org_id == tenant.parent_org_id,
                Account.bill_to_id == tenant.account_id,
                Subscription.status.in_(_LIVE),
                Subscription.source_subscription_id.is_(None),
                Subscription.id.not_in(copy),
            )
            .order_by(Subscription.code)
        ).scalars()
    )


def enable(session: Session, ref: str, parent_id: int) -> SwitchResult:
    """Switch back-ordering on for a tenant that was never lite; it cannot be undone.

    Refused while any live subscription of the reseller's customers in the parent has not
    been copied down (run `upgrade customers` and `upgrade subscriptions`); customers
    still missing from the tenant are copied down; what the tenant already sold of the
    parent's products gets its mirror. The reseller is then live.
    """
    tenant = _ready(session, ref, parent_id)
    code = _code(session, tenant)
    if tenant.backorder_state != "off":
        return SwitchResult(code, tenant.backorder_state, changed=False)
    left = uncopied_subscriptions(session, tenant)
    if left:
        shown = ", ".join(left[:20]) + (f" and {len(left) - 20} more" if len(left) > 20 else "")
        raise CheckFailed(
            f"{plural(len(left), 'subscription')} of {code}'s customers in the parent "
            f"{'is' if len(left) == 1 else 'are'} not copied into the tenant: {shown}; "
            "copy them first (tenantctl upgrade customers "
            f"{code}, then tenantctl upgrade subscriptions {code})"
        )
    copied = 0
    while batch := copy_customer_batch(session, tenant, _COPY_BATCH):
        copied += batch
    tenant.backorder_state = "on"
    tenant.phase = "live"
    session.flush()
    adopted = outbox.adopt_existing(session, tenant)
    return SwitchResult(code, "on", changed=True, customers_copied=copied, adopted=adopted)


def pause(session: Session, ref: str, parent_id: int) -> SwitchResult:
    """Hold delivery to the parent; every change is still recorded and nothing is lost."""
    return _switch(session, ref, parent_id, "on", "paused")


def resume(session: Session, ref: str, parent_id: int) -> SwitchResult:
    """Deliver again; what was held goes to the parent in the order it happened."""
    return _switch(session, ref, parent_id, "paused", "on")


def _switch(
    session: Session, ref: str, parent_id: int, from_state: str, to_state: str
) -> SwitchResult:
    tenant = _ready(session, ref, parent_id)
    code = _code(session, tenant)
    if tenant.backorder_state == to_state:
        return SwitchResult(code, to_state, changed=False)
    if tenant.backorder_state != from_state:
        raise Refused(
            f"back-ordering of {code} is {tenant.backorder_state}: only "
            f"{from_state} back-ordering can be made {to_state}"
            + (
                f" (switch it on with tenantctl backorder enable {code})"
                if tenant.backorder_state == "off"
                else ""
            )
        )
    tenant.backorder_state = to_state
    session.flush()
    return SwitchResult(code, to_state, changed=True)


# --- status -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    id: int
    subject: str
    action: str
    created_at: datetime
    delivered_at: datetime | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class BackorderStatus:
    tenant: str
    state: str
    phase: str
    pending: int
    delivered: int
    oldest_pending: EventView | None
    last_delivered: EventView | None


def _event_view(event: BackorderEvent | None) -> EventView | None:
    if event is None:
        return None
    return EventView(
        event.id,
        event.subject,
        event.action,
        event.created_at,
        event.delivered_at,
        event.attempts,
        event.last_error,
    )


def status(session: Session, ref: str, parent_id: int) -> BackorderStatus:
    """A tenant's back-ordering state, its pending events, the oldest pending one (with the
    error that holds it, if any) and the last one delivered."""
    tenant = find_tenant(session, ref, parent_id)
    counts = dict(
        session.execute(
            select(BackorderEvent.delivered_at.is_(None), func.count())
            .where(BackorderEvent.tenant_id == tenant.id)
            .group_by(BackorderEvent.delivered_at.is_(None))
        ).all()
    )
    oldest = (
        session.execute(
            select(BackorderEvent)
            .where(BackorderEvent.tenant_id == tenant.id, BackorderEvent.delivered_at.is_(None))
            .order_by(BackorderEvent.id)
            .limit(1)
        )
        .scalars()
        .first()
    )
    last = (
        session.execute(
            select(BackorderEvent)
            .where(BackorderEvent.tenant_id == tenant.id, BackorderEvent.delivered_at.is_not(None))
            .order_by(BackorderEvent.delivered_at.desc(), BackorderEvent.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    return BackorderStatus(
        _code(session, tenant),
        tenant.backorder_state,
        tenant.phase,
        counts.get(True, 0),
        counts.get(False, 0),
        _event_view(oldest),
        _event_view(last),
    )


# --- delivery -----------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one delivery run did for one tenant."""

    tenant_id: int
    delivered: int = 0
    pending: int = 0
    error: str | None = None
    # Parents that are live tenants themselves and got events of their own.
    onward: set[int] = field(default_factory=set)


def deliver(engine, tenant_id: int) -> DeliveryReport:
    """Apply TENANT_ID's pending events to its parent in order, each in one transaction
    with its delivered mark, while back-ordering is on. An event that cannot be applied
    stops the run (the ones after it wait: order matters) and keeps its error for
    `backorder status`; the worker tries it again."""
    report = DeliveryReport(tenant_id)
    more = True
    while more:
        tried = None
        try:
            with write_session(engine) as session:
                tenant = _locked_tenant(session, tenant_id)
                report.pending = _pending_count(session, tenant_id)
                event = _next_event(session, tenant.id) if report.pending else None
                if tenant.backorder_state != "on" or event is None:
                    break
                tried = event.id
                apply_event(session, tenant, event)
                event.delivered_at = utcnow()
                session.flush()
                report.onward |= session.info.get(outbox.PENDING_KEY, set())
                report.pending -= 1
                more = report.pending > 0
        except IntegrityError:
            # The unique event key: another deliverer applied this event first (the next
            # round finds it delivered); anything else is kept as the event's error.
            if tried is not None and _delivered(engine, tried):
                continue
            report.error = _keep_error(
                engine, tenant_id, "a row this event makes exists already in the parent"
            )
            break
        except TenantctlError as exc:
            report.error = _keep_error(engine, tenant_id, str(exc))
            break
        report.delivered += 1
    return report


def _next_event(session: Session, tenant_id: int) -> BackorderEvent | None:
    return (
        session.execute(
            select(BackorderEvent)
            .where(BackorderEvent.tenant_id == tenant_id, BackorderEvent.delivered_at.is_(None))
            .order_by(BackorderEvent.id)
            .limit(1)
        )
        .scalars()
        .first()
    )


def _pending_count(session: Session, tenant_id: int) -> int:
    return session.execute(
        select(func.count())
        .select_from(BackorderEvent)
        .where(BackorderEvent.tenant_id == tenant_id, BackorderEvent.delivered_at.is_(None))
    ).scalar_one()


def _delivered(engine, event_id: int) -> bool:
    with read_session(engine) as session:
        return (
            session.execute(
                select(BackorderEvent.delivered_at).where(BackorderEvent.id == event_id)
            ).scalar()
            is not None
        )


def _keep_error(engine, tenant_id: int, message: str) -> str:
    with write_session(engine) as session:
        event = _next_event(session, tenant_id)
        if event is not None:
            event.attempts += 1
            event.last_error = message[:500]
            # Named by the tenant's own code: the event's row id is the distributor's, and
            # this text reaches the tenant's user (a sale's warning).
            text = f"{event.subject} {_subject_code(session, event)} ({event.action}): {message}"
        else:
            text = message
    return text


_SUBJECTS = {"customer": Account, "subscription": Subscription, "asset": Asset}


def _subject_code(session: Session, event: BackorderEvent) -> str:
    model = _SUBJECTS.get(event.subject)
    code = (
        session.execute(select(model.code).where(model.id == event.subject_id)).scalar()
        if model is not None
        else None
    )
    return code or "(deleted)"


def deliver_written(engine, session: Session) -> list[DeliveryReport]:
    """After SESSION committed: deliver the events it wrote, and on up the tree."""
    return deliver_tenants(engine, session.info.pop(outbox.PENDING_KEY, set()))


def deliver_tenants(engine, tenant_ids) -> list[DeliveryReport]:
    """Deliver each of TENANT_IDS, then every parent those deliveries gave events to."""
    reports, todo, done = [], sorted(tenant_ids), set()
    while todo:
        tenant_id = todo.pop(0)
        if tenant_id in done:
            continue
        done.add(tenant_id)
        report = deliver(engine, tenant_id)
        reports.append(report)
        todo += sorted(report.onward - done)
    return reports


def deliver_held(engine, ref: str, parent_id: int) -> list[DeliveryReport]:
    """Deliver what tenant REF holds (after `resume`), and on up the tree."""
    with read_session(engine) as session:
        tenant_id = find_tenant(session, ref, parent_id).id
    return deliver_tenants(engine, [tenant_id])


def deliver_all(engine) -> int:
    """Deliver the pending events of every tenant whose back-ordering is on (the worker's
    sweep); returns how many events were delivered."""
    with read_session(engine) as session:
        tenant_ids = list(
            session.execute(
                select(BackorderEvent.tenant_id)
                .distinct()
                .join(TenantReseller, TenantReseller.id == BackorderEvent.tenant_id)
                .where(
                    BackorderEvent.delivered_at.is_(None), TenantReseller.backorder_state == "on"
                )
                .order_by(BackorderEvent.tenant_id)
            ).scalars()
        )
    return sum(r.delivered for r in deliver_tenants(engine, tenant_ids))


jobs.register_sweeper("back-ordering", deliver_all)


# --- applying one event -------------------------------------------------------------------


def apply_event(session: Session, tenant: TenantReseller, event: BackorderEvent) -> None:
    """Make the parent mirror EVENT (one change in the tenant)."""
    parent = session.get(Organisation, tenant.parent_org_id)
    reseller = session.get(Account, tenant.account_id)
    if event.subject == "customer":
        _keep_customer_in_step(session, parent, tenant, event)
    elif event.subject == "subscription":
        _mirror_subscription(session, parent, tenant, reseller, event)
    elif event.subject == "asset":
        _mirror_asset(session, parent, tenant, reseller, event)
    else:
        raise Conflict(f"unknown back-ordering event subject {event.subject!r}")


def parent_record(session: Session, tenant: TenantReseller, account: Account) -> Account | None:
    """The parent's record of a tenant's customer: the account it was copied down from (a
    lite upgrade), or the one back-ordering copied up."""
    if account.source_account_id is not None:
        source = session.get(Account, account.source_account_id)
        if source is not None and source.org_id == tenant.parent_org_id:
            return source
    return (
        session.execute(
            select(Account).where(
                Account.org_id == tenant.parent_org_id, Account.source_account_id == account.id
            )
        )
        .scalars()
        .first()
    )


def _copy_customer_up(
    session: Session,
    parent: Organisation,
    tenant: TenantReseller,
    customer: Account,
    event: BackorderEvent,
) -> Account:
    """The parent's record of CUSTOMER, copied up on its first mirrored sale: a
    sub-customer of the reseller, ordering enabled, in the reseller's currency, "separate
    invoices" from the tenant setting now, its kept fields locked for the parent."""
    record = parent_record(session, tenant, customer)
    if record is not None:
        return record
    reseller = session.get(Account, tenant.account_id)
    record = Account(
        org_id=parent.id,
        code=_free_code(session, parent, customer.code, reseller.code),
        name=customer.name,
        kind="customer",
        bill_to_id=reseller.id,
        ordering_enabled=True,
        currency=reseller.currency,
        country=customer.country,
        accounting_number=customer.accounting_number,
        email=customer.email,
        billing_address=customer.billing_address,
        price_list_id=reseller.price_list_id,
        billing_day=reseller.billing_day,
        separate_invoices=tenant.separate_invoices,
        managed_by_org_id=tenant.org_id,
        source_account_id=customer.id,
        backorder_event_id=event.id,
    )
    session.add(record)
    session.flush()
    return record


def _free_code(session: Session, org: Organisation, code: str, reseller_code: str) -> str:
    """CODE when the parent does not use it yet, else the reseller's code before it (and a
    number after it, should that be taken too)."""
    candidates = [code, f"{reseller_code}-{code}"[:64]]
    candidates += [f"{reseller_code}-{code}"[:60] + f"-{n}" for n in range(2, 100)]
    taken = set(
        session.execute(
            select(Account.code).where(Account.org_id == org.id, Account.code.in_(candidates))
        ).scalars()
    )
    return next(c for c in candidates if c not in taken)


def _keep_customer_in_step(
    session: Session, parent: Organisation, tenant: TenantReseller, event: BackorderEvent
) -> None:
    customer = session.get(Account, event.subject_id)
    record = parent_record(session, tenant, customer)
    if record is None:
        return  # copied up with its fields as they are then, on its first mirrored sale
    changed = [f for f in outbox.KEPT_FIELDS if getattr(record, f) != event.payload.get(f)]
    for f in changed:
        setattr(record, f, event.payload.get(f))
    session.flush()
    outbox.record_customer_change(session, parent, record, changed)


def find_mirror(session: Session, tenant: TenantReseller, model, original):
    """The parent's mirror of a tenant's subscription or asset: the row it was copied down
    from at a lite upgrade, or the one back-ordering made."""
    source = "source_subscription_id" if model is Subscription else "source_asset_id"
    source_id = getattr(original, source)
    if source_id is not None:
        row = session.get(model, source_id)
        if row is not None and row.org_id == tenant.parent_org_id:
            return row
    return (
        session.execute(
            select(model).where(
                model.org_id == tenant.parent_org_id, getattr(model, source) == original.id
            )
        )
        .scalars()
        .first()
    )


def _parent_product(session: Session, tenant_product_id: int) -> Product | None:
    product = session.get(Product, tenant_product_id)
    if product is None or product.source_product_id is None:
        return None
    return session.get(Product, product.source_product_id)


def reseller_cost(
    session: Session,
    tenant: TenantReseller,
    reseller: Account,
    tenant_product: Product,
    parent_product: Product,
    unit: str,
    as_of: date,
) -> tuple[Decimal, str]:
    """What the parent charges the reseller for one UNIT of a product on AS_OF: the price in
    the reseller account's price list in the parent (its cost). Should that list not have
    it then (the item left the list since), the tenant's recorded cost of the unit.
    Asked again in the same transaction, the answer is remembered."""
    memo = session.info.setdefault("tenantctl_reseller_cost", {})
    key = (reseller.id, parent_product.id, unit, as_of)
    if key in memo:
        return memo[key]
    price_list = session.get(PriceList, reseller.price_list_id or tenant.price_list_id)
    amount = listed_price(session, price_list, parent_product, unit, as_of)
    if amount is None:
        amount = session.execute(
            select(ProductUnit.cost_price).where(
                ProductUnit.product_id == tenant_product.id, ProductUnit.unit == unit
            )
        ).scalar()
    if amount is None:
        raise Refused(
            f"{parent_product.sku} {unit} has no price in {reseller.code}'s price "
            f"list {price_list.name!r} on {as_of}, so its back-order cannot be "
            f'priced (fix: tenantctl pricelist set-price "{price_list.name}" '
            f"{parent_product.sku} --unit {unit} PRICE)"
        )
    memo[key] = amount, price_list.currency
    return memo[key]


def _mirror_of(
    session: Session, parent: Organisation, tenant: TenantReseller, event: BackorderEvent, model
):
    """What EVENT's sale (of a MODEL: Subscription or Asset) is mirrored from and into: the
    tenant's original, its product in the parent, the end customer's record in the parent
    (copied up now if it has none), and the parent's mirror (None: not made yet)."""
    original = session.get(model, event.subject_id)
    product = _parent_product(session, original.product_id)
    customer = _copy_customer_up(
        session, parent, tenant, session.get(Account, original.account_id), event
    )
    return original, product, customer, find_mirror(session, tenant, model, original)


def _mirror_subscription(
    session: Session,
    parent: Organisation,
    tenant: TenantReseller,
    reseller: Account,
    event: BackorderEvent,
) -> None:
    original, product, customer, mirror = _mirror_of(session, parent, tenant, event, Subscription)
    state = event.payload
    tenant_product = session.get(Product, original.product_id)
    as_of = event.effective_date or date.fromisoformat(state["start_date"])
    if mirror is None:
        price, currency = reseller_cost(
            session, tenant, reseller, tenant_product, product, original.unit, as_of
        )
        mirror = Subscription(
            org_id=parent.id,
            code="",
            account_id=customer.id,
            product_id=product.id,
            unit=original.unit,
            quantity=state["quantity"],
            unit_price=price,
            currency=currency,
            status=state["status"],
            start_date=date.fromisoformat(state["start_date"]),
            auto_renew=state["auto_renew"],
            paid=True,
            billing_day=reseller.billing_day,
            characteristics=dict(original.characteristics or {}),
            source_subscription_id=original.id,
            name=f"{customer.name} - {product.name}",
            backorder_event_id=event.id,
        )
        _add_with_code(session, mirror, Subscription.code, "SUB")
    else:
        mirror.quantity, mirror.status = state["quantity"], state["status"]
        mirror.auto_renew, mirror.paid = state["auto_renew"], True
    _set_add_ons(session, mirror, state["add_ons"])
    session.flush()
    order = _order_in_parent(
        session, parent, tenant, reseller, customer, event, subscription=mirror
    )
    if order is not None or event.action == "adopt":
        outbox.record_subscription_sale(
            session,
            parent,
            mirror,
            order.order_type if order else "adopt",
            order.id if order else None,
            as_of,
        )


def _set_add_ons(session: Session, mirror: Subscription, add_ons: dict[str, int]) -> None:
    """The mirror's add-ons become the original's (the reseller's own add-ons excepted)."""
    wanted = {}
    for tenant_pid, quantity in add_ons.items():
        product = _parent_product(session, int(tenant_pid))
        if product is not None:
            wanted[product.id] = quantity
    current = {
        a.product_id: a
        for a in session.execute(
            select(SubscriptionAddon).where(SubscriptionAddon.subscription_id == mirror.id)
        ).scalars()
    }
    for pid, row in current.items():
        if pid not in wanted:
            session.delete(row)
        elif row.quantity != wanted[pid]:
            row.quantity = wanted[pid]
    session.add_all(
        [
            SubscriptionAddon(subscription_id=mirror.id, product_id=pid, quantity=q)
            for pid, q in wanted.items()
            if pid not in current
        ]
    )


def _mirror_asset(
    session: Session,
    parent: Organisation,
    tenant: TenantReseller,
    reseller: Account,
    event: BackorderEvent,
) -> None:
    original, product, customer, mirror = _mirror_of(session, parent, tenant, event, Asset)
    state = event.payload
    if mirror is None:
        mirror = Asset(
            org_id=parent.id,
            code="",
            account_id=customer.id,
            product_id=product.id,
            kind=original.kind,
            quantity=state["quantity"],
            purchase_date=date.fromisoformat(state["purchase_date"]),
            status=state["status"],
            characteristics=dict(original.characteristics or {}),
            source_asset_id=original.id,
            name=f"{customer.name} - {product.name}",
            backorder_event_id=event.id,
        )
        _add_with_code(session, mirror, Asset.code, "AST")
    else:
        mirror.quantity, mirror.status = state["quantity"], state["status"]
    session.flush()
    order = _order_in_parent(session, parent, tenant, reseller, customer, event, asset=mirror)
    if order is not None or event.action == "adopt":
        outbox.record_asset_sale(session, parent, mirror, order.id if order else None)


def _order_in_parent(
    session: Session,
    parent: Organisation,
    tenant: TenantReseller,
    reseller: Account,
    customer: Account,
    event: BackorderEvent,
    *,
    subscription: Subscription | None = None,
    asset: Asset | None = None,
):
    """The parent's own order for the sale EVENT records: for the end customer, billed to
    the reseller, dated on the change's effective date, priced at the reseller's cost,
    with the lines of the tenant's order (the reseller's own products left out)."""
    if event.order_id is None:
        return None
    order = session.get(SalesOrder, event.order_id)
    lines = []
    for line in session.execute(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
    ).scalars():
        product = _parent_product(session, line.product_id)
        if product is None:
            continue
        price, currency = reseller_cost(
            session,
            tenant,
            reseller,
            session.get(Product, line.product_id),
            product,
            line.unit,
            order.order_date,
        )
        lines.append(
            _Line(product, line.unit, line.quantity, price, currency, after=line.quantity_after)
        )
    return write_order(
        session,
        parent,
        customer,
        order.order_type,
        order.order_date,
        lines,
        origin_of(reseller),
        subscription=subscription,
        asset=asset,
        event_id=event.id,
    )

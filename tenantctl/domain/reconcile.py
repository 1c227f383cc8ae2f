"""Reconcile (SPEC section 7): compare a tenant with what its parent mirrors of it.

Reads both sides and returns the differences as values; the CLI renders them and maps
"some" to exit 6. What a pending event will still change is reported as pending, not as
a difference.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session

from tenantctl.domain import outbox
from tenantctl.domain.backorder import find_mirror, parent_record
from tenantctl.domain.tenants import find_tenant, find_tenant_code
from tenantctl.store.models import (
    Account,
    Asset,
    BackorderEvent,
    OrderLine,
    Product,
    SalesOrder,
    Subscription,
    SubscriptionAddon,
    TenantReseller,
)


@dataclass(frozen=True)
class Difference:
    """One thing the parent does not mirror as the tenant has it."""

    tenant: str
    kind: str  # customer | subscription | asset | order
    code: str  # the tenant's code of the row (the parent's, for a mirror without original)
    problem: str
    tenant_value: str | None = None
    parent_value: str | None = None


@dataclass
class Reconciliation:
    tenant: str
    state: str
    pending: int
    differences: list[Difference] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)


def reconcile(session: Session, ref: str, parent_id: int) -> Reconciliation:
    """Every difference between TENANT's sales and its parent's mirrors of them."""
    tenant = find_tenant(session, ref, parent_id)
    return _reconcile(session, tenant)


def reconcile_all(session: Session, parent_org_id: int) -> list[Reconciliation]:
    """Reconcile every tenant of PARENT_ORG_ID whose back-ordering is on or paused."""
    tenants = (
        session.execute(
            select(TenantReseller)
            .join(Account, Account.id == TenantReseller.account_id)
            .where(
                TenantReseller.parent_org_id == parent_org_id,
                TenantReseller.backorder_state.in_(outbox.RECORDING_STATES),
            )
            .order_by(Account.code)
        )
        .scalars()
        .all()
    )
    return [_reconcile(session, t) for t in tenants]


def _reconcile(session: Session, tenant: TenantReseller) -> Reconciliation:
    code = find_tenant_code(session, tenant)
    pending_rows = session.execute(
        select(BackorderEvent.subject, BackorderEvent.subject_id).where(
            BackorderEvent.tenant_id == tenant.id, BackorderEvent.delivered_at.is_(None)
        )
    ).all()
    result = Reconciliation(code, tenant.backorder_state, len(pending_rows))
    if tenant.org_id is None or tenant.backorder_state == "off":
        return result
    pending = {(s, i) for s, i in pending_rows}
    pending_customers = {a for (s, i) in pending for a in _customers_of(session, s, i)}
    out = result.differences

    def diff(kind: str, row_code: str, problem: str, mine=None, theirs=None) -> None:
        out.append(
            Difference(
                code,
                kind,
                row_code,
                problem,
                None if mine is None else str(mine),
                None if theirs is None else str(theirs),
            )
        )

    checked = {}
    for model, kind, fields in (
        (Subscription, "subscription", _subscription_fields),
        (Asset, "asset", _asset_fields),
    ):
        originals = _mirrored(session, tenant, model)
        checked[f"{kind}s"] = len(originals)
        for original in originals:
            if (kind, original.id) in pending:
                continue
            mirror = find_mirror(session, tenant, model, original)
            if mirror is None:
                diff(kind, original.code, "no mirror in the parent")
                continue
            for name, mine, theirs in fields(session, original, mirror):
                if mine != theirs:
                    diff(kind, original.code, f"{name} differs", mine, theirs)
    for model, kind in ((Subscription, "subscription"), (Asset, "asset")):
        linked = _linked(session, tenant, model)
        for orphan in _parent_rows(session, tenant, model):
            if orphan.id not in linked and not _original_pending(orphan, model, pending):
                diff(kind, orphan.code, "a mirror in the parent without its original in the tenant")
    _compare_customers(session, tenant, pending_customers, diff)
    _compare_orders(session, tenant, diff)
    result.checked = checked
    return result


def _linked(session: Session, tenant: TenantReseller, model) -> set[int]:
    """Ids of the parent's rows a tenant row is linked to, in either direction (copied down
    from it at a lite upgrade, or mirrored up into it)."""
    source = "source_subscription_id" if model is Subscription else "source_asset_id"
    down = select(getattr(model, source)).where(
        model.org_id == tenant.org_id, getattr(model, source).is_not(None)
    )
    tenant_ids = select(model.id).where(model.org_id == tenant.org_id)
    up = select(model.id).where(
        model.org_id == tenant.parent_org_id, getattr(model, source).in_(tenant_ids)
    )
    return set(session.execute(down).scalars()) | set(session.execute(up).scalars())


def _customers_of(session: Session, subject: str, subject_id: int) -> list[int]:
    if subject == "customer":
        return [subject_id]
    model = Subscription if subject == "subscription" else Asset
    row = session.get(model, subject_id)
    return [row.account_id] if row is not None else []


def _original_pending(mirror, model, pending) -> bool:
    source = mirror.source_subscription_id if model is Subscription else mirror.source_asset_id
    subject = "subscription" if model is Subscription else "asset"
    return (subject, source) in pending


def _source(session: Session, product_id: int) -> int | None:
    return session.get(Product, product_id).source_product_id


def _mirrored(session: Session, tenant: TenantReseller, model) -> list:
    """The tenant's rows the parent must mirror: paid subscriptions and assets of products
    that came from the parent, except those cancelled before any mirror existed."""
    where = [model.org_id == tenant.org_id, Product.source_product_id.is_not(None)]
    if model is Subscription:
        where.append(Subscription.paid.is_(True))
    rows = (
        session.execute(
            select(model)
            .join(Product, Product.id == model.product_id)
            .where(*where)
            .order_by(model.code)
        )
        .scalars()
        .all()
    )
    return [
        r
        for r in rows
        if r.status != "cancelled" or find_mirror(session, tenant, model, r) is not None
    ]


def _parent_rows(session: Session, tenant: TenantReseller, model) -> list:
    """The parent's mirrors of this tenant: the rows back-ordering made, and the active rows
    of the customers it manages (a lite upgrade copied those down), cancelled ones aside."""
    return (
        session.execute(
            select(model)
            .join(Account, Account.id == model.account_id)
            .where(
                model.org_id == tenant.parent_org_id,
                Account.managed_by_org_id == tenant.org_id,
                model.status != "cancelled",
                (model.status == "active") | model.backorder_event_id.is_not(None),
            )
            .order_by(model.code)
        )
        .scalars()
        .all()
    )


def _subscription_fields(session: Session, sub: Subscription, mirror: Subscription):
    mine_add_ons = {
        _source(session, pid): q
        for pid, q in session.execute(
            select(SubscriptionAddon.product_id, SubscriptionAddon.quantity).where(
                SubscriptionAddon.subscription_id == sub.id
            )
        )
    }
    mine_add_ons.pop(None, None)  # the reseller's own add-ons are not mirrored
    theirs_add_ons = dict(
        session.execute(
            select(SubscriptionAddon.product_id, SubscriptionAddon.quantity).where(
                SubscriptionAddon.subscription_id == mirror.id
            )
        ).all()
    )
    return (
        ("product", _source(session, sub.product_id), mirror.product_id),
        ("unit", sub.unit, mirror.unit),
        ("quantity", sub.quantity, mirror.quantity),
        ("add-ons", sorted(mine_add_ons.items()), sorted(theirs_add_ons.items())),
        ("status", sub.status, mirror.status),
        ("start date", sub.start_date, mirror.start_date),
        ("auto-renew", sub.auto_renew, mirror.auto_renew),
    )


def _asset_fields(session: Session, asset: Asset, mirror: Asset):
    return (
        ("product", _source(session, asset.product_id), mirror.product_id),
        ("quantity", asset.quantity, mirror.quantity),
        ("status", asset.status, mirror.status),
        ("purchase date", asset.purchase_date, mirror.purchase_date),
    )


def _compare_customers(session: Session, tenant: TenantReseller, pending: set[int], diff) -> None:
    customers = (
        session.execute(
            select(Account)
            .where(Account.org_id == tenant.org_id, Account.kind == "customer")
            .order_by(Account.code)
        )
        .scalars()
        .all()
    )
    for customer in customers:
        if customer.id in pending:
            continue
        record = parent_record(session, tenant, customer)
        if record is None:
            continue
        for name in outbox.KEPT_FIELDS:
            mine, theirs = getattr(customer, name), getattr(record, name)
            if mine != theirs:
                diff("customer", customer.code, f"{name.replace('_', ' ')} differs", mine, theirs)


def _compare_orders(session: Session, tenant: TenantReseller, diff) -> None:
    """Each delivered sale has exactly one order in the parent, of the same type and date,
    with the same quantities of the parent's products."""
    rows = session.execute(
        select(BackorderEvent.id, BackorderEvent.order_id, SalesOrder)
        .outerjoin(SalesOrder, SalesOrder.backorder_event_id == BackorderEvent.id)
        .where(
            BackorderEvent.tenant_id == tenant.id,
            BackorderEvent.order_id.is_not(None),
            BackorderEvent.delivered_at.is_not(None),
        )
        .order_by(BackorderEvent.id)
    ).all()
    for _event_id, tenant_order_id, parent_order in rows:
        sale = session.get(SalesOrder, tenant_order_id)
        if parent_order is None:
            diff("order", sale.number, "the sale has no order in the parent")
            continue
        mine = (sale.order_type, sale.order_date, _quantities(session, sale.id, mapped=True))
        theirs = (
            parent_order.order_type,
            parent_order.order_date,
            _quantities(session, parent_order.id, mapped=False),
        )
        if mine != theirs:
            diff(
                "order",
                sale.number,
                f"its order {parent_order.number} in the parent differs",
                mine,
                theirs,
            )


def _quantities(session: Session, order_id: int, *, mapped: bool) -> list:
    lines = session.execute(
        select(OrderLine.product_id, OrderLine.unit, OrderLine.quantity).where(
            OrderLine.order_id == order_id
        )
    ).all()
    counted = Counter()
    for product_id, unit, quantity in lines:
        pid = _source(session, product_id) if mapped else product_id
        if pid is not None:
            counted[(pid, unit)] += quantity
    return sorted(counted.items())

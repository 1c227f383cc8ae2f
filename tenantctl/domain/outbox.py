"""The outbox of back-ordering (SPEC section 7): what a change in a tenant writes for its
parent, in the change's own transaction.

The sales and account functions call one `record_*` function after a change; it decides
whether the parent mirrors that change and, if so, writes a `BackorderEvent`. Nothing is
written while the tenant's back-ordering is off; while it is on or paused every mirrored
change is written (a pause holds delivery, never the record). Delivery is
`tenantctl.domain.backorder`'s: this module knows nothing of mirrors.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlmodel import Session

from tenantctl.store.models import (
    Account,
    Asset,
    BackorderEvent,
    Organisation,
    Product,
    Subscription,
    SubscriptionAddon,
    TenantReseller,
)

# session.info key: the tenants a session wrote events for (delivered after its commit).
PENDING_KEY = "tenantctl_backorder_tenants"
# The account fields a tenant keeps in step for its customers' records in the parent.
KEPT_FIELDS = ("name", "accounting_number", "email", "billing_address")
RECORDING_STATES = ("on", "paused")


def recording_tenant(session: Session, org: Organisation) -> TenantReseller | None:
    """ORG's own tenant-reseller link when ORG's changes are recorded for its parent."""
    if org.kind != "tenant":
        return None
    tenant = (
        session.execute(select(TenantReseller).where(TenantReseller.org_id == org.id))
        .scalars()
        .first()
    )
    if tenant is None or tenant.backorder_state not in RECORDING_STATES:
        return None
    return tenant


def from_parent(session: Session, product_id: int) -> bool:
    """Whether a product of the tenant came from its parent (the reseller's own do not)."""
    product = session.get(Product, product_id)
    return product is not None and product.source_product_id is not None


def subscription_state(session: Session, sub: Subscription) -> dict:
    """What a subscription's mirror must hold after the change (the event's payload)."""
    add_ons = session.execute(
        select(SubscriptionAddon.product_id, SubscriptionAddon.quantity).where(
            SubscriptionAddon.subscription_id == sub.id
        )
    ).all()
    return {
        "quantity": sub.quantity,
        "status": sub.status,
        "auto_renew": sub.auto_renew,
        "start_date": sub.start_date.isoformat(),
        "unit": sub.unit,
        "add_ons": {str(pid): q for pid, q in sorted(add_ons)},
    }


def asset_state(asset: Asset) -> dict:
    return {
        "quantity": asset.quantity,
        "status": asset.status,
        "purchase_date": asset.purchase_date.isoformat(),
    }


def _write(
    session: Session,
    tenant: TenantReseller,
    subject: str,
    action: str,
    subject_id: int,
    *,
    order_id: int | None = None,
    effective_date: date | None = None,
    payload: dict | None = None,
) -> None:
    session.add(
        BackorderEvent(
            tenant_id=tenant.id,
            org_id=tenant.org_id,
            subject=subject,
            action=action,
            subject_id=subject_id,
            order_id=order_id,
            effective_date=effective_date,
            payload=payload or {},
        )
    )
    session.flush()
    session.info.setdefault(PENDING_KEY, set()).add(tenant.id)


def record_subscription_sale(
    session: Session,
    org: Organisation,
    sub: Subscription,
    action: str,
    order_id: int | None,
    effective_date: date,
) -> None:
    """A sale of SUB (ACTION: an order type) executed in ORG: recorded when the parent
    mirrors it (a paid subscription of a product that came from the parent)."""
    tenant = recording_tenant(session, org)
    if tenant is None or not sub.paid or not from_parent(session, sub.product_id):
        return
    _write(
        session,
        tenant,
        "subscription",
        action,
        sub.id,
        order_id=order_id,
        effective_date=effective_date,
        payload=subscription_state(session, sub),
    )


def record_asset_sale(
    session: Session, org: Organisation, asset: Asset, order_id: int | None
) -> None:
    """The sale of ASSET in ORG: recorded when its product came from the parent."""
    tenant = recording_tenant(session, org)
    if tenant is None or not from_parent(session, asset.product_id):
        return
    _write(
        session,
        tenant,
        "asset",
        "new",
        asset.id,
        order_id=order_id,
        effective_date=asset.purchase_date,
        payload=asset_state(asset),
    )


def record_customer_change(
    session: Session, org: Organisation, account: Account, changed: list[str]
) -> None:
    """A change of ACCOUNT's kept fields in ORG: its record in the parent follows."""
    if not set(changed) & set(KEPT_FIELDS):
        return
    tenant = recording_tenant(session, org)
    if tenant is None:
        return
    _write(
        session,
        tenant,
        "customer",
        "edit",
        account.id,
        payload={f: getattr(account, f) for f in KEPT_FIELDS},
    )


def adopt_existing(session: Session, tenant: TenantReseller) -> int:
    """When back-ordering is switched on: an event for each paid subscription and asset of a
    parent product that the tenant sold before and that has no mirror yet (the parent gets
    the mirror, without an order: the sale happened before). Returns how many."""
    subs = _not_mirrored(
        session,
        tenant,
        Subscription,
        Subscription.source_subscription_id,
        Subscription.paid.is_(True),
    )
    for sub in subs:
        _write(
            session,
            tenant,
            "subscription",
            "adopt",
            sub.id,
            effective_date=sub.start_date,
            payload=subscription_state(session, sub),
        )
    assets = _not_mirrored(session, tenant, Asset, Asset.source_asset_id)
    for asset in assets:
        _write(
            session,
            tenant,
            "asset",
            "adopt",
            asset.id,
            effective_date=asset.purchase_date,
            payload=asset_state(asset),
        )
    return len(subs) + len(assets)


def _not_mirrored(session: Session, tenant: TenantReseller, model, source, *where) -> list:
    """The TENANT's own MODEL rows (subscriptions or assets; SOURCE: the column naming the
    row one was copied from) that are not cancelled, are of a product that came from the
    parent, and have no mirror in the parent yet; WHERE: any further condition."""
    mirrored = select(source).where(model.org_id == tenant.parent_org_id, source.is_not(None))
    return (
        session.execute(
            select(model)
            .join(Product, Product.id == model.product_id)
            .where(
                model.org_id == tenant.org_id,
                *where,
                model.status != "cancelled",
                Product.source_product_id.is_not(None),
                source.is_(None),
                model.id.not_in(mirrored),
            )
            .order_by(model.id)
        )
        .scalars()
        .all()
    )

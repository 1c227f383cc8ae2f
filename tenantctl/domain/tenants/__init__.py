"""Tenant resellers: found, listed and shown (SPEC section 3).

Made by the queued process of `creation`, their catalogue copied set-wise by
`catalogue_copy`. This module is what every command that names a tenant imports, so it
imports neither of them: `tenant list` and `tenant show` load no queue and no copy code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from tenantctl.errors import NotFound
from tenantctl.store import models as m
from tenantctl.store.models import Account, Organisation, PriceList, TenantReseller


def count_in_org(session: Session, model, org_id: int) -> int:
    return session.execute(
        select(func.count()).select_from(model).where(model.org_id == org_id)
    ).scalar_one()


# --- showing tenants ---------------------------------------------------------------------


@dataclass(frozen=True)
class TenantView:
    account: str
    name: str
    client_id: str | None
    edition: str
    status: str
    phase: str
    backorder_state: str
    price_list: str
    price_list_revision: int | None
    created_at: datetime


@dataclass(frozen=True)
class TenantDetail(TenantView):
    separate_invoices: bool
    currency: str | None
    language: str | None
    timezone: str | None
    date_format: str | None
    products: int
    units: int
    users: int
    storefront: str | None
    provisioning: list[str]


def _views(session: Session, where=None) -> list[tuple[TenantReseller, TenantView]]:
    tr, acc, org, pl = (
        TenantReseller.__table__,
        Account.__table__,
        Organisation.__table__,
        PriceList.__table__,
    )
    stmt = (
        select(
            tr,
            acc.c.code,
            acc.c.name.label("account_name"),
            org.c.client_id,
            pl.c.name.label("price_list_name"),
        )
        .join(acc, acc.c.id == tr.c.account_id)
        .join(pl, pl.c.id == tr.c.price_list_id)
        .outerjoin(org, org.c.id == tr.c.org_id)
        .order_by(acc.c.code)
    )
    if where is not None:
        stmt = stmt.where(where)
    rows = session.execute(stmt).all()
    return [
        (
            r,
            TenantView(
                r.code,
                r.account_name,
                r.client_id,
                r.edition,
                r.status,
                r.phase,
                r.backorder_state,
                r.price_list_name,
                r.price_list_revision,
                r.created_at,
            ),
        )
        for r in rows
    ]


def list_tenants(session: Session, parent_id: int) -> list[TenantView]:
    """The tenant resellers of the org PARENT_ID with their phase, back-ordering state and
    client id."""
    return [view for _, view in _views(session, TenantReseller.parent_org_id == parent_id)]


@dataclass(frozen=True)
class TenantNode:
    """One tenant reseller in the tree, with the tenants it made in turn."""

    account: str
    name: str
    client_id: str | None
    status: str
    phase: str
    backorder_state: str
    tenants: list[TenantNode]


def tenant_tree(session: Session, parent_id: int) -> list[TenantNode]:
    """Every tenant reseller below the org PARENT_ID, level by level: one query for the
    whole tree, nested in Python."""
    children: dict[int, list[tuple[TenantReseller, TenantView]]] = {}
    for row, view in _views(session):
        children.setdefault(row.parent_org_id, []).append((row, view))

    def nodes(org_id: int | None) -> list[TenantNode]:
        return [
            TenantNode(
                view.account,
                view.name,
                view.client_id,
                view.status,
                view.phase,
                view.backorder_state,
                nodes(row.org_id) if row.org_id is not None else [],
            )
            for row, view in children.get(org_id, [])
        ]

    return nodes(parent_id)


def find_tenant(session: Session, ref: str, parent_id: int) -> TenantReseller:
    """A tenant reseller of the org PARENT_ID by its client id or reseller account code
    (a tenant of another org is not found, whatever its code)."""
    tenant = (
        session.execute(
            select(TenantReseller)
            .join(Account, Account.id == TenantReseller.account_id)
            .outerjoin(Organisation, Organisation.id == TenantReseller.org_id)
            .where(
                TenantReseller.parent_org_id == parent_id,
                (Account.code == ref) | (Organisation.client_id == ref),
            )
        )
        .scalars()
        .first()
    )
    if tenant is None:
        raise NotFound(f"no tenant reseller {ref!r} (give a client id or an account code)")
    return tenant


def find_tenant_code(session: Session, tenant: TenantReseller) -> str:
    """The reseller account code of a tenant (how operators name it)."""
    return session.get(Account, tenant.account_id).code


def tenant_detail(session: Session, ref: str, parent_id: int) -> TenantDetail:
    """One tenant reseller of the org PARENT_ID with what its BSS holds."""
    tenant = find_tenant(session, ref, parent_id)
    ((row, view),) = _views(session, TenantReseller.id == tenant.id)
    org = session.get(Organisation, tenant.org_id) if tenant.org_id else None
    # The tables of what a tenant holds are named through `m`, mapped when first used here:
    # `tenant list` (this module) maps none of them.
    counts = {
        model: (count_in_org(session, model, org.id) if org else 0)
        for model in (m.Product, m.ProductUnit, m.User)
    }
    storefront = (
        session.execute(select(m.Storefront.name).where(m.Storefront.org_id == org.id)).scalar()
        if org
        else None
    )
    provisioning = (
        sorted(
            session.execute(
                select(m.ProvisioningSetting.platform).where(m.ProvisioningSetting.org_id == org.id)
            ).scalars()
        )
        if org
        else []
    )
    return TenantDetail(
        **{f: getattr(view, f) for f in TenantView.__dataclass_fields__},
        separate_invoices=tenant.separate_invoices,
        currency=org.currency if org else None,
        language=org.language if org else None,
        timezone=org.timezone if org else None,
        date_format=org.date_format if org else None,
        products=counts[m.Product],
        units=counts[m.ProductUnit],
        users=counts[m.User],
        storefront=storefront,
        provisioning=provisioning,
    )


def set_separate_invoices(
    session: Session, ref: str, parent_id: int, separate: bool
) -> tuple[bool, bool]:
    """Change the tenant's "separate invoices" setting; (before, after). It applies to the
    customers copied up afterwards: a mirrored account keeps its own (`account set`)."""
    tenant = find_tenant(session, ref, parent_id)
    before = tenant.separate_invoices
    tenant.separate_invoices = separate
    session.flush()
    return before, separate

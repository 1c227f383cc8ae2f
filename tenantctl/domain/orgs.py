"""Organisations and the lookups every capability needs."""

from __future__ import annotations

from sqlmodel import Session, select

from tenantctl.errors import NotFound
from tenantctl.store import models as m
from tenantctl.store.models import Account, Organisation, PriceList


def root_org(session: Session) -> Organisation:
    """The distributor's root organisation."""
    org = session.exec(select(Organisation).where(Organisation.kind == "root")).first()
    if org is None:
        raise NotFound(
            "the store has no root organisation yet: load a data set first "
            "(tenantctl load FILE.yaml)"
        )
    return org


def get_account(session: Session, org: Organisation, code: str) -> Account:
    return _find(session, org, Account.code, code, "account")


def get_price_list(
    session: Session, org: Organisation, name: str, *, for_update: bool = False
) -> PriceList:
    return _find(session, org, PriceList.name, name, "price list", for_update=for_update)


def get_product(session: Session, org: Organisation, sku: str) -> m.Product:
    # Named here, not imported: every command looks up its org, few look up a product.
    return _find(session, org, m.Product.sku, sku, "product")


def _find(session: Session, org: Organisation, key, value: str, what: str, *, for_update=False):
    """ORG's row whose KEY column (Account.code, ...) is VALUE; NotFound names it WHAT."""
    model = key.class_
    stmt = select(model).where(model.org_id == org.id, key == value)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.exec(stmt).first()
    if found is None:
        raise NotFound(f"{what} {value!r} not found in {org.name}")
    return found


def current_org(session: Session, org_id: int | None) -> Organisation:
    """The org a command acts in: the tenant ORG_ID, or the distributor's root."""
    if org_id is None:
        return root_org(session)
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} not found")
    return org

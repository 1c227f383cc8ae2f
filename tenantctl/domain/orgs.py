"""Organisations and the lookups every capability needs."""

from __future__ import annotations

from sqlmodel import Session, select

from tenantctl.errors import NotFound
from tenantctl.store.models import Account, Organisation, PriceList, Product


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
    account = session.exec(
        select(Account).where(Account.org_id == org.id, Account.code == code)
    ).first()
    if account is None:
        raise NotFound(f"account {code!r} not found in {org.name}")
    return account


def get_price_list(
    session: Session, org: Organisation, name: str, *, for_update: bool = False
) -> PriceList:
    stmt = select(PriceList).where(PriceList.org_id == org.id, PriceList.name == name)
    if for_update:
        stmt = stmt.with_for_update()
    price_list = session.exec(stmt).first()
    if price_list is None:
        raise NotFound(f"price list {name!r} not found in {org.name}")
    return price_list


def get_product(session: Session, org: Organisation, sku: str) -> Product:
    product = session.exec(
        select(Product).where(Product.org_id == org.id, Product.sku == sku)
    ).first()
    if product is None:
        raise NotFound(f"product {sku!r} not found in {org.name}")
    return product


def current_org(session: Session, org_id: int | None) -> Organisation:
    """The org a command acts in: the tenant ORG_ID, or the distributor's root."""
    if org_id is None:
        return root_org(session)
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} not found")
    return org

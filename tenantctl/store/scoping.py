"""Org scoping: the one mechanism that keeps a tenant context inside its own organisation.

A session opened for an organisation (`write_session(engine, org_id=...)` or
`read_session(..., org_id=...)`) gets, on every ORM statement it runs, a WHERE criterion
per table saying "rows of this org only" (for child tables: rows whose parent is of this
org). So no query written in a tenant context can see or change another org's rows, even
by id. Statements the criteria cannot reach (Core statements on bare tables) are refused
in such a session, and the flush refuses to write a row of another org.
"""

from __future__ import annotations

import functools

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from tenantctl.errors import Refused
from tenantctl.store import models as m

ORG_KEY = "tenantctl_org_id"

# Tables with their own org_id column. Named, not imported: a command maps only the tables
# it uses (tenantctl.store.models); opening a scoped session maps every table named here
# (`scoped_info`), so the criteria of its statements cover all of them.
_OWNED = (
    "Account",
    "Asset",
    "BackorderEvent",
    "PriceList",
    "Product",
    "ProductChange",
    "ProductUnit",
    "ProvisioningSetting",
    "SalesOrder",
    "Storefront",
    "Subscription",
    "TenantUpdateLog",
    "User",
    "UserGroup",
    # Billing (SPEC section 8): what an org issued to its tenant resellers.
    "BillingCycle",
    "Invoice",
    "InvoiceCounter",
)

# Tables without org_id: the parent row (table, foreign key) that says whose a row is.
_PARENT_OF = {
    "Contact": ("Account", "account_id"),
    "SyncRecord": ("Account", "account_id"),
    "SubscriptionAddon": ("Subscription", "subscription_id"),
    "OrderLine": ("SalesOrder", "order_id"),
    "PriceListItem": ("PriceList", "price_list_id"),
    "PriceListRevision": ("PriceList", "price_list_id"),
    "InvoiceLine": ("Invoice", "invoice_id"),
}


@functools.cache
def owned_tables() -> tuple[type, ...]:
    """The tables with their own org_id column (mapped by the first call)."""
    return tuple(getattr(m, name) for name in _OWNED)


@functools.cache
def parent_of() -> dict[type, tuple[type, str]]:
    """The tables without org_id, each with its parent table and the foreign key to it
    (mapped by the first call)."""
    return {
        getattr(m, child): (getattr(m, parent), key) for child, (parent, key) in _PARENT_OF.items()
    }


@functools.lru_cache(maxsize=256)
def _criteria(org_id: int) -> tuple:
    """The loader criteria of one org (built once per org: building them is costly, and
    the options are immutable, so every statement of that org can share them)."""
    options = [
        with_loader_criteria(model, lambda cls: cls.org_id == org_id, include_aliases=True)
        for model in owned_tables()
    ]
    options += [
        with_loader_criteria(m.Organisation, lambda cls: cls.id == org_id, include_aliases=True),
        # Its own tenants, and (read-only, see the flush guard) its own tenant row.
        with_loader_criteria(
            m.TenantReseller,
            lambda cls: (cls.parent_org_id == org_id) | (cls.org_id == org_id),
            include_aliases=True,
        ),
        with_loader_criteria(
            m.Contact,
            lambda cls: cls.account_id.in_(select(m.Account.id).where(m.Account.org_id == org_id)),
            include_aliases=True,
        ),
        with_loader_criteria(
            m.SyncRecord,
            lambda cls: cls.account_id.in_(select(m.Account.id).where(m.Account.org_id == org_id)),
            include_aliases=True,
        ),
        with_loader_criteria(
            m.SubscriptionAddon,
            lambda cls: cls.subscription_id.in_(
                select(m.Subscription.id).where(m.Subscription.org_id == org_id)
            ),
            include_aliases=True,
        ),
        with_loader_criteria(
            m.OrderLine,
            lambda cls: cls.order_id.in_(
                select(m.SalesOrder.id).where(m.SalesOrder.org_id == org_id)
            ),
            include_aliases=True,
        ),
        with_loader_criteria(
            m.PriceListItem,
            lambda cls: cls.price_list_id.in_(
                select(m.PriceList.id).where(m.PriceList.org_id == org_id)
            ),
            include_aliases=True,
        ),
        with_loader_criteria(
            m.PriceListRevision,
            lambda cls: cls.price_list_id.in_(
                select(m.PriceList.id).where(m.PriceList.org_id == org_id)
            ),
            include_aliases=True,
        ),
        with_loader_criteria(
            m.InvoiceLine,
            lambda cls: cls.invoice_id.in_(select(m.Invoice.id).where(m.Invoice.org_id == org_id)),
            include_aliases=True,
        ),
    ]
    return tuple(options)


def scoped_info(org_id: int) -> dict:
    """The info of a session scoped to ORG_ID. Every table the scoping names is mapped
    here, before the session's first statement or flush."""
    for name in ("Organisation", "TenantReseller", *_OWNED, *_PARENT_OF):
        getattr(m, name)
    return {ORG_KEY: org_id}


def scoped_org(session: Session) -> int | None:
    """The org a session is scoped to (None for the distributor's unscoped sessions)."""
    return session.info.get(ORG_KEY)


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    org_id = scoped_org(state.session)
    if org_id is None:
        return
    if state.is_column_load or state.is_relationship_load:
        return
    if not state.all_mappers and (
        state.is_select or state.is_update or state.is_delete or state.is_insert
    ):
        raise Refused(
            "internal: a statement on bare tables cannot be scoped to an "
            "organisation; use the ORM entities in a tenant context"
        )
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(*_criteria(org_id))


@event.listens_for(Session, "before_flush")
def _refuse_foreign_rows(session: Session, _context, _instances) -> None:
    org_id = scoped_org(session)
    if org_id is None:
        return
    children = parent_of()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, m.TenantReseller):
            raise Refused("a tenant reseller's settings are the distributor's to change")
        if type(obj) in children:
            parent_model, key = children[type(obj)]
            # The parent is loaded through this scoped session: another org's is not found.
            parent_id = getattr(obj, key)
            owned = parent_id is not None and session.get(parent_model, parent_id) is not None
        else:
            owner = obj.id if isinstance(obj, m.Organisation) else getattr(obj, "org_id", org_id)
            owned = owner == org_id
        if not owned:
            raise Refused(
                f"a {type(obj).__name__} of another organisation cannot be changed from this one"
            )

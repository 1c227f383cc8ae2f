"""Discarding a tenant creation that failed or was cancelled (`tenant discard`).

A creation stopped half-way leaves an `in-progress` tenant reseller, perhaps with part of
its organisation built (the organisation, its administrator, some of the catalogue). The
account cannot be made a tenant again while that row exists; `process retry` resumes the
creation as it was asked for, and discarding drops it so that it can be asked for anew.

Everything the half-built organisation holds is deleted in one transaction, set-based,
table by table (children first). A tenant whose creation finished, whose creation is
still queued or running, or whose organisation already holds customers or sales is never
discarded; nor is one whose reseller has started to work in it (its own products, price
lists or users). The creation process stays in the queue's history; the tenant row it
named is gone, so a later retry of it is refused at its first task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlmodel import Session

from tenantctl import jobs
from tenantctl.domain.tenants import find_tenant, find_tenant_code
from tenantctl.domain.tenants.catalogue_copy import retail_price_list_name
from tenantctl.domain.tenants.creation import CREATE_KIND, creation_lock_key
from tenantctl.errors import Busy, NotFound, Refused
from tenantctl.store.engine import COUNT_ROWS, write_session
from tenantctl.store.models import (
    Account,
    Asset,
    Organisation,
    PriceList,
    Product,
    SalesOrder,
    Subscription,
    TenantReseller,
    User,
    load_all,
)
from tenantctl.store.scoping import parent_of
from tenantctl.words import plural

# What a reseller may have sold in its own organisation: never deleted by a discard.
_SALES = (
    (Account, "account"),
    (Subscription, "subscription"),
    (Asset, "asset"),
    (SalesOrder, "order"),
)


@dataclass(frozen=True)
class Discarded:
    """What `tenant discard` dropped: the rows deleted, by table."""

    tenant: str
    client_id: str | None
    process_id: int | None
    process_status: str | None
    deleted: dict[str, int] = field(default_factory=dict)


def discard_tenant(engine, ref: str, parent_id: int) -> Discarded:
    """Drop the in-progress tenant reseller REF of the org PARENT_ID and everything its
    creation built."""
    with write_session(engine) as session:
        tenant = _locked(session, find_tenant(session, ref, parent_id).id)
        code = find_tenant_code(session, tenant)
        if tenant.status != "in-progress":
            raise Refused(
                f"tenant reseller {code} is {tenant.status}: only a creation that "
                "failed or was cancelled can be discarded"
            )
        process = _creation_process(session, tenant)
        if process is not None and process.active:
            raise Busy(
                f"the creation of {code} (process {process.id}) is "
                f"{process.status}: cancel it first with "
                f"`tenantctl process cancel {process.id}`"
            )
        org = session.get(Organisation, tenant.org_id) if tenant.org_id else None
        deleted: dict[str, int] = {}
        if org is not None:
            _refuse_if_in_use(session, code, org)
            deleted = _delete_rows_of(session, org.id)
        deleted["tenant_reseller"] = _delete(session, TenantReseller, tenant.id)
        if org is not None:
            deleted["organisation"] = _delete(session, Organisation, org.id)
        if process is not None:
            jobs.add_log(
                session,
                process.id,
                f"tenant reseller {code} discarded with "
                f"`tenantctl tenant discard`: "
                f"{plural(sum(deleted.values()), 'row')} deleted; a retry of this "
                "process is refused",
                level="warning",
            )
        return Discarded(
            code,
            org.client_id if org else None,
            process.id if process else None,
            process.status if process else None,
            deleted,
        )


def _locked(session: Session, tenant_id: int) -> TenantReseller:
    """The tenant row read again under a row lock (FOR UPDATE on PostgreSQL; SQLite's
    BEGIN IMMEDIATE already excludes every other writer): of two discards at once, the
    second finds it gone."""
    tenant = (
        session.execute(
            select(TenantReseller)
            .where(TenantReseller.id == tenant_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        .scalars()
        .first()
    )
    if tenant is None:
        raise NotFound("the tenant reseller was discarded meanwhile")
    return tenant


def _creation_process(session: Session, tenant: TenantReseller) -> jobs.ProcessState | None:
    """The process that creates TENANT, its row locked until the discard commits (a
    concurrent `process retry` or cancel waits for it). For a tenant asked for before its
    creation process was recorded: the newest creation process of its account."""
    if tenant.creation_process_id is not None:
        return jobs.lock_process(session, tenant.creation_process_id)
    return jobs.lock_process(
        session, kind=CREATE_KIND, lock_key=creation_lock_key(tenant.account_id)
    )


def _refuse_if_in_use(session: Session, code: str, org: Organisation) -> None:
    """Refuse when the tenant holds what its reseller entered, not only what its creation
    built: customers, sales, its own products or price lists, other users."""

    def count(model, *where) -> int:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

    held = [
        plural(n, noun) for model, noun in _SALES if (n := count(model, model.org_id == org.id))
    ]
    checks = (
        (
            count(Product, Product.org_id == org.id, Product.source_product_id.is_(None)),
            "product of its own",
            "products of its own",
        ),
        (
            count(
                PriceList,
                PriceList.org_id == org.id,
                PriceList.name != retail_price_list_name(org.currency),
            ),
            "price list of its own",
            "price lists of its own",
        ),
        (
            count(User, User.org_id == org.id) - 1,
            "user besides its administrator",
            "users besides its administrator",
        ),
        (
            count(Account, Account.managed_by_org_id == org.id),
            "root account managed by it",
            "root accounts managed by it",
        ),
    )
    held += [plural(n, one, many) for n, one, many in checks if n > 0]
    if held:
        raise Refused(
            f"tenant reseller {code} already holds {', '.join(held)}: it is in use "
            "and cannot be discarded; nothing was deleted"
        )


def _delete(session: Session, model, row_id: int) -> int:
    return session.execute(
        delete(model).where(model.id == row_id), execution_options=COUNT_ROWS
    ).rowcount


def _delete_rows_of(session: Session, org_id: int) -> dict[str, int]:
    """Delete every row of organisation ORG_ID, children before parents; the organisation
    and its tenant row are left to the caller. Returns the counts deleted by table."""
    children = {
        model.__table__.name: (parent.__table__, key)
        for model, (parent, key) in parent_of().items()
    }
    kept = {Organisation.__tablename__, TenantReseller.__tablename__}
    deleted: dict[str, int] = {}
    for table in reversed(load_all().sorted_tables):
        if table.name in kept:
            continue
        if "org_id" in table.c:
            where = table.c.org_id == org_id
        elif table.name in children:
            parent, key = children[table.name]
            where = table.c[key].in_(select(parent.c.id).where(parent.c.org_id == org_id))
        else:
            continue  # not an organisation's row (the process queue, say)
        count = session.execute(delete(table).where(where), execution_options=COUNT_ROWS).rowcount
        if count:
            deleted[table.name] = count
    return deleted

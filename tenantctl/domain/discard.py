"""Discarding a tenant creation that failed or was cancelled (`tenant discard`).

A creation stopped half-way leaves an `in-progress` tenant reseller, perhaps with part of
its organisation built (the organisation, its administrator, some of the catalogue). The
account cannot be made a tenant again while that row exists; `process retry` resumes the
creation as it was asked for, and discarding drops it so that it can be asked for anew.

Everything the half-built organisation holds is deleted in one transaction, set-based,
table by table (children first). A tenant whose creation finished, whose creation is
still queued or running, or whose organisation already holds customers or sales is never
discarded. The creation process stays in the queue's history; the tenant row it named is
gone, so a later retry of it is refused at its first task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlmodel import Session, SQLModel

from tenantctl.domain.tenants import find_tenant, find_tenant_code
from tenantctl.errors import Busy, Refused
from tenantctl.jobs.models import ACTIVE_STATUSES, Process
from tenantctl.jobs.queue import add_log
from tenantctl.store.engine import write_session
from tenantctl.store.models import (
    Account,
    Asset,
    Organisation,
    SalesOrder,
    Subscription,
    TenantReseller,
)
from tenantctl.store.scoping import PARENT_OF

# What a reseller may have entered in its own organisation: never deleted by a discard.
_SALES = ((Account, "account"), (Subscription, "subscription"), (Asset, "asset"),
          (SalesOrder, "order"))


@dataclass(frozen=True)
class Discarded:
    """What `tenant discard` dropped: the rows deleted, by table."""

    tenant: str
    client_id: str | None
    process_id: int | None
    process_status: str | None
    deleted: dict[str, int] = field(default_factory=dict)


def discard_tenant(engine, ref: str) -> Discarded:
    """Drop the in-progress tenant reseller REF and everything its creation built."""
    with write_session(engine) as session:
        tenant = find_tenant(session, ref)
        code = find_tenant_code(session, tenant)
        if tenant.status != "in-progress":
            raise Refused(f"{code} is an {tenant.status} tenant reseller: only a creation "
                          "that failed or was cancelled can be discarded")
        process = _creation_process(session, tenant)
        if process is not None and process.status in ACTIVE_STATUSES:
            raise Busy(f"the creation of {code} (process {process.id}) is "
                           f"{process.status}: cancel it first with "
                           f"`tenantctl process cancel {process.id}`")
        org = session.get(Organisation, tenant.org_id) if tenant.org_id else None
        deleted: dict[str, int] = {}
        if org is not None:
            _refuse_if_in_use(session, code, org.id)
            deleted = _delete_rows_of(session, org.id)
        session.execute(delete(TenantReseller).where(TenantReseller.id == tenant.id))
        deleted["tenant_reseller"] = 1
        if org is not None:
            session.execute(delete(Organisation).where(Organisation.id == org.id))
            deleted["organisation"] = 1
        if process is not None:
            add_log(session, process.id, f"tenant reseller {code} discarded with "
                    f"`tenantctl tenant discard`: {sum(deleted.values())} row(s) deleted; "
                    "retrying this process is refused", level="warning")
        return Discarded(code, org.client_id if org else None,
                         process.id if process else None,
                         process.status if process else None, deleted)


def _creation_process(session: Session, tenant: TenantReseller):
    """The process that creates TENANT, its row locked until the discard commits (a
    concurrent `process retry` or cancel waits for it)."""
    if tenant.creation_process_id is None:
        return None
    stmt = select(Process.id, Process.status).where(Process.id == tenant.creation_process_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.execute(stmt).first()


def _refuse_if_in_use(session: Session, code: str, org_id: int) -> None:
    held = []
    for model, noun in _SALES:
        n = session.execute(select(func.count()).select_from(model)
                            .where(model.org_id == org_id)).scalar_one()
        if n:
            held.append(f"{n} {noun}(s)")
    managed = session.execute(select(func.count()).select_from(Account)
                              .where(Account.managed_by_org_id == org_id)).scalar_one()
    if managed:
        held.append(f"{managed} root account(s) managed by it")
    if held:
        raise Refused(f"tenant reseller {code} already holds {', '.join(held)}: it is in use "
                      "and cannot be discarded; nothing was deleted")


def _delete_rows_of(session: Session, org_id: int) -> dict[str, int]:
    """Delete every row of organisation ORG_ID, children before parents; the organisation
    and its tenant row are left to the caller. Returns the counts deleted by table."""
    children = {model.__table__.name: (parent.__table__, key)
                for model, (parent, key) in PARENT_OF.items()}
    kept = {Organisation.__tablename__, TenantReseller.__tablename__}
    deleted: dict[str, int] = {}
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name in kept:
            continue
        if "org_id" in table.c:
            where = table.c.org_id == org_id
        elif table.name in children:
            parent, key = children[table.name]
            where = table.c[key].in_(select(parent.c.id).where(parent.c.org_id == org_id))
        else:
            continue  # not an organisation's row (the process queue, say)
        count = session.execute(delete(table).where(where),
                                execution_options={"preserve_rowcount": True}).rowcount
        if count:
            deleted[table.name] = count
    return deleted

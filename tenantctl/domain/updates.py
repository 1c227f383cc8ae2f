"""Applying the distributor's catalogue updates to tenants (SPEC section 6).

An update compares the parent price list's revision in effect with what the tenant
actually holds and applies only the differences: new products and units copied in at cost,
changed purchase prices, discontinued units (existing subscriptions keep running), add-on
relations, and with flags sell prices and names. Each applied change writes one entry of the
update tenant log in the same transaction, under a unique key, so an update interrupted by
kill -9 and resumed, or run twice, never applies or logs a change twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from tenantctl import config, jobs
from tenantctl.domain.catalogue import (
    PriceRow,
    listed_items,
    record_revision,
    revision_in_effect,
)
from tenantctl.domain.tenants import (
    COPY_BATCH,
    copy_catalogue_batch,
    copy_units,
    ensure_retail_price_list,
    find_tenant,
    find_tenant_code,
    link_add_ons,
    retail_price_list_name,
)
from tenantctl.errors import BatchFailed, Conflict, TenantctlError
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import (
    Account,
    Organisation,
    PriceList,
    PriceListRevision,
    Product,
    ProductUnit,
    TenantReseller,
    TenantUpdateLog,
    utcnow,
)

UPDATE_KIND = "tenant.update"
ADDED, PRICE, DISCONTINUED, ADD_ON, RENAMED, SELL = (
    "added", "price-changed", "discontinued", "add-on-changed", "renamed", "sell-price-changed")
SKIPPED_STATUSES = ("in-progress", "suspended", "deleted")


@dataclass(frozen=True)
class Options:
    partial: bool = False
    sell_prices: bool = False
    names: bool = False


@dataclass(frozen=True)
class Change:
    change: str
    sku: str
    unit: str
    old: str | None
    new: str | None


@dataclass
class UpdatePlan:
    tenant: str
    from_revision: int | None
    to_revision: int | None
    changes: list[Change] = field(default_factory=list)

    partial: bool = False
    process_id: int | None = None

    @property
    def up_to_date(self) -> bool:
        # A partial update never moves the revision: nothing to change is up to date.
        return not self.changes and (self.partial or self.from_revision == self.to_revision)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.change] = out.get(c.change, 0) + 1
        return out


def _text(value) -> str | None:
    return None if value is None else str(value)


def plan_update(session: Session, tenant: TenantReseller, as_of: date, options: Options
                ) -> UpdatePlan:
    """The changes that would bring the tenant in step with the revision in effect on AS_OF."""
    account = session.get(Account, tenant.account_id)
    target = revision_in_effect(session, tenant.price_list_id, as_of)
    if tenant.price_list_revision is not None and (target or 0) < tenant.price_list_revision:
        # Applied ahead with --as-of: a later run never takes the tenant back.
        target = tenant.price_list_revision
    plan = UpdatePlan(account.code, tenant.price_list_revision, target, partial=options.partial)
    if target is None or tenant.org_id is None:
        return plan
    wanted = listed_items(session, tenant.price_list_id, target)
    source, copy = aliased(Product), aliased(Product)
    held = {(r.sku, r.unit): r for r in session.execute(
        select(source.sku, ProductUnit.unit, ProductUnit.cost_price, ProductUnit.status,
               copy.name, source.name.label("source_name"))
        .join(copy, copy.id == ProductUnit.product_id)
        .join(source, source.id == copy.source_product_id)
        .where(ProductUnit.org_id == tenant.org_id))}
    changes = plan.changes
    sell = _sell_prices(session, tenant.org_id) if options.sell_prices else {}
    for key in sorted(wanted):
        item, have = wanted[key], held.get(key)
        if have is None or have.status != "active":
            if not options.partial:
                changes.append(Change(ADDED, key[0], key[1], None, _text(item.price)))
        elif have.cost_price != item.price:
            changes.append(Change(PRICE, key[0], key[1], _text(have.cost_price),
                                  _text(item.price)))
            if options.sell_prices:
                changes.append(Change(SELL, key[0], key[1], _text(sell.get(key)),
                                      _text(item.price)))
    if options.partial:
        return plan
    for key in sorted(held.keys() - wanted.keys()):
        if held[key].status == "active":
            changes.append(Change(DISCONTINUED, key[0], key[1], _text(held[key].cost_price),
                                  None))
    changes += _add_on_changes(session, tenant.org_id, tenant.price_list_id, target)
    if options.names:
        names = {sku: (h.name, h.source_name) for (sku, _), h in held.items()}
        changes += [Change(RENAMED, sku, "", old, new)
                    for sku, (old, new) in sorted(names.items()) if old != new]
    return plan


def _add_on_changes(session: Session, org_id: int, price_list_id: int, revision: int
                    ) -> list[Change]:
    """Copies whose add-on relation differs from their source's: the source's parent as the
    tenant will hold it after this update (none when the price list does not list it)."""
    copy, source, parent_copy, source_parent = (aliased(Product) for _ in range(4))
    listed = set(listed_items(session, price_list_id, revision).keys())
    listed_skus = {sku for sku, _ in listed}
    rows = session.execute(
        select(copy.sku, parent_copy.sku.label("have"), source_parent.sku.label("want"))
        .join(source, source.id == copy.source_product_id)
        .outerjoin(parent_copy, parent_copy.id == copy.add_on_of_id)
        .outerjoin(source_parent, source_parent.id == source.add_on_of_id)
        .where(copy.org_id == org_id)).all()
    changes = []
    for r in sorted(rows):
        want = r.want if r.want in listed_skus or r.want == r.have else None
        if r.have != want:
            changes.append(Change(ADD_ON, r.sku, "", r.have, want))
    return changes


def _sell_prices(session: Session, org_id: int) -> dict[tuple[str, str], Decimal]:
    """The tenant's current sell prices by (source SKU, unit)."""
    currency = session.get(Organisation, org_id).currency
    retail_id = session.execute(select(PriceList.id).where(
        PriceList.org_id == org_id, PriceList.name == retail_price_list_name(currency))
        ).scalar()
    if retail_id is None:
        return {}
    return {key: item.price for key, item in listed_items(session, retail_id).items()}


# --- queueing ------------------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateOutcome:
    tenant: str
    status: str  # up-to-date | planned | queued | succeeded | failed | skipped
    from_revision: int | None
    to_revision: int | None
    counts: dict
    process_id: int | None = None
    error: str | None = None
    changes: list[Change] = field(default_factory=list)


def tenants_to_update(session: Session, ref: str | None) -> tuple[list[TenantReseller],
                                                                 list[tuple[str, str]]]:
    """The tenants an update names (one, or every tenant), and those skipped with why."""
    if ref is not None:
        tenant = find_tenant(session, ref)
        if tenant.status in SKIPPED_STATUSES:
            raise Conflict(f"tenant reseller {ref} is {tenant.status}: it cannot be updated")
        return [tenant], []
    tenants, skipped = [], []
    rows = session.execute(select(TenantReseller, Account.code)
                           .join(Account, Account.id == TenantReseller.account_id)
                           .order_by(Account.code)).all()
    for tenant, code in rows:
        if tenant.status in SKIPPED_STATUSES:
            skipped.append((code, tenant.status))
        else:
            tenants.append(tenant)
    return tenants, skipped


def request_update(engine, tenant_id: int, as_of: date, options: Options, *,
                   dry_run: bool = False) -> UpdateOutcome:
    """Plan one tenant's update; queue it unless it is up to date or a dry run.

    A tenant has at most one update queued or running (lock key): an overlapping run
    exits 4 (busy) without changing anything.
    """
    with write_session(engine) as session:
        tenant = session.get(TenantReseller, tenant_id)
        plan = plan_update(session, tenant, as_of, options)
        status = "planned" if dry_run else "up-to-date"
        process_id = None
        if not dry_run and not plan.up_to_date:
            process_id = jobs.enqueue(
                session, UPDATE_KIND,
                {"tenant_id": tenant.id, "as_of": as_of.isoformat(),
                 "partial": options.partial, "sell_prices": options.sell_prices,
                 "names": options.names},
                title=f"Update tenant reseller {plan.tenant} to revision {plan.to_revision}",
                lock_key=f"tenant-update:{tenant.id}")
            status = "queued"
        return UpdateOutcome(plan.tenant, status, plan.from_revision, plan.to_revision,
                             plan.counts(), process_id, changes=plan.changes)


@dataclass
class UpdateReport:
    """What `tenant update` did: one outcome per tenant, and the tenants skipped with why."""

    outcomes: list[UpdateOutcome]
    skipped: list[tuple[str, str]]  # (tenant, its status)

    @property
    def failed(self) -> int:
        return sum(o.status == "failed" for o in self.outcomes)

    def raise_if_failed(self) -> None:
        """Exit 5 (some of a batch failed) when any tenant's update failed."""
        if self.failed:
            raise BatchFailed(f"{self.failed} tenant update(s) failed")


def update_tenants(engine, ref: str | None, as_of: date, options: Options, *,
                   dry_run: bool = False, run: Callable[[int], str] | None = None
                   ) -> UpdateReport:
    """Update one tenant (REF: client id or reseller code) or, REF None, every tenant.

    Each update is planned and queued (unless up to date or DRY_RUN); RUN, when given,
    runs a queued process to its end and returns its status. One tenant named: its error
    is raised. Every tenant: a tenant whose update fails is reported as failed and the
    others go on; `raise_if_failed` then exits 5.
    """
    with read_session(engine) as session:
        targets, skipped = tenants_to_update(session, ref)
        targets = [(t.id, find_tenant_code(session, t)) for t in targets]
    outcomes = []
    for tenant_id, code in targets:
        try:
            outcome = request_update(engine, tenant_id, as_of, options, dry_run=dry_run)
            if outcome.process_id is not None and run is not None:
                outcome = replace(outcome, status=run(outcome.process_id))
        except TenantctlError as exc:
            if ref is not None:
                raise
            outcome = UpdateOutcome(code, "failed", None, None, {}, error=str(exc))
        outcomes.append(outcome)
    return UpdateReport(outcomes, skipped)


# --- the update process ---------------------------------------------------------------------

def task_apply_update(ctx) -> None:
    """Apply the differences, each with its update-log entry, in fenced transactions."""
    options = Options(ctx.params["partial"], ctx.params["sell_prices"], ctx.params["names"])
    as_of = date.fromisoformat(ctx.params["as_of"])
    with ctx.transaction() as session:
        tenant = session.get(TenantReseller, ctx.params["tenant_id"])
        plan = plan_update(session, tenant, as_of, options)
        plan.process_id = ctx.process_id
        ctx.save(session, total=len(plan.changes))
        ctx.log(f"{len(plan.changes)} change(s) from revision {plan.from_revision} to "
                f"{plan.to_revision}: {plan.counts() or 'none'}")
    done = _copy_added_in_batches(ctx, plan)
    for kind, apply in ((ADDED, _apply_added), (PRICE, _apply_prices),
                        (DISCONTINUED, _apply_discontinued), (ADD_ON, _apply_add_ons),
                        (RENAMED, _apply_names), (SELL, _apply_sell_prices)):
        changes = [c for c in plan.changes if c.change == kind]
        if not changes:
            continue
        with ctx.transaction() as session:
            tenant = session.get(TenantReseller, ctx.params["tenant_id"])
            apply(session, tenant, plan, changes)
            if kind == ADDED:
                # Those the batches above copied and logged already.
                changes = _not_logged(session, tenant, changes, ctx.process_id)
            _log_changes(session, tenant, plan, changes, ctx.process_id)
            done += len(changes)
            ctx.save(session, done=done, total=len(plan.changes))
        ctx.log(f"applied {len(changes)} {kind}")
    with ctx.transaction() as session:
        tenant = session.get(TenantReseller, ctx.params["tenant_id"])
        if not options.partial:
            # A partial update moves prices only; the tenant stays at its revision so a
            # full update still brings the rest.
            tenant.price_list_revision = plan.to_revision
        ctx.result.update({"from_revision": plan.from_revision,
                           "to_revision": plan.to_revision, "changes": plan.counts()})
        ctx.save(session, done=len(plan.changes), total=len(plan.changes))


def _copy_added_in_batches(ctx, plan: UpdatePlan) -> int:
    """Copy the new products batch by batch, each committed with its log entries."""
    added = [c for c in plan.changes if c.change == ADDED]
    if not added:
        return 0
    while True:
        with ctx.transaction() as session:
            tenant = session.get(TenantReseller, ctx.params["tenant_id"])
            retail_id = ensure_retail_price_list(session, tenant.org_id)
            copied = copy_catalogue_batch(
                session, tenant.org_id, tenant.price_list_id, plan.to_revision, retail_id,
                config.copy_batch(COPY_BATCH),
                _retail_revision(session, retail_id, ctx.process_id))
            present = _held_keys(session, tenant.org_id)
            new = [c for c in _not_logged(session, tenant, added, ctx.process_id)
                   if (c.sku, c.unit) in present]
            link_add_ons(session, tenant.org_id, sorted({c.sku for c in new}))
            _log_changes(session, tenant, plan, new, ctx.process_id)
            logged = len(added) - len(_not_logged(session, tenant, added, ctx.process_id))
            ctx.save(session, done=logged, total=len(plan.changes))
        if not copied:
            return logged
        ctx.log(f"copied new products: {logged} of {len(added)} added items")


def _retail_revision(session: Session, retail_id: int, process_id: int) -> int:
    """The retail list's revision that items added by this update start in (a new one)."""
    label = f"{_UPDATE_REVISION_SOURCE} (process {process_id})"
    latest = session.execute(select(func.max(PriceListRevision.number)).where(
        PriceListRevision.price_list_id == retail_id)).scalar() or 1
    source = session.execute(select(PriceListRevision.source).where(
        PriceListRevision.price_list_id == retail_id,
        PriceListRevision.number == latest)).scalar()
    if latest > 1 and source == label:
        return latest
    session.add(PriceListRevision(price_list_id=retail_id, number=latest + 1, source=label))
    session.flush()
    return latest + 1


_UPDATE_REVISION_SOURCE = "products added by a tenant update"


def _held_keys(session: Session, org_id: int) -> set[tuple[str, str]]:
    source = aliased(Product)
    return {tuple(r) for r in session.execute(
        select(source.sku, ProductUnit.unit)
        .join(Product, Product.id == ProductUnit.product_id)
        .join(source, source.id == Product.source_product_id)
        .where(ProductUnit.org_id == org_id, ProductUnit.status == "active"))}


def _not_logged(session: Session, tenant, changes: list[Change], process_id: int
                ) -> list[Change]:
    logged = {tuple(r) for r in session.execute(
        select(TenantUpdateLog.sku, TenantUpdateLog.unit).where(
            TenantUpdateLog.tenant_id == tenant.id, TenantUpdateLog.process_id == process_id,
            TenantUpdateLog.change == ADDED))}
    return [c for c in changes if (c.sku, c.unit) not in logged]


def _log_changes(session: Session, tenant, plan: UpdatePlan, changes: list[Change],
                 process_id: int) -> None:
    if not changes:
        return
    now = utcnow()
    session.execute(TenantUpdateLog.__table__.insert(), [
        {"tenant_id": tenant.id, "org_id": tenant.org_id, "process_id": process_id,
         "from_revision": plan.from_revision, "to_revision": plan.to_revision,
         "change": c.change, "sku": c.sku, "unit": c.unit, "old_value": c.old,
         "new_value": c.new, "at": now} for c in changes])


def _unit_ids(session: Session, org_id: int, changes: list[Change]) -> dict[tuple, int]:
    source = aliased(Product)
    keys = {(c.sku, c.unit) for c in changes}
    rows = session.execute(
        select(source.sku, ProductUnit.unit, ProductUnit.id)
        .join(Product, Product.id == ProductUnit.product_id)
        .join(source, source.id == Product.source_product_id)
        .where(ProductUnit.org_id == org_id)).all()
    return {(r.sku, r.unit): r.id for r in rows if (r.sku, r.unit) in keys}


def _apply_added(session: Session, tenant, plan: UpdatePlan, changes: list[Change]) -> None:
    """What the product batches left: new units of products the tenant has, and units
    listed again after being discontinued."""
    retail_id = ensure_retail_price_list(session, tenant.org_id)
    copy_units(session, tenant.org_id, tenant.price_list_id, plan.to_revision, retail_id,
               _retail_revision(session, retail_id, plan.process_id))
    # New products come with their add-on relations, as at creation (only theirs: other
    # relation changes are applied and logged as add-on changes).
    link_add_ons(session, tenant.org_id, sorted({c.sku for c in changes}))
    # Units listed again after being discontinued come back at the new cost.
    ids = _unit_ids(session, tenant.org_id, changes)
    relisted = [{"uid": ids[(c.sku, c.unit)], "cost": c.new} for c in changes
                if (c.sku, c.unit) in ids]
    if relisted:
        _set_units(session, relisted, status="active")
    _sync_product_status(session, tenant.org_id)


def _apply_prices(session: Session, tenant, plan: UpdatePlan, changes: list[Change]) -> None:
    ids = _unit_ids(session, tenant.org_id, changes)
    _set_units(session, [{"uid": ids[(c.sku, c.unit)], "cost": c.new} for c in changes])


def _set_units(session: Session, rows: list[dict], status: str | None = None) -> None:
    values = {"cost_price": bindparam("cost")}
    if status:
        values["status"] = status
    session.execute(
        update(ProductUnit.__table__).where(ProductUnit.__table__.c.id == bindparam("uid"))
        .values(**values),
        [{"uid": r["uid"], "cost": Decimal(r["cost"])} for r in rows])


def _apply_discontinued(session: Session, tenant, plan, changes: list[Change]) -> None:
    ids = _unit_ids(session, tenant.org_id, changes)
    session.execute(update(ProductUnit).where(ProductUnit.id.in_(list(ids.values())))
                    .values(status="discontinued")
                    .execution_options(synchronize_session=False))
    _sync_product_status(session, tenant.org_id)


def _sync_product_status(session: Session, org_id: int) -> None:
    """A copied product is active while any of its units is; discontinued otherwise."""
    active_units = (select(func.count(ProductUnit.id))
                    .where(ProductUnit.product_id == Product.id,
                           ProductUnit.status == "active").scalar_subquery())
    for status, condition in (("discontinued", active_units == 0),
                              ("active", active_units > 0)):
        session.execute(update(Product).where(
            Product.org_id == org_id, Product.source_product_id.is_not(None), condition,
            Product.status != status).values(status=status)
            .execution_options(synchronize_session=False))


def _apply_add_ons(session: Session, tenant, plan, changes) -> None:
    link_add_ons(session, tenant.org_id)


def _apply_names(session: Session, tenant, plan, changes: list[Change]) -> None:
    by_sku = {c.sku: c.new for c in changes}
    source = aliased(Product)
    rows = session.execute(select(Product.id, source.sku)
                           .join(source, source.id == Product.source_product_id)
                           .where(Product.org_id == tenant.org_id)).all()
    session.execute(update(Product.__table__).where(Product.__table__.c.id == bindparam("pid"))
                    .values(name=bindparam("new_name")),
                    [{"pid": pid, "new_name": by_sku[sku]} for pid, sku in rows
                     if sku in by_sku])


def _apply_sell_prices(session: Session, tenant, plan, changes: list[Change]) -> None:
    """Set the tenant's own sell prices to the new cost (a new revision of its retail list)."""
    retail_id = ensure_retail_price_list(session, tenant.org_id)
    retail = session.get(PriceList, retail_id)
    current = listed_items(session, retail_id)
    source = aliased(Product)
    sku_of = dict(session.execute(select(source.sku, Product.sku)
                                  .join(Product, Product.source_product_id == source.id)
                                  .where(Product.org_id == tenant.org_id)).all())
    items = {key: PriceRow(key[0], i.name, i.platform, key[1], i.price)
             for key, i in current.items()}
    for c in changes:
        key = (sku_of.get(c.sku, c.sku), c.unit)
        if key in items:
            i = items[key]
            items[key] = PriceRow(i.sku, i.name, i.platform, i.unit, Decimal(c.new))
    ids = {i.sku: i.product_id for i in current.values()}
    record_revision(session, retail, items, ids, source=f"tenant update to revision "
                                                         f"{plan.to_revision}")


jobs.register(jobs.ProcessKind(UPDATE_KIND, [("apply the catalogue changes",
                                              task_apply_update)]))


# --- the update tenant log -----------------------------------------------------------------

@dataclass(frozen=True)
class LogEntryView:
    at: datetime
    change: str
    sku: str
    unit: str
    old: str | None
    new: str | None
    from_revision: int | None
    to_revision: int
    process_id: int | None


def update_log(session: Session, ref: str, since: date | None = None) -> list[LogEntryView]:
    """The update tenant log of one tenant, oldest first."""
    tenant = find_tenant(session, ref)
    stmt = (select(TenantUpdateLog).where(TenantUpdateLog.tenant_id == tenant.id)
            .order_by(TenantUpdateLog.id))
    if since is not None:
        stmt = stmt.where(TenantUpdateLog.at >= datetime(since.year, since.month, since.day,
                                                          tzinfo=UTC))
    return [LogEntryView(e.at, e.change, e.sku, e.unit, e.old_value, e.new_value,
                         e.from_revision, e.to_revision, e.process_id)
            for e in session.execute(stmt).scalars()]


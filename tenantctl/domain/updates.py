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

from sqlalchemy import (
    Float,
    Row,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session

from tenantctl import config, jobs
from tenantctl.domain.catalogue import (
    PriceRow,
    listed_items,
    record_revision,
    revision_in_effect,
)
from tenantctl.domain.tenants import find_tenant, find_tenant_code
from tenantctl.domain.tenants.catalogue_copy import (
    COPY_BATCH,
    copy_catalogue_batch,
    copy_units,
    ensure_retail_price_list,
    link_add_ons,
    retail_price_list_name,
)
from tenantctl.errors import BatchFailed, Busy, Conflict, TenantctlError
from tenantctl.money import format_amount
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import (
    Account,
    Organisation,
    PriceList,
    PriceListItem,
    PriceListRevision,
    Product,
    ProductUnit,
    TenantReseller,
    TenantUpdateLog,
    utcnow,
)
from tenantctl.words import plural

UPDATE_KIND = "tenant.update"
ADDED, PRICE, DISCONTINUED, ADD_ON, RENAMED, SELL = (
    "added",
    "price-changed",
    "discontinued",
    "add-on-changed",
    "renamed",
    "sell-price-changed",
)
# Not a change: the margin guard's warning, logged after the changes of an update.
BELOW_COST = "below-cost"
# Not a change either: a product the parent added whose SKU the reseller's own product
# holds in the tenant. It is not copied (the reseller's product stays as it is); the update
# reports and logs it so that the distributor can tell the reseller.
SKU_IN_USE = "sku-in-use"
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


@dataclass(frozen=True)
class BelowCost:
    """An item a tenant sells in one of its own price lists for less than the cost an
    update gives it (the margin guard)."""

    sku: str
    unit: str
    cost: Decimal
    price: Decimal
    price_list: str


@dataclass
class UpdatePlan:
    tenant: str
    from_revision: int | None
    to_revision: int | None
    changes: list[Change] = field(default_factory=list)

    partial: bool = False
    process_id: int | None = None
    below_cost: list[BelowCost] = field(default_factory=list)

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


def plan_update(
    session: Session,
    tenant: TenantReseller,
    as_of: date,
    options: Options,
    *,
    below_cost: bool = True,
) -> UpdatePlan:
    """The changes that would bring the tenant in step with the revision in effect on AS_OF
    (and, with BELOW_COST, what they would leave sold below cost).

    The price list stores each item as an interval of revisions, so the items whose listing
    differs between the tenant's revision and the target are the few that start or end in
    between: only those are compared with what the tenant holds (SQL finds them). Names and
    add-on relations are not revisioned: SQL compares them and returns only the differences.
    """
    account = session.get(Account, tenant.account_id)
    target = revision_in_effect(session, tenant.price_list_id, as_of)
    if tenant.price_list_revision is not None and (target or 0) < tenant.price_list_revision:
        # Applied ahead with --as-of: a later run never takes the tenant back.
        target = tenant.price_list_revision
    plan = UpdatePlan(account.code, tenant.price_list_revision, target, partial=options.partial)
    if target is None or tenant.org_id is None:
        return plan
    touched = _touched(tenant.price_list_id, tenant.price_list_revision, target)
    wanted = _wanted(session, tenant.price_list_id, target, touched)
    held = _held(session, tenant.org_id, touched)
    changes = plan.changes
    repriced = []
    own = _own_skus(session, tenant.org_id)
    for key in sorted(wanted):
        price, have = wanted[key], held.get(key)
        if have is None or have.status != "active":
            if not options.partial:
                kind = SKU_IN_USE if have is None and key[0] in own else ADDED
                changes.append(Change(kind, key[0], key[1], None, _text(price)))
        elif have.cost_price != price:
            changes.append(Change(PRICE, key[0], key[1], _text(have.cost_price), _text(price)))
            repriced.append(len(changes))
    if options.sell_prices and repriced:
        sell = _sell_prices(session, tenant.org_id, [changes[i - 1] for i in repriced])
        for i in reversed(repriced):
            c = changes[i - 1]
            changes.insert(i, Change(SELL, c.sku, c.unit, _text(sell.get((c.sku, c.unit))), c.new))
    if below_cost:
        plan.below_cost = planned_below_cost(session, tenant, target, touched, options)
    if options.partial:
        return plan
    for key in sorted(held.keys() - wanted.keys()):
        if held[key].status == "active":
            changes.append(Change(DISCONTINUED, key[0], key[1], _text(held[key].cost_price), None))
    changes += _add_on_changes(session, tenant.org_id, tenant.price_list_id, target)
    if options.names:
        changes += _name_changes(session, tenant.org_id)
    return plan


def _own_skus(session: Session, org_id: int) -> set[str]:
    """The SKUs of the tenant's own products (made by the reseller, never by a copy)."""
    return set(
        session.execute(
            select(Product.sku).where(Product.org_id == org_id, Product.source_product_id.is_(None))
        ).scalars()
    )


_item = PriceListItem.__table__


def _touched(price_list_id: int, since: int | None, target: int):
    """(product_id, unit) of the price list's items listed at SINCE or TARGET but not both:
    those that start or end between the two (None: no revision to start from, all)."""
    if since is None:
        return None
    low, high = min(since, target), max(since, target)
    return (
        select(_item.c.product_id, _item.c.unit)
        .where(
            _item.c.price_list_id == price_list_id,
            or_(
                and_(_item.c.from_revision > low, _item.c.from_revision <= high),
                and_(_item.c.to_revision > low, _item.c.to_revision <= high),
            ),
        )
        .distinct()
        .subquery("touched")
    )


def _wanted(
    session: Session, price_list_id: int, revision: int, touched
) -> dict[tuple[str, str], Decimal]:
    """(SKU, unit) -> price of the items listed at REVISION (of those TOUCHED)."""
    product = Product.__table__
    stmt = (
        select(product.c.sku, _item.c.unit, _item.c.price)
        .join(product, product.c.id == _item.c.product_id)
        .where(
            _item.c.price_list_id == price_list_id,
            _item.c.from_revision <= revision,
            or_(_item.c.to_revision.is_(None), _item.c.to_revision > revision),
        )
    )
    if touched is not None:
        stmt = stmt.join(
            touched,
            and_(touched.c.product_id == _item.c.product_id, touched.c.unit == _item.c.unit),
        )
    return {(r.sku, r.unit): r.price for r in session.execute(stmt)}


def _held(session: Session, org_id: int, touched) -> dict[tuple[str, str], Row]:
    """(source SKU, unit) -> the tenant's unit (cost price, status) (of those TOUCHED)."""
    source, copy = aliased(Product), aliased(Product)
    stmt = (
        select(source.sku, ProductUnit.unit, ProductUnit.cost_price, ProductUnit.status)
        .join(copy, copy.id == ProductUnit.product_id)
        .join(source, source.id == copy.source_product_id)
        .where(ProductUnit.org_id == org_id)
    )
    if touched is not None:
        source_unit = aliased(ProductUnit)
        stmt = stmt.join(source_unit, source_unit.id == ProductUnit.source_unit_id).join(
            touched,
            and_(
                touched.c.product_id == source_unit.product_id, touched.c.unit == source_unit.unit
            ),
        )
    return {(r.sku, r.unit): r for r in session.execute(stmt)}


def _add_on_changes(
    session: Session, org_id: int, price_list_id: int, revision: int
) -> list[Change]:
    """Copies whose add-on relation differs from their source's: the source's parent as the
    tenant will hold it after this update (none when the price list does not list it)."""
    copy, source, parent_copy, source_parent = (aliased(Product) for _ in range(4))
    parent_listed = exists().where(
        _item.c.price_list_id == price_list_id,
        _item.c.product_id == source_parent.id,
        _item.c.from_revision <= revision,
        or_(_item.c.to_revision.is_(None), _item.c.to_revision > revision),
    )
    want = case(
        (or_(parent_listed, source_parent.sku == parent_copy.sku), source_parent.sku), else_=null()
    )
    rows = session.execute(
        select(copy.sku, parent_copy.sku.label("have"), want.label("want"))
        .join(source, source.id == copy.source_product_id)
        .outerjoin(parent_copy, parent_copy.id == copy.add_on_of_id)
        .outerjoin(source_parent, source_parent.id == source.add_on_of_id)
        .where(copy.org_id == org_id, parent_copy.sku.is_distinct_from(want))
    ).all()
    return [Change(ADD_ON, r.sku, "", r.have, r.want) for r in sorted(rows)]


def _name_changes(session: Session, org_id: int) -> list[Change]:
    """Copies (holding a unit) whose name differs from their source's."""
    copy, source = aliased(Product), aliased(Product)
    rows = session.execute(
        select(source.sku, copy.name, source.name.label("source_name"))
        .join(source, source.id == copy.source_product_id)
        .where(
            copy.org_id == org_id,
            copy.name != source.name,
            exists().where(ProductUnit.product_id == copy.id),
        )
    ).all()
    return [Change(RENAMED, r.sku, "", r.name, r.source_name) for r in sorted(rows)]


def _sell_prices(
    session: Session, org_id: int, changes: list[Change]
) -> dict[tuple[str, str], Decimal]:
    """The tenant's current sell prices of the CHANGES' (source SKU, unit)."""
    currency = session.get(Organisation, org_id).currency
    retail_id = session.execute(
        select(PriceList.id).where(
            PriceList.org_id == org_id, PriceList.name == retail_price_list_name(currency)
        )
    ).scalar()
    if retail_id is None:
        return {}
    keys = {(c.sku, c.unit) for c in changes}
    prices = {}
    for skus in _chunks(sorted({c.sku for c in changes}), _CHUNK):
        for r in session.execute(
            select(Product.sku, PriceListItem.unit, PriceListItem.price)
            .join(Product, Product.id == PriceListItem.product_id)
            .where(
                PriceListItem.price_list_id == retail_id,
                PriceListItem.to_revision.is_(None),
                Product.sku.in_(skus),
            )
        ):
            if (r.sku, r.unit) in keys:
                prices[(r.sku, r.unit)] = r.price
    return prices


_CHUNK = 500  # SKUs per IN (...) list


def _chunks(seq: list, size: int):
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


# --- the margin guard ----------------------------------------------------------------------
#
# A price rise can take a tenant's cost above what it sells the item for in one of its own
# price lists (its retail list starts at cost, so any rise does, until the reseller or
# --sell-prices raises it). The update lists those items: the dry run from the plan, the
# run from the changes it logged. Only price lists in the currency of the cost compare.


def planned_below_cost(
    session: Session, tenant: TenantReseller, target: int, touched, options: Options
) -> list[BelowCost]:
    """The items the update to TARGET would leave sold below cost: the tenant's units
    whose cost it raises (or that come back from discontinued), at the price list's price
    for the tenant at TARGET (of those TOUCHED). With --sell-prices the retail list rises
    with the cost: only the tenant's other price lists can stay below it."""
    unit, product = ProductUnit.__table__, Product.__table__
    copy, source = product.alias("copy"), product.alias("source")
    relisted = unit.c.status != "active"
    raised = and_(
        ~relisted,
        or_(unit.c.cost_price.is_(None), _maybe_above(session, _item.c.price, unit.c.cost_price)),
    )
    costs = (
        select(
            unit.c.id.label("unit_id"),
            source.c.sku,
            _item.c.price.label("cost"),
            unit.c.cost_price.label("old"),
            relisted.label("relisted"),
        )
        .join(copy, copy.c.id == unit.c.product_id)
        .join(source, source.c.id == copy.c.source_product_id)
        .join(
            _item,
            and_(
                _item.c.product_id == source.c.id,
                _item.c.unit == unit.c.unit,
                _item.c.price_list_id == tenant.price_list_id,
                _item.c.from_revision <= target,
                or_(_item.c.to_revision.is_(None), _item.c.to_revision > target),
            ),
        )
        .where(
            unit.c.org_id == tenant.org_id,
            # A partial update leaves discontinued units as they are.
            raised if options.partial else or_(relisted, raised),
        )
    )
    if touched is not None:
        costs = costs.join(
            touched,
            and_(touched.c.product_id == _item.c.product_id, touched.c.unit == _item.c.unit),
        )
    raised_retail = None
    if options.sell_prices:
        # --sell-prices sets the retail sell price of every repriced (active) unit to cost.
        raised_retail = (_retail_list_id(session, tenant.org_id), ~relisted)
    return _below_cost(session, tenant, costs.subquery("costs"), raised_retail)


def applied_below_cost(
    session: Session, tenant: TenantReseller, process_id: int
) -> list[BelowCost]:
    """The items the update PROCESS_ID left sold below cost: the units whose cost it
    raised or brought back (its log says which), at the cost and sell prices they have."""
    unit, product, log = ProductUnit.__table__, Product.__table__, TenantUpdateLog.__table__
    copy, source = product.alias("copy"), product.alias("source")
    costs = (
        select(
            unit.c.id.label("unit_id"),
            source.c.sku,
            unit.c.cost_price.label("cost"),
            log.c.old_value.label("old"),
            (log.c.change == ADDED).label("relisted"),
        )
        .select_from(log)
        .join(source, and_(source.c.org_id == tenant.parent_org_id, source.c.sku == log.c.sku))
        .join(copy, and_(copy.c.org_id == tenant.org_id, copy.c.source_product_id == source.c.id))
        .join(unit, and_(unit.c.product_id == copy.c.id, unit.c.unit == log.c.unit))
        .where(
            log.c.tenant_id == tenant.id,
            log.c.process_id == process_id,
            log.c.change.in_((ADDED, PRICE)),
            unit.c.status == "active",
        )
    )
    return _below_cost(session, tenant, costs.subquery("costs"), None)


def _below_cost(session: Session, tenant: TenantReseller, costs, raised_retail) -> list[BelowCost]:
    """COSTS (unit_id, sku, cost, old cost, relisted) joined with the items of the tenant's
    own price lists in the cost's currency that sell the unit for less: one query. SQLite
    holds money as text, so SQL keeps the rows that may be below cost and Decimal decides;
    RAISED_RETAIL (retail list id, condition) leaves out what --sell-prices raises."""
    unit, lists, sell = ProductUnit.__table__, PriceList.__table__, _item.alias("sell")
    currency = select(PriceList.currency).where(PriceList.id == tenant.price_list_id)
    stmt = (
        select(
            costs.c.sku,
            unit.c.unit,
            costs.c.cost,
            costs.c.old,
            costs.c.relisted,
            sell.c.price,
            lists.c.name,
        )
        .select_from(costs)
        .join(unit, unit.c.id == costs.c.unit_id)
        .join(
            lists,
            and_(lists.c.org_id == tenant.org_id, lists.c.currency == currency.scalar_subquery()),
        )
        .join(
            sell,
            and_(
                sell.c.price_list_id == lists.c.id,
                sell.c.product_id == unit.c.product_id,
                sell.c.unit == unit.c.unit,
                sell.c.to_revision.is_(None),
            ),
        )
        .where(_maybe_above(session, costs.c.cost, sell.c.price))
        .order_by(costs.c.sku, unit.c.unit, lists.c.name)
    )
    if raised_retail is not None:
        retail_id, repriced = raised_retail
        stmt = stmt.where(~and_(lists.c.id == retail_id, repriced))
    below = []
    for r in session.execute(stmt):
        raised = r.relisted or r.old is None or r.cost > Decimal(r.old)
        if raised and r.cost > r.price:
            below.append(BelowCost(r.sku, r.unit, r.cost, r.price, r.name))
    return below


def _maybe_above(session: Session, a, b):
    """A > B for money columns where the database can say it exactly (PostgreSQL's
    NUMERIC); on SQLite (text) a superset, compared as floats: rounding keeps the order."""
    if session.get_bind().dialect.name == "postgresql":
        return a > b
    return cast(a, Float) >= cast(b, Float)


def _retail_list_id(session: Session, org_id: int) -> int | None:
    currency = session.get(Organisation, org_id).currency
    return session.execute(
        select(PriceList.id).where(
            PriceList.org_id == org_id, PriceList.name == retail_price_list_name(currency)
        )
    ).scalar()


_LOG_VALUE = 300  # the update log's old/new value columns


def _log_below_cost(
    session: Session, tenant, plan: UpdatePlan, process_id: int
) -> dict[tuple[str, str], list[BelowCost]]:
    """Log the items the update left sold below cost, one entry per SKU and unit (new: the
    cost; old: each sell price and its price list); returns them by SKU and unit. A resumed
    run logs only what it has not yet."""
    below = applied_below_cost(session, tenant, process_id)
    logged = _logged(session, tenant, process_id, BELOW_COST)
    by_unit: dict[tuple[str, str], list[BelowCost]] = {}
    for b in below:
        by_unit.setdefault((b.sku, b.unit), []).append(b)
    _log_changes(
        session,
        tenant,
        plan,
        [
            Change(BELOW_COST, sku, unit, _sell_prices_text(items), format_amount(items[0].cost))
            for (sku, unit), items in by_unit.items()
            if (sku, unit) not in logged
        ],
        process_id,
    )
    return by_unit


def _sell_prices_text(items: list[BelowCost]) -> str:
    """`9.90 (Retail EUR), 9.50 (Gold EUR)`, cut to the log's width saying how many more."""
    parts = [f"{format_amount(b.price)} ({b.price_list})" for b in items]
    text, keep = ", ".join(parts), len(parts)
    while len(text) > _LOG_VALUE and keep > 1:
        keep -= 1
        text = ", ".join(parts[:keep]) + f" and {len(parts) - keep} more"
    return text[:_LOG_VALUE]


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
    # The margin guard: planned (dry run, queued), or what the run left (run here).
    below_cost: list[BelowCost] = field(default_factory=list)


def tenants_to_update(
    session: Session, ref: str | None, parent_id: int
) -> tuple[list[TenantReseller], list[tuple[str, str]]]:
    """The tenants of the org PARENT_ID an update names (one, or all of them), and those
    skipped with why."""
    if ref is not None:
        tenant = find_tenant(session, ref, parent_id)
        if tenant.status in SKIPPED_STATUSES:
            raise Conflict(f"tenant reseller {ref} is {tenant.status}: it cannot be updated")
        return [tenant], []
    tenants, skipped = [], []
    rows = session.execute(
        select(TenantReseller, Account.code)
        .join(Account, Account.id == TenantReseller.account_id)
        .where(TenantReseller.parent_org_id == parent_id)
        .order_by(Account.code)
    ).all()
    for tenant, code in rows:
        if tenant.status in SKIPPED_STATUSES:
            skipped.append((code, tenant.status))
        else:
            tenants.append(tenant)
    return tenants, skipped


def request_update(
    engine,
    tenant_id: int,
    as_of: date,
    options: Options,
    *,
    dry_run: bool = False,
    foreground: bool = False,
) -> UpdateOutcome:
    """Plan one tenant's update; queue it unless it is up to date or a dry run.

    A tenant has at most one update queued or running (lock key): an overlapping run
    exits 4 (busy) without changing anything. FOREGROUND: this program runs the process
    next, and its first run applies this plan instead of planning again.
    """
    with write_session(engine) as session:
        tenant = session.get(TenantReseller, tenant_id)
        # Run here next, the process reports what it left below cost (not what it would).
        plan = plan_update(session, tenant, as_of, options, below_cost=dry_run or not foreground)
        status = "planned" if dry_run else "up-to-date"
        process_id = None
        if not dry_run and not plan.up_to_date:
            process_id = jobs.enqueue(
                session,
                UPDATE_KIND,
                {
                    "tenant_id": tenant.id,
                    "as_of": as_of.isoformat(),
                    "partial": options.partial,
                    "sell_prices": options.sell_prices,
                    "names": options.names,
                },
                title=f"Update tenant reseller {plan.tenant} to revision {plan.to_revision}",
                lock_key=f"tenant-update:{tenant.id}",
                owner_id=tenant.parent_org_id,
            )
            status = "queued"
            if foreground:
                jobs.hand_over(process_id, plan)
        return UpdateOutcome(
            plan.tenant,
            status,
            plan.from_revision,
            plan.to_revision,
            plan.counts(),
            process_id,
            changes=plan.changes,
            below_cost=plan.below_cost,
        )


@dataclass
class UpdateReport:
    """What `tenant update` did: one outcome per tenant, and the tenants skipped with why."""

    outcomes: list[UpdateOutcome]
    skipped: list[tuple[str, str]]  # (tenant, its status)

    @property
    def failed(self) -> int:
        return sum(o.status == "failed" for o in self.outcomes)

    @property
    def busy(self) -> int:
        return sum(o.status == "busy" for o in self.outcomes)

    def raise_if_failed(self) -> None:
        """Exit 5 (some of a batch failed) when any tenant's update failed; else exit 4
        when a tenant was busy with another update (run again later)."""
        if self.failed:
            raise BatchFailed(f"{plural(self.failed, 'tenant update')} failed")
        if self.busy:
            raise Busy(
                f"{plural(self.busy, 'tenant')} busy with an update already queued "
                "or running; run again when it has finished"
            )


def update_tenants(
    engine,
    parent_id: int,
    ref: str | None,
    as_of: date,
    options: Options,
    *,
    dry_run: bool = False,
    run: Callable[[int, str], str] | None = None,
) -> UpdateReport:
    """Update one tenant of the org PARENT_ID (REF: client id or reseller code) or, REF
    None, every tenant of it (its tenants' own tenants follow on their parent's next run).

    Each update is planned and queued (unless up to date or DRY_RUN); RUN, when given,
    runs a queued process (its id, the tenant's code) to its end and returns its status.
    One tenant named: its error is raised. Every tenant: a tenant busy with another update
    is reported busy, one whose update fails failed, and the others go on;
    `raise_if_failed` then exits 5 (any failed) or 4 (some busy).
    """
    with read_session(engine) as session:
        targets, skipped = tenants_to_update(session, ref, parent_id)
        targets = [(t.id, find_tenant_code(session, t)) for t in targets]
    outcomes = []
    for tenant_id, code in targets:
        try:
            outcome = request_update(
                engine, tenant_id, as_of, options, dry_run=dry_run, foreground=run is not None
            )
            if outcome.process_id is not None and run is not None:
                outcome = replace(outcome, status=run(outcome.process_id, code))
                outcome = replace(
                    outcome, below_cost=_left_below_cost(engine, tenant_id, outcome.process_id)
                )
        except Busy as exc:
            if ref is not None:
                raise
            outcome = UpdateOutcome(code, "busy", None, None, {}, error=str(exc))
        except TenantctlError as exc:
            if ref is not None:
                raise
            outcome = UpdateOutcome(code, "failed", None, None, {}, error=str(exc))
        outcomes.append(outcome)
    return UpdateReport(outcomes, skipped)


def _left_below_cost(engine, tenant_id: int, process_id: int) -> list[BelowCost]:
    """What the update process that just ran here left sold below cost (as its log has it)."""
    if process_id in _left_below:  # its last transaction found them, and committed
        return _left_below.pop(process_id)
    with read_session(engine) as session:
        return applied_below_cost(session, session.get(TenantReseller, tenant_id), process_id)


# --- the update process ---------------------------------------------------------------------

# What the updates request_update handed their plan to (run next in this program) left
# below cost, as their last transaction logged it.
_left_below: dict[int, list[BelowCost]] = {}


def task_apply_update(ctx) -> None:
    """Apply the differences, each with its update-log entry, in fenced transactions."""
    options = Options(ctx.params["partial"], ctx.params["sell_prices"], ctx.params["names"])
    as_of = date.fromisoformat(ctx.params["as_of"])
    planned = ctx.handed_over()
    with ctx.transaction() as session:
        tenant = session.get(TenantReseller, ctx.params["tenant_id"])
        plan = planned
        if (
            plan is None
            or ctx.done
            or ctx.checkpoint
            or plan.from_revision != tenant.price_list_revision
        ):
            plan = plan_update(session, tenant, as_of, options, below_cost=False)
        plan.process_id = ctx.process_id
        ctx.save(session, total=len(plan.changes))
        ctx.log(
            f"{plural(len(plan.changes), 'change')} from revision {plan.from_revision} to "
            f"{plan.to_revision}: {plan.counts() or 'none'}"
        )
    done = _copy_added_in_batches(ctx, plan)
    # One transaction per step. A new cost and the sell price --sell-prices derives from it
    # are one step: a run resumed after the costs had moved would plan no sell price.
    for step in (
        ((ADDED, _apply_added),),
        ((PRICE, _apply_prices), (SELL, _apply_sell_prices)),
        ((DISCONTINUED, _apply_discontinued),),
        ((ADD_ON, _apply_add_ons),),
        ((RENAMED, _apply_names),),
        ((SKU_IN_USE, _report_only),),
    ):
        of_kind = {kind: [c for c in plan.changes if c.change == kind] for kind, _ in step}
        work = [(kind, apply, of_kind[kind]) for kind, apply in step if of_kind[kind]]
        if not work:
            continue
        applied = []
        with ctx.transaction() as session:
            tenant = session.get(TenantReseller, ctx.params["tenant_id"])
            for kind, apply, changes in work:
                apply(session, tenant, plan, changes)
                if kind == ADDED:
                    # Those the batches above copied and logged already.
                    changes = _not_logged(session, tenant, changes, ctx.process_id)
                _log_changes(session, tenant, plan, changes, ctx.process_id)
                done += len(changes)
                applied.append((kind, len(changes)))
            ctx.save(session, done=done, total=len(plan.changes))
        for kind, count in applied:
            ctx.log(f"applied {count} {kind}")
    with ctx.transaction() as session:
        tenant = session.get(TenantReseller, ctx.params["tenant_id"])
        if not options.partial:
            # A partial update moves prices only; the tenant stays at its revision so a
            # full update still brings the rest.
            tenant.price_list_revision = plan.to_revision
        below = _log_below_cost(session, tenant, plan, ctx.process_id)
        if below:
            ctx.log(
                f"margin guard: {plural(len(below), 'item')} now cost more than the tenant "
                "sells them for (tenant log: below-cost)",
                "warning",
            )
            ctx.result["below_cost"] = len(below)
        ctx.result.update(
            {
                "from_revision": plan.from_revision,
                "to_revision": plan.to_revision,
                "changes": plan.counts(),
            }
        )
        ctx.save(session, done=len(plan.changes), total=len(plan.changes))
    if planned is not None:  # request_update's program reports them next
        _left_below[ctx.process_id] = [b for items in below.values() for b in items]


def _copy_added_in_batches(ctx, plan: UpdatePlan) -> int:
    """Copy the new products batch by batch, each committed with its log entries."""
    added = [c for c in plan.changes if c.change == ADDED]
    if not added:
        return 0
    while True:
        with ctx.transaction() as session:
            tenant = session.get(TenantReseller, ctx.params["tenant_id"])
            retail_id = ensure_retail_price_list(session, tenant.org_id)
            copied, _ = copy_catalogue_batch(
                session,
                tenant.org_id,
                tenant.price_list_id,
                plan.to_revision,
                retail_id,
                config.copy_batch(COPY_BATCH),
                _retail_revision(session, retail_id, ctx.process_id),
            )
            present = _held_keys(session, tenant.org_id, added)
            new = [
                c
                for c in _not_logged(session, tenant, added, ctx.process_id)
                if (c.sku, c.unit) in present
            ]
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
    latest = (
        session.execute(
            select(func.max(PriceListRevision.number)).where(
                PriceListRevision.price_list_id == retail_id
            )
        ).scalar()
        or 1
    )
    source = session.execute(
        select(PriceListRevision.source).where(
            PriceListRevision.price_list_id == retail_id, PriceListRevision.number == latest
        )
    ).scalar()
    if latest > 1 and source == label:
        return latest
    session.add(PriceListRevision(price_list_id=retail_id, number=latest + 1, source=label))
    session.flush()
    return latest + 1


_UPDATE_REVISION_SOURCE = "products added by a tenant update"


def _held_keys(session: Session, org_id: int, changes: list[Change]) -> set[tuple[str, str]]:
    """The (source SKU, unit) of the CHANGES that the tenant holds as active units."""
    return {key for key, uid in _unit_ids(session, org_id, changes, status="active").items()}


def _not_logged(session: Session, tenant, changes: list[Change], process_id: int) -> list[Change]:
    logged = _logged(session, tenant, process_id, ADDED)
    return [c for c in changes if (c.sku, c.unit) not in logged]


def _logged(session: Session, tenant, process_id: int, change: str) -> set[tuple[str, str]]:
    """The (SKU, unit) of the entries of kind CHANGE that run PROCESS_ID logged already."""
    return {
        tuple(r)
        for r in session.execute(
            select(TenantUpdateLog.sku, TenantUpdateLog.unit).where(
                TenantUpdateLog.tenant_id == tenant.id,
                TenantUpdateLog.process_id == process_id,
                TenantUpdateLog.change == change,
            )
        )
    }


def _log_changes(
    session: Session, tenant, plan: UpdatePlan, changes: list[Change], process_id: int
) -> None:
    if not changes:
        return
    now = utcnow()
    session.execute(
        TenantUpdateLog.__table__.insert(),
        [
            {
                "tenant_id": tenant.id,
                "org_id": tenant.org_id,
                "process_id": process_id,
                "from_revision": plan.from_revision,
                "to_revision": plan.to_revision,
                "change": c.change,
                "sku": c.sku,
                "unit": c.unit,
                "old_value": c.old,
                "new_value": c.new,
                "at": now,
            }
            for c in changes
        ],
    )


def _unit_ids(
    session: Session, org_id: int, changes: list[Change], *, status: str | None = None
) -> dict[tuple, int]:
    """(source SKU, unit) -> the tenant's unit id, for the units the CHANGES name."""
    source = aliased(Product)
    keys = {(c.sku, c.unit) for c in changes}
    ids = {}
    for skus in _chunks(sorted({c.sku for c in changes}), _CHUNK):
        stmt = (
            select(source.sku, ProductUnit.unit, ProductUnit.id)
            .join(Product, Product.id == ProductUnit.product_id)
            .join(source, source.id == Product.source_product_id)
            # By the tenant's products' (org, SKU) key; their units follow (a filter on the
            # units' own org would lead SQLite to scan every unit of the org).
            .where(Product.org_id == org_id, Product.sku.in_(skus))
        )
        if status is not None:
            stmt = stmt.where(ProductUnit.status == status)
        ids.update(
            {(r.sku, r.unit): r.id for r in session.execute(stmt) if (r.sku, r.unit) in keys}
        )
    return ids


def _apply_added(session: Session, tenant, plan: UpdatePlan, changes: list[Change]) -> None:
    """What the product batches left: new units of products the tenant has, and units
    listed again after being discontinued."""
    retail_id = ensure_retail_price_list(session, tenant.org_id)
    retail_revision = _retail_revision(session, retail_id, plan.process_id)
    for skus in _chunks(sorted({c.sku for c in changes}), _CHUNK):
        source_ids = list(
            session.execute(
                select(Product.id).where(
                    Product.org_id == tenant.parent_org_id, Product.sku.in_(skus)
                )
            ).scalars()
        )
        copy_units(
            session,
            tenant.org_id,
            tenant.price_list_id,
            plan.to_revision,
            retail_id,
            retail_revision,
            source_ids=source_ids,
        )
    # New products come with their add-on relations, as at creation (only theirs: other
    # relation changes are applied and logged as add-on changes).
    link_add_ons(session, tenant.org_id, sorted({c.sku for c in changes}))
    # Units listed again after being discontinued come back at the new cost.
    ids = _unit_ids(session, tenant.org_id, changes)
    relisted = [
        {"uid": ids[(c.sku, c.unit)], "cost": c.new} for c in changes if (c.sku, c.unit) in ids
    ]
    if relisted:
        _set_units(session, relisted, status="active")
    _sync_product_status(session, tenant.org_id, changes)


def _apply_prices(session: Session, tenant, plan: UpdatePlan, changes: list[Change]) -> None:
    ids = _unit_ids(session, tenant.org_id, changes)
    _set_units(session, [{"uid": ids[(c.sku, c.unit)], "cost": c.new} for c in changes])


def _set_units(session: Session, rows: list[dict], status: str | None = None) -> None:
    values = {"cost_price": bindparam("cost")}
    if status:
        values["status"] = status
    session.execute(
        update(ProductUnit.__table__)
        .where(ProductUnit.__table__.c.id == bindparam("uid"))
        .values(**values),
        [{"uid": r["uid"], "cost": Decimal(r["cost"])} for r in rows],
    )


def _apply_discontinued(session: Session, tenant, plan, changes: list[Change]) -> None:
    ids = _unit_ids(session, tenant.org_id, changes)
    session.execute(
        update(ProductUnit)
        .where(ProductUnit.id.in_(list(ids.values())))
        .values(status="discontinued")
        .execution_options(synchronize_session=False)
    )
    _sync_product_status(session, tenant.org_id, changes)


def _sync_product_status(session: Session, org_id: int, changes: list[Change]) -> None:
    """A copied product is active while any of its units is; discontinued otherwise (for
    the products whose units CHANGES changed)."""
    active_units = (
        select(func.count(ProductUnit.id))
        .where(ProductUnit.product_id == Product.id, ProductUnit.status == "active")
        .scalar_subquery()
    )
    for skus in _chunks(sorted({c.sku for c in changes}), _CHUNK):
        for status, condition in (
            ("discontinued", active_units == 0),
            ("active", active_units > 0),
        ):
            session.execute(
                update(Product)
                .where(
                    Product.org_id == org_id,
                    Product.sku.in_(skus),
                    Product.source_product_id.is_not(None),
                    condition,
                    Product.status != status,
                )
                .values(status=status)
                .execution_options(synchronize_session=False)
            )


def _apply_add_ons(session: Session, tenant, plan, changes) -> None:
    link_add_ons(session, tenant.org_id)


def _report_only(session: Session, tenant, plan, changes: list[Change]) -> None:
    """Nothing to apply: the changes are only logged (see SKU_IN_USE)."""


def _apply_names(session: Session, tenant, plan, changes: list[Change]) -> None:
    by_sku = {c.sku: c.new for c in changes}
    source = aliased(Product)
    rows = [
        row
        for skus in _chunks(sorted(by_sku), _CHUNK)
        for row in session.execute(
            select(Product.id, source.sku)
            .join(source, source.id == Product.source_product_id)
            .where(Product.org_id == tenant.org_id, Product.sku.in_(skus))
        )
    ]
    session.execute(
        update(Product.__table__)
        .where(Product.__table__.c.id == bindparam("pid"))
        .values(name=bindparam("new_name")),
        [{"pid": pid, "new_name": by_sku[sku]} for pid, sku in rows if sku in by_sku],
    )


def _apply_sell_prices(session: Session, tenant, plan, changes: list[Change]) -> None:
    """Set the tenant's own sell prices to the new cost (a new revision of its retail list)."""
    retail_id = ensure_retail_price_list(session, tenant.org_id)
    retail = session.get(PriceList, retail_id)
    current = listed_items(session, retail_id)
    source = aliased(Product)
    sku_of = dict(
        session.execute(
            select(source.sku, Product.sku)
            .join(Product, Product.source_product_id == source.id)
            .where(Product.org_id == tenant.org_id)
        ).all()
    )
    items = {
        key: PriceRow(key[0], i.name, i.platform, key[1], i.price) for key, i in current.items()
    }
    for c in changes:
        key = (sku_of.get(c.sku, c.sku), c.unit)
        if key in items:
            i = items[key]
            items[key] = PriceRow(i.sku, i.name, i.platform, i.unit, Decimal(c.new))
    ids = {i.sku: i.product_id for i in current.values()}
    record_revision(
        session, retail, items, ids, source=f"tenant update to revision {plan.to_revision}"
    )


jobs.register(jobs.ProcessKind(UPDATE_KIND, [("apply the catalogue changes", task_apply_update)]))


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


def update_log(
    session: Session, ref: str, parent_id: int, since: date | None = None
) -> list[LogEntryView]:
    """The update tenant log of one tenant of the org PARENT_ID, oldest first."""
    tenant = find_tenant(session, ref, parent_id)
    stmt = (
        select(TenantUpdateLog)
        .where(TenantUpdateLog.tenant_id == tenant.id)
        .order_by(TenantUpdateLog.id)
    )
    if since is not None:
        stmt = stmt.where(
            TenantUpdateLog.at >= datetime(since.year, since.month, since.day, tzinfo=UTC)
        )
    return [
        LogEntryView(
            e.at,
            e.change,
            e.sku,
            e.unit,
            e.old_value,
            e.new_value,
            e.from_revision,
            e.to_revision,
            e.process_id,
        )
        for e in session.execute(stmt).scalars()
    ]

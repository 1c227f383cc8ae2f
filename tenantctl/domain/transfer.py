"""Upgrading a lite reseller: copy its customers, then their subscriptions and assets, from
the parent org into its tenant (SPEC section 5).

Both copies are queued processes of set-based batches. A batch copies the next rows not
yet copied (each copy remembers its source; the unique key on (org, source) is the
backstop), so a batch cut off by kill -9 is simply done again by the next worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from tenantctl import config, jobs
from tenantctl.domain.tenants import find_tenant
from tenantctl.domain.tenants.catalogue_copy import retail_price_list_name
from tenantctl.errors import CheckFailed, Conflict, Refused
from tenantctl.store.bulk import analyze
from tenantctl.store.engine import COUNT_ROWS, write_session
from tenantctl.store.models import (
    Account,
    Asset,
    Contact,
    Organisation,
    PriceList,
    PriceListItem,
    Product,
    ProductUnit,
    Subscription,
    SubscriptionAddon,
    SyncRecord,
    TenantReseller,
    utcnow,
)
from tenantctl.words import plural

CUSTOMERS_KIND = "tenant.upgrade-customers"
SUBSCRIPTIONS_KIND = "tenant.upgrade-subscriptions"
BATCH = 2000
# Subscriptions and assets per batch: each batch is two INSERT ... SELECT (no row goes
# through Python), so a larger one costs only a longer transaction; as in the catalogue copy.
RECORDS_BATCH = 5000
COPIED_STATUSES = ("active",)
# The column by which a copy remembers the row it was copied from.
_SOURCE = {
    Account: "source_account_id",
    Subscription: "source_subscription_id",
    Asset: "source_asset_id",
}


def _lock_key(tenant: TenantReseller) -> str:
    return f"tenant-transfer:{tenant.id}"


def _ready_tenant(session: Session, ref: str, parent_id: int) -> TenantReseller:
    tenant = find_tenant(session, ref, parent_id)
    if tenant.status != "active" or tenant.org_id is None:
        raise Refused(
            f"tenant reseller {ref} is {tenant.status}: its creation has not "
            "finished (see tenantctl process list)"
        )
    return tenant


# --- step 1: customers --------------------------------------------------------------------


def request_customer_transfer(engine, ref: str, parent_id: int) -> int:
    """Queue the copy of the reseller's customers into its tenant; returns the process id."""
    with write_session(engine) as session:
        tenant = _ready_tenant(session, ref, parent_id)
        conflicts = _code_conflicts(session, tenant)
        if conflicts:
            raise CheckFailed(
                f"the tenant already has accounts with the codes of "
                f"{plural(len(conflicts), 'customer')} to copy: {', '.join(conflicts[:20])}; "
                "rename them in the tenant first"
            )
        return _enqueue(session, tenant, CUSTOMERS_KIND, "Copy the customers of {} into its tenant")


def _enqueue(session: Session, tenant: TenantReseller, kind: str, title: str) -> int:
    """Queue a step of TENANT's upgrade (one at a time per tenant), owned by its parent;
    TITLE names the reseller with {}."""
    code = session.get(Account, tenant.account_id).code
    return jobs.enqueue(
        session,
        kind,
        {"tenant_id": tenant.id},
        title=title.format(code),
        lock_key=_lock_key(tenant),
        owner_id=tenant.parent_org_id,
    )


def _customers(tenant: TenantReseller):
    """The reseller's customers in the parent org (accounts billed to the reseller)."""
    return and_(Account.org_id == tenant.parent_org_id, Account.bill_to_id == tenant.account_id)


def _listed_now(copied, product_copy):
    """The item of the copied customer's price list that lists the copied product in the
    subscription's unit today."""
    return and_(
        PriceListItem.price_list_id == copied.price_list_id,
        PriceListItem.product_id == product_copy.id,
        PriceListItem.unit == Subscription.unit,
        PriceListItem.to_revision.is_(None),
    )


def _subscriptions_to_copy(tenant, org_id: int) -> tuple:
    """The root subscriptions of TENANT's customers that the upgrade copies and ORG_ID
    does not hold yet."""
    return (
        _customers(tenant),
        Subscription.status.in_(COPIED_STATUSES),
        _not_copied(Subscription, org_id),
    )


def _not_copied(model, tenant_org_id: int):
    copy = aliased(model)
    return ~exists().where(copy.org_id == tenant_org_id, getattr(copy, _SOURCE[model]) == model.id)


def _code_conflicts(session: Session, tenant: TenantReseller) -> list[str]:
    own = aliased(Account)
    return list(
        session.execute(
            select(Account.code)
            .where(
                _customers(tenant),
                _not_copied(Account, tenant.org_id),
                exists().where(own.org_id == tenant.org_id, own.code == Account.code),
            )
            .order_by(Account.code)
        ).scalars()
    )


def task_copy_customers(ctx) -> None:
    """Copy every customer not copied yet, with contacts and sync records, in batches."""
    new, already = _copy_in_batches(
        ctx,
        "customers",
        lambda session, tenant: session.execute(
            select(func.count(Account.id)).where(_customers(tenant))
        ).scalar_one(),
        copy_customer_batch,
        lambda session, tenant: _copied(session, Account, tenant),
    )
    with ctx.transaction() as session:
        # Planner statistics for the rows just copied (PostgreSQL): planned on those from
        # before, the pre-check of `upgrade subscriptions` took seconds per run.
        analyze(session, "account", "contact", "sync_record")
        tenant = session.get(TenantReseller, ctx.params["tenant_id"])
        restored = copy_missing_sync_records(session, tenant)
        if restored:
            ctx.log(
                f"copied {plural(restored, 'sync record')} missing from customers copied before"
            )
        if tenant.phase == "setup":
            tenant.phase = "customers-copied"
        ctx.log(
            f"customers: {new} new, {already} already copied; in the parent they are "
            f"back-ordering records managed by the tenant; phase {tenant.phase}"
        )


def copy_customer_batch(session: Session, tenant: TenantReseller, limit: int) -> int:
    """Copy up to LIMIT customers not copied yet, with contacts and sync records; mark them
    managed by the tenant in the parent. Returns how many were copied."""
    org = session.get(Organisation, tenant.org_id)
    retail = session.execute(
        select(PriceList.id).where(
            PriceList.org_id == org.id, PriceList.name == retail_price_list_name(org.currency)
        )
    ).scalar()
    batch = (
        select(Account.id)
        .where(_customers(tenant), _not_copied(Account, org.id))
        .order_by(Account.id)
        .limit(limit)
    ).scalar_subquery()
    ids = list(session.execute(select(Account.id).where(Account.id.in_(batch))).scalars())
    if not ids:
        return 0
    now = utcnow()
    session.execute(
        insert(Account).from_select(
            [
                "org_id",
                "code",
                "name",
                "kind",
                "ordering_enabled",
                "currency",
                "country",
                "accounting_number",
                "email",
                "billing_address",
                "price_list_id",
                "billing_day",
                "payment_method",
                "credit_limit",
                "invoicing_options",
                "separate_invoices",
                "source_account_id",
                "created_at",
            ],
            select(
                literal(org.id),
                Account.code,
                Account.name,
                literal("customer"),
                Account.ordering_enabled,
                Account.currency,
                Account.country,
                Account.accounting_number,
                Account.email,
                Account.billing_address,
                literal(retail),
                Account.billing_day,
                Account.payment_method,
                Account.credit_limit,
                Account.invoicing_options,
                Account.separate_invoices,
                Account.id,
                literal(now, Account.__table__.c.created_at.type),
            )
            .where(Account.id.in_(ids))
            .order_by(Account.id),
        )
    )
    copy = aliased(Account)
    session.execute(
        insert(Contact).from_select(
            ["account_id", "name", "email", "phone", "role"],
            select(copy.id, Contact.name, Contact.email, Contact.phone, Contact.role)
            .join(copy, and_(copy.source_account_id == Contact.account_id, copy.org_id == org.id))
            .where(Contact.account_id.in_(ids))
            .order_by(Contact.id),
        )
    )
    session.execute(
        insert(SyncRecord).from_select(
            ["account_id", "platform", "status", "external_id"],
            select(copy.id, SyncRecord.platform, SyncRecord.status, SyncRecord.external_id)
            .join(
                copy, and_(copy.source_account_id == SyncRecord.account_id, copy.org_id == org.id)
            )
            .where(SyncRecord.account_id.in_(ids)),
        )
    )
    session.execute(
        update(Account)
        .where(Account.id.in_(ids))
        .values(managed_by_org_id=org.id)
        .execution_options(synchronize_session=False)
    )
    return len(ids)


def copy_missing_sync_records(session: Session, tenant: TenantReseller) -> int:
    """Copy the parent's sync records that a copied customer lacks in the tenant."""
    copied, copied_sync = aliased(Account), aliased(SyncRecord)
    return session.execute(
        insert(SyncRecord).from_select(
            ["account_id", "platform", "status", "external_id"],
            select(copied.id, SyncRecord.platform, SyncRecord.status, SyncRecord.external_id)
            .join(Account, Account.id == SyncRecord.account_id)
            .join(
                copied, and_(copied.org_id == tenant.org_id, copied.source_account_id == Account.id)
            )
            .where(
                _customers(tenant),
                ~exists().where(
                    copied_sync.account_id == copied.id, copied_sync.platform == SyncRecord.platform
                ),
            ),
        ),
        execution_options=COUNT_ROWS,
    ).rowcount


jobs.register(jobs.ProcessKind(CUSTOMERS_KIND, [("copy the customers", task_copy_customers)]))


# --- step 2: subscriptions and assets -----------------------------------------------------


@dataclass(frozen=True)
class Offender:
    kind: str  # subscription | asset | customer
    code: str
    account: str
    problem: str
    fix: str


def _copied_customer():
    return aliased(Account, name="copied_customer")


def subscription_prechecks(session: Session, tenant: TenantReseller) -> list[Offender]:
    """Every reason a subscription or asset of the reseller's customers cannot be copied.

    The currency is the tenant's; the product, its add-ons and the unit exist (active) in
    the tenant; the customer was copied with its sync records and has a price for it.
    """
    org = session.get(Organisation, tenant.org_id)
    # Only a row not copied yet can be an offender: once a copy has taken every
    # subscription (or asset), the checks of them are skipped, not run to find nothing.
    left = [m for m in (Subscription, Asset) if _any_left(session, m, tenant, org.id)]
    offenders = _subscription_offenders(session, tenant, org) if Subscription in left else []
    offenders += _code_offenders(session, tenant, org, left)
    if Subscription in left:
        offenders += _addon_offenders(session, tenant, org)
    if Asset in left:
        offenders += _asset_offenders(session, tenant, org)
    offenders += _sync_offenders(session, tenant, org)
    return offenders


def _any_left(session: Session, model, tenant: TenantReseller, org_id: int) -> bool:
    """Whether an active MODEL row of TENANT's customers is not copied into ORG_ID yet."""
    return (
        session.execute(
            select(model.id)
            .join(Account, Account.id == model.account_id)
            .where(
                _customers(tenant), model.status.in_(COPIED_STATUSES), _not_copied(model, org_id)
            )
            .limit(1)
        ).first()
        is not None
    )


def _subscription_offenders(session: Session, tenant, org) -> list[Offender]:
    """Subscriptions that cannot be copied: customer, currency, product, unit or price."""
    offenders: list[Offender] = []
    copied = _copied_customer()
    product_copy, unit_copy = aliased(Product), aliased(ProductUnit)
    rows = session.execute(
        select(
            Subscription.code,
            Subscription.currency,
            Subscription.unit,
            Account.code.label("account"),
            Product.sku,
            copied.id.label("copied_id"),
            product_copy.id.label("tenant_product"),
            product_copy.status.label("pstatus"),
            unit_copy.id.label("tenant_unit"),
            unit_copy.status.label("ustatus"),
            PriceListItem.price,
            PriceList.name.label("price_list"),
            PriceList.currency.label("price_list_currency"),
            Subscription.id,
        )
        .join(Account, Account.id == Subscription.account_id)
        .join(Product, Product.id == Subscription.product_id)
        .outerjoin(copied, and_(copied.org_id == org.id, copied.source_account_id == Account.id))
        .outerjoin(
            product_copy,
            and_(product_copy.org_id == org.id, product_copy.source_product_id == Product.id),
        )
        .outerjoin(
            unit_copy,
            and_(unit_copy.product_id == product_copy.id, unit_copy.unit == Subscription.unit),
        )
        .outerjoin(PriceList, PriceList.id == copied.price_list_id)
        .outerjoin(PriceListItem, _listed_now(copied, product_copy))
        .where(
            *_subscriptions_to_copy(tenant, org.id),
            # Only the rows the checks below refuse: the database skips the good ones.
            or_(
                copied.id.is_(None),
                Subscription.currency != org.currency,
                PriceList.currency != Subscription.currency,
                product_copy.id.is_(None),
                product_copy.status != "active",
                unit_copy.id.is_(None),
                unit_copy.status != "active",
                PriceListItem.price.is_(None),
            ),
        )
        .order_by(Subscription.code)
    ).all()
    fix_catalogue = (
        "add it to the tenant's price list in the parent and run `tenantctl tenant update`"
    )
    for r in rows:

        def bad(problem: str, fix: str, r=r) -> None:
            offenders.append(Offender("subscription", r.code, r.account, problem, fix))

        if r.copied_id is None:
            bad("its customer is not copied into the tenant", "run `tenantctl upgrade customers`")
            continue
        if r.currency != org.currency:
            bad(
                f"in {r.currency}, not the tenant's {org.currency}",
                "move it to a subscription in the tenant's currency first",
            )
        elif r.price_list_currency is not None and r.price_list_currency != r.currency:
            bad(
                f"the customer's price list {r.price_list} is in {r.price_list_currency}, "
                f"the subscription in {r.currency}",
                f"give the customer a price list in {r.currency} in the tenant",
            )
        if r.tenant_product is None or r.pstatus != "active":
            bad(f"product {r.sku} is not sold in the tenant", fix_catalogue)
        elif r.tenant_unit is None or r.ustatus != "active":
            bad(f"product {r.sku} is not sold per {r.unit} in the tenant", fix_catalogue)
        elif r.price is None:
            bad(
                f"{r.sku} / {r.unit} has no price in the customer's price list "
                f"{r.price_list or '(none)'} in the tenant",
                "set the customer's pricing options in the tenant (account set --price-list)",
            )
    return offenders


def _code_offenders(session: Session, tenant, org, models) -> list[Offender]:
    """Rows of MODELS (subscriptions, assets) whose code the tenant already uses for a row
    of its own."""
    out = []
    for model in models:
        kind = model.__tablename__
        own = aliased(model)
        rows = session.execute(
            select(model.code, Account.code.label("account"))
            .join(Account, Account.id == model.account_id)
            .where(
                _customers(tenant),
                model.status.in_(COPIED_STATUSES),
                _not_copied(model, org.id),
                exists().where(own.org_id == org.id, own.code == model.code),
            )
            .order_by(model.code)
        ).all()
        out += [
            Offender(
                kind,
                r.code,
                r.account,
                f"the tenant already uses the code {r.code}",
                f"rename the tenant's own {kind} {r.code}",
            )
            for r in rows
        ]
    return out


def _addon_offenders(session: Session, tenant, org) -> list[Offender]:
    addon_product, addon_copy = aliased(Product), aliased(Product)
    rows = session.execute(
        select(Subscription.code, Account.code.label("account"), addon_product.sku)
        .join(Account, Account.id == Subscription.account_id)
        .join(SubscriptionAddon, SubscriptionAddon.subscription_id == Subscription.id)
        .join(addon_product, addon_product.id == SubscriptionAddon.product_id)
        .outerjoin(
            addon_copy,
            and_(
                addon_copy.org_id == org.id,
                addon_copy.source_product_id == addon_product.id,
                addon_copy.status == "active",
            ),
        )
        .where(
            _customers(tenant),
            Subscription.status.in_(COPIED_STATUSES),
            _not_copied(Subscription, org.id),
            addon_copy.id.is_(None),
        )
        .order_by(Subscription.code)
    ).all()
    return [
        Offender(
            "subscription",
            r.code,
            r.account,
            f"add-on {r.sku} is not sold in the tenant",
            "add it to the tenant's price list in the parent and run `tenantctl tenant update`",
        )
        for r in rows
    ]


def _asset_offenders(session: Session, tenant, org) -> list[Offender]:
    copied, product_copy = _copied_customer(), aliased(Product)
    rows = session.execute(
        select(
            Asset.code,
            Account.code.label("account"),
            Product.sku,
            copied.id.label("copied_id"),
            product_copy.id.label("tenant_product"),
        )
        .join(Account, Account.id == Asset.account_id)
        .join(Product, Product.id == Asset.product_id)
        .outerjoin(copied, and_(copied.org_id == org.id, copied.source_account_id == Account.id))
        .outerjoin(
            product_copy,
            and_(product_copy.org_id == org.id, product_copy.source_product_id == Product.id),
        )
        .where(_customers(tenant), Asset.status.in_(COPIED_STATUSES), _not_copied(Asset, org.id))
        .order_by(Asset.code)
    ).all()
    out = []
    for r in rows:
        if r.copied_id is None:
            out.append(
                Offender(
                    "asset",
                    r.code,
                    r.account,
                    "its customer is not copied into the tenant",
                    "run `tenantctl upgrade customers`",
                )
            )
        elif r.tenant_product is None:
            out.append(
                Offender(
                    "asset",
                    r.code,
                    r.account,
                    f"product {r.sku} is not in the tenant",
                    "add it to the tenant's price list in the parent "
                    "and run `tenantctl tenant update`",
                )
            )
    return out


def _sync_offenders(session: Session, tenant, org) -> list[Offender]:
    copied, copied_sync = _copied_customer(), aliased(SyncRecord)
    rows = session.execute(
        select(Account.code, SyncRecord.platform)
        .join(SyncRecord, SyncRecord.account_id == Account.id)
        .join(copied, and_(copied.org_id == org.id, copied.source_account_id == Account.id))
        .outerjoin(
            copied_sync,
            and_(copied_sync.account_id == copied.id, copied_sync.platform == SyncRecord.platform),
        )
        .where(_customers(tenant), copied_sync.id.is_(None))
        .order_by(Account.code, SyncRecord.platform)
    ).all()
    # The configuration is read only to word an offender (most checks find none).
    needs = {p for p, spec in config.platforms().items() if spec.needs_sync} if rows else set()
    return [
        Offender(
            "customer",
            r.code,
            r.code,
            f"its {r.platform} provisioning sync record was not copied"
            + (" (the platform needs one)" if r.platform in needs else ""),
            "sync the customer in the tenant, or run `tenantctl upgrade customers`",
        )
        for r in rows
    ]


def _require_prechecks(session: Session, tenant: TenantReseller) -> None:
    offenders = subscription_prechecks(session, tenant)
    if offenders:
        lines = "\n  ".join(
            f"{o.kind} {o.code} ({o.account}): {o.problem}; fix: {o.fix}" for o in offenders
        )
        raise CheckFailed(
            f"{plural(len(offenders), 'record')} cannot be copied; nothing was copied:\n  {lines}"
        )


def request_subscription_transfer(
    engine, ref: str, parent_id: int, *, foreground: bool = False
) -> int:
    """Pre-check, then queue the copy of the customers' subscriptions and assets.

    FOREGROUND: this program runs the process next, and its first run need not check
    again what was checked in the transaction that queued it.
    """
    with write_session(engine) as session:
        tenant = _ready_tenant(session, ref, parent_id)
        if tenant.phase == "setup":
            raise Conflict(
                f"the customers of {ref} are not copied yet: run "
                f"`tenantctl upgrade customers {ref}` first"
            )
        # Planner statistics for the rows the checks and the copy read (PostgreSQL): the
        # `load` that wrote them leaves none, and planned for empty tables the check and
        # each batch took nested loops that ran 5-10 times as long.
        analyze(session, "subscription", "subscription_addon", "asset")
        _require_prechecks(session, tenant)
        process_id = _enqueue(
            session, tenant, SUBSCRIPTIONS_KIND, "Copy the subscriptions of {}'s customers"
        )
    if foreground:
        jobs.hand_over(process_id)  # committed, with its pre-checks passed
    return process_id


def task_check_subscriptions(ctx) -> None:
    """Re-run the pre-checks inside the process (unless they were just run when this
    program queued it)."""
    checked = ctx.handed_over() is not None
    with ctx.transaction() as session:
        if not checked:
            _require_prechecks(session, session.get(TenantReseller, ctx.params["tenant_id"]))
        ctx.save(session, done=1, total=1)


def task_copy_subscriptions(ctx) -> None:
    """Copy every active subscription with its add-ons, priced in the tenant, in batches."""
    _copy_records(ctx, Subscription, copy_subscription_batch, "subscriptions")


def task_copy_assets(ctx) -> None:
    """Copy every active asset of the customers, in batches."""
    _copy_records(ctx, Asset, copy_asset_batch, "assets")


def _copy_in_batches(
    ctx,
    what: str,
    count_total,
    copy_batch,
    count_done,
    batch: int = BATCH,
    analyzed: tuple[str, ...] = (),
) -> tuple[int, int]:
    """Run COPY_BATCH (up to BATCH rows) until it copies nothing, each batch committed with
    the task's progress (fenced by the lease); returns (new, already): the rows this process
    copied, and those copied before it (by an earlier run). Its progress counts the new ones
    only. The tables ANALYZED get fresh planner statistics after the first batch that
    copied rows."""
    with ctx.transaction() as session:
        tenant = session.get(TenantReseller, ctx.params["tenant_id"])
        already = ctx.checkpoint.get("already")  # kept across a resumed attempt
        if already is None:
            already = count_done(session, tenant)
        total = count_total(session, tenant) - already
        ctx.save(session, checkpoint={**ctx.checkpoint, "already": already}, total=total)
    while True:
        with ctx.transaction() as session:
            tenant = session.get(TenantReseller, ctx.params["tenant_id"])
            copied = copy_batch(session, tenant, config.copy_batch(batch))
            if copied and analyzed:
                # PostgreSQL's statistics say the tenant holds none of these rows: planned
                # on them, a later check for "not copied yet" scans every copy once per
                # row it checks (10,000 subscriptions: 7 s for the last one alone).
                analyze(session, *analyzed)
                analyzed = ()
            new = count_done(session, tenant) - already
            ctx.save(session, done=new, total=max(total, new))
            if copied:
                ctx.log(f"copied {new} of {total} {what}")  # commits with the batch
        if not copied:
            return new, already


def _copy_records(ctx, model, copy_batch, what: str) -> None:
    new, already = _copy_in_batches(
        ctx,
        what,
        lambda session, tenant: _to_copy_total(session, model, tenant),
        copy_batch,
        lambda session, tenant: _copied(session, model, tenant),
        RECORDS_BATCH,
        # Also what the re-check below plans on: on the statistics from before the copy,
        # its code check ran a nested loop for minutes at 1,000 subscriptions.
        analyzed=(model.__tablename__, "subscription_addon"),
    )
    ctx.log(f"{what}: {new} new, {already} already copied")
    with ctx.transaction() as session:
        # What could not be copied (changed since the pre-check) is reported, not retried.
        _require_prechecks(session, session.get(TenantReseller, ctx.params["tenant_id"]))


def task_go_live(ctx) -> None:
    """Switch back-ordering on: the tenant reseller is live."""
    with ctx.transaction() as session:
        tenant = session.get(TenantReseller, ctx.params["tenant_id"])
        tenant.phase = "live"
        tenant.backorder_state = "on"
        ctx.log("subscriptions and assets copied; back-ordering is on and the reseller is live")
        ctx.save(session, done=1, total=1)


def _to_copy_total(session: Session, model, tenant: TenantReseller) -> int:
    return session.execute(
        select(func.count(model.id))
        .join(Account, Account.id == model.account_id)
        .where(_customers(tenant), model.status.in_(COPIED_STATUSES))
    ).scalar_one()


def _copied(session: Session, model, tenant: TenantReseller) -> int:
    source = getattr(model, _SOURCE[model])
    return session.execute(
        select(func.count(model.id)).where(model.org_id == tenant.org_id, source.is_not(None))
    ).scalar_one()


def copy_subscription_batch(session: Session, tenant: TenantReseller, limit: int) -> int:
    """Copy up to LIMIT subscriptions not copied yet, with their add-ons. Each is priced from
    the customer's price list in the tenant and billed on the customer's billing day.

    No row goes through Python and no batch reads again the rows of the batches before it:
    a batch is the range of the next LIMIT subscriptions after the highest one copied
    (found on the subscriptions alone), copied by one INSERT ... SELECT, its add-ons by
    another (this batch's copies are the rows above the table's highest id from before
    it). Past the last range, when a row below it is left (skipped before: it could not
    be copied then), one pass over every subscription takes what can be copied now.
    """
    org_id = tenant.org_id
    before = session.execute(select(func.max(Subscription.id))).scalar() or 0
    # The highest parent row copied so far (the tenant's mirrors of its own tenants' sales
    # also name a source: theirs are not the parent's).
    source = aliased(Subscription)
    start = after = (
        session.execute(
            # Down the (org, source) key from its end: not max(), which reads every copy.
            select(Subscription.source_subscription_id)
            .join(source, source.id == Subscription.source_subscription_id)
            .where(Subscription.org_id == org_id, source.org_id == tenant.parent_org_id)
            .order_by(Subscription.source_subscription_id.desc())
            .limit(1)
        ).scalar()
        or 0
    )
    while True:
        # Read in id order from AFTER on, so it stops at the LIMIT-th (no sort of the rest).
        upto = session.execute(
            select(Subscription.id)
            .where(
                Subscription.id > after,
                Subscription.status.in_(COPIED_STATUSES),
                exists().where(Account.id == Subscription.account_id, _customers(tenant)),
            )
            .order_by(Subscription.id)
            .offset(limit - 1)
            .limit(1)
        ).scalar()
        # The last range ends at the table's highest id (every source is at most that).
        count = _copy_subscriptions(session, tenant, limit, after, before if upto is None else upto)
        if count or upto is None:
            break
        after = upto  # a range of rows that cannot be copied now: the next one
    if not count and start and _left_upto(session, tenant, start):
        count = _copy_subscriptions(session, tenant, limit, 0, start)
    if not count:
        return 0
    sub_copy, addon_copy = aliased(Subscription), aliased(Product)
    session.execute(
        insert(SubscriptionAddon).from_select(
            ["subscription_id", "product_id", "quantity"],
            select(sub_copy.id, addon_copy.id, SubscriptionAddon.quantity)
            .select_from(sub_copy)
            .join(
                SubscriptionAddon,
                SubscriptionAddon.subscription_id == sub_copy.source_subscription_id,
            )
            .join(
                addon_copy,
                and_(
                    addon_copy.org_id == org_id,
                    addon_copy.source_product_id == SubscriptionAddon.product_id,
                ),
            )
            .where(sub_copy.id > before, sub_copy.org_id == org_id),
        )
    )
    return count


def _left_upto(session: Session, tenant: TenantReseller, upto: int) -> bool:
    """Whether a subscription to copy, of id at most UPTO, is not copied yet: read from the
    subscriptions and their copies alone, where the pass that would copy it joins every
    row to the tenant's customers, products and prices (most runs find none left)."""
    return (
        session.execute(
            select(Subscription.id)
            .join(Account, Account.id == Subscription.account_id)
            .where(*_subscriptions_to_copy(tenant, tenant.org_id), Subscription.id <= upto)
            .limit(1)
        ).first()
        is not None
    )


def _copy_subscriptions(
    session: Session, tenant: TenantReseller, limit: int, above: int, upto: int
) -> int:
    """Copy up to LIMIT subscriptions not copied yet whose id is above ABOVE and at most
    UPTO, in id order, in one INSERT ... SELECT; returns how many."""
    org_id = tenant.org_id
    copied, product_copy = _copied_customer(), aliased(Product)
    # Only rows that can be copied now (customer, product and price in the tenant): a row
    # that lost its price since the pre-check is left for the final check to report.
    return session.execute(
        insert(Subscription).from_select(
            [
                "org_id",
                "code",
                "account_id",
                "product_id",
                "unit",
                "quantity",
                "unit_price",
                "currency",
                "status",
                "start_date",
                "auto_renew",
                "paid",
                "billing_day",
                "characteristics",
                "source_subscription_id",
                "created_at",
            ],
            select(
                literal(org_id),
                Subscription.code,
                copied.id,
                product_copy.id,
                Subscription.unit,
                Subscription.quantity,
                PriceListItem.price,
                Subscription.currency,
                Subscription.status,
                Subscription.start_date,
                Subscription.auto_renew,
                Subscription.paid,
                copied.billing_day,
                Subscription.characteristics,
                Subscription.id,
                literal(utcnow(), Subscription.__table__.c.created_at.type),
            )
            .join(Account, Account.id == Subscription.account_id)
            .join(
                copied,
                and_(copied.org_id == org_id, copied.source_account_id == Subscription.account_id),
            )
            .join(
                product_copy,
                and_(
                    product_copy.org_id == org_id,
                    product_copy.source_product_id == Subscription.product_id,
                ),
            )
            .join(PriceListItem, _listed_now(copied, product_copy))
            .where(
                *_subscriptions_to_copy(tenant, org_id),
                Subscription.id > above,
                Subscription.id <= upto,
            )
            .order_by(Subscription.id)
            .limit(limit),
        ),
        execution_options=COUNT_ROWS,
    ).rowcount


def copy_asset_batch(session: Session, tenant: TenantReseller, limit: int) -> int:
    """Copy up to LIMIT assets not copied yet, in one INSERT ... SELECT."""
    org_id = tenant.org_id
    copied, product_copy = _copied_customer(), aliased(Product)
    return session.execute(
        insert(Asset).from_select(
            [
                "org_id",
                "code",
                "account_id",
                "product_id",
                "kind",
                "quantity",
                "purchase_date",
                "status",
                "characteristics",
                "source_asset_id",
                "created_at",
            ],
            select(
                literal(org_id),
                Asset.code,
                copied.id,
                product_copy.id,
                Asset.kind,
                Asset.quantity,
                Asset.purchase_date,
                Asset.status,
                Asset.characteristics,
                Asset.id,
                literal(utcnow(), Asset.__table__.c.created_at.type),
            )
            .join(Account, Account.id == Asset.account_id)
            .join(
                copied, and_(copied.org_id == org_id, copied.source_account_id == Asset.account_id)
            )
            .join(
                product_copy,
                and_(
                    product_copy.org_id == org_id,
                    product_copy.source_product_id == Asset.product_id,
                ),
            )
            .where(
                _customers(tenant), Asset.status.in_(COPIED_STATUSES), _not_copied(Asset, org_id)
            )
            .order_by(Asset.id)
            .limit(limit),
        ),
        execution_options=COUNT_ROWS,
    ).rowcount


jobs.register(
    jobs.ProcessKind(
        SUBSCRIPTIONS_KIND,
        [
            ("check the subscriptions", task_check_subscriptions),
            ("copy the subscriptions", task_copy_subscriptions),
            ("copy the assets", task_copy_assets),
            ("switch back-ordering on", task_go_live),
        ],
    )
)


# --- status -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferStatus:
    tenant: str
    phase: str
    backorder_state: str
    customers_copied: int
    customers_left: int
    subscriptions_copied: int
    subscriptions_left: int
    assets_copied: int
    assets_left: int


def transfer_status(session: Session, ref: str, parent_id: int) -> TransferStatus:
    """The phase of a lite reseller's upgrade and the counts copied and left."""
    tenant = find_tenant(session, ref, parent_id)
    account = session.get(Account, tenant.account_id)
    if tenant.org_id is None:
        return TransferStatus(account.code, tenant.phase, tenant.backorder_state, 0, 0, 0, 0, 0, 0)
    customers = session.execute(
        select(func.count(Account.id)).where(_customers(tenant))
    ).scalar_one()
    counts = {}
    for model in (Account, Subscription, Asset):
        counts[model] = _copied(session, model, tenant)
    subs, assets = (_to_copy_total(session, m, tenant) for m in (Subscription, Asset))
    return TransferStatus(
        account.code,
        tenant.phase,
        tenant.backorder_state,
        counts[Account],
        customers - counts[Account],
        counts[Subscription],
        max(subs - _copied_of_active(session, Subscription, tenant), 0),
        counts[Asset],
        max(assets - _copied_of_active(session, Asset, tenant), 0),
    )


def _copied_of_active(session: Session, model, tenant: TenantReseller) -> int:
    copy = aliased(model)
    source = copy.source_subscription_id if model is Subscription else copy.source_asset_id
    return session.execute(
        select(func.count(model.id))
        .join(Account, Account.id == model.account_id)
        .where(
            _customers(tenant),
            model.status.in_(COPIED_STATUSES),
            exists().where(copy.org_id == tenant.org_id, source == model.id),
        )
    ).scalar_one()

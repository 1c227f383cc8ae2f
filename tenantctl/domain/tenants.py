"""Tenant resellers: created through the process queue (SPEC section 3), listed and shown.

The creation is a queued process of seven idempotent tasks. Each task can be cut off at
any moment (kill -9) and run again by another worker: it either finds its work done, or
continues from the last batch it committed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import and_, exists, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tenantctl import config, jobs
from tenantctl.domain import fields
from tenantctl.domain.catalogue import revision_in_effect
from tenantctl.domain.checklist import require_checklist, run_checklist
from tenantctl.domain.languages import ISO_639_1
from tenantctl.domain.orgs import get_account, get_price_list
from tenantctl.domain.users import check_password_strength, hash_password
from tenantctl.errors import BadInput, NotFound, Refused
from tenantctl.store.engine import COUNT_ROWS, read_session, write_session
from tenantctl.store.models import (
    Account,
    Organisation,
    PriceList,
    PriceListItem,
    PriceListRevision,
    Product,
    ProductUnit,
    ProvisioningSetting,
    Storefront,
    TenantReseller,
    User,
    UserGroup,
    utcnow,
)
from tenantctl.words import plural

CREATE_KIND = "tenant.create"
COPY_BATCH = 5000
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,99}$")


@dataclass(frozen=True)
class TenantRequest:
    """What `tenant create` asks for (everything but the password)."""

    account: str
    price_list: str
    edition: str
    language: str | None
    timezone: str | None
    date_format: str | None
    separate_invoices: bool
    admin_username: str
    admin_email: str


def complete_request(req: TenantRequest, parent: Organisation) -> TenantRequest:
    """Fill the regional options left out (None) from the parent organisation."""
    return replace(
        req,
        language=req.language or parent.language,
        timezone=req.timezone or parent.timezone,
        date_format=req.date_format or parent.date_format,
    )


def validate_request(req: TenantRequest) -> None:
    """Refuse bad options before anything is queued, naming each bad option."""
    problems = []
    fields.collect(problems, "--edition", fields.choice, req.edition, fields.EDITIONS)
    if req.language.split("-")[0].lower() not in ISO_639_1:
        problems.append(f"--language: {req.language!r} is not an ISO 639-1 language code")
    fields.collect(
        problems,
        "--timezone",
        fields.timezone,
        req.timezone,
        fields.length(Organisation, "timezone"),
    )
    fields.collect(
        problems, "--date-format", fields.choice, req.date_format, config.tenants()["date_formats"]
    )
    if not _USERNAME.match(req.admin_username):
        problems.append(
            f"--admin-username: {req.admin_username!r} must be 2-100 letters, "
            "digits, dots, dashes or underscores"
        )
    fields.collect(
        problems, "--admin-email", fields.email, req.admin_email, fields.length(User, "email")
    )
    if problems:
        raise BadInput("bad tenant options; nothing was queued", problems)


def request_tenant_creation(
    engine, req: TenantRequest, password: str, parent_id: int, *, foreground: bool = False
) -> int:
    """Check, then queue the creation of a tenant reseller of the org PARENT_ID (the root,
    or a tenant making tenants of its own); returns the process id.

    The checklist runs first (exit 3 when it fails). The tenant row and its process are
    written in one transaction, and the tenant row is unique per account, so of two
    concurrent requests for one account exactly one is queued. FOREGROUND: this program
    runs the process next, and its first run need not check the checklist again.
    """
    with read_session(engine) as session:
        req = complete_request(req, session.get(Organisation, parent_id))
    validate_request(req)
    check_password_strength(password)
    password_hash = hash_password(password)
    try:
        with write_session(engine) as session:
            parent = session.get(Organisation, parent_id)
            require_checklist(run_checklist(session, parent, req.account, req.price_list))
            account = get_account(session, parent, req.account)
            price_list = get_price_list(session, parent, req.price_list)
            tenant = TenantReseller(
                account_id=account.id,
                parent_org_id=parent.id,
                price_list_id=price_list.id,
                edition=req.edition,
                separate_invoices=req.separate_invoices,
                admin_username=req.admin_username,
                admin_email=req.admin_email,
                admin_password_hash=password_hash,
            )
            session.add(tenant)
            session.flush()
            process_id = jobs.enqueue(
                session,
                CREATE_KIND,
                {
                    "tenant_id": tenant.id,
                    "account": account.code,
                    "price_list": price_list.name,
                    "revision": revision_in_effect(session, price_list.id, date.today()),
                    "language": req.language,
                    "timezone": req.timezone,
                    "date_format": req.date_format,
                },
                title=f"Create tenant reseller {account.code}",
                lock_key=creation_lock_key(account.id),
                owner_id=parent.id,
            )
            tenant.creation_process_id = process_id
    except IntegrityError:
        raise Refused(
            f"{req.account} is already a tenant reseller (another creation "
            "was queued at the same moment)"
        ) from None
    if foreground:
        _checked.add(process_id)  # committed, with its checklist passed
    return process_id


# --- the creation tasks ------------------------------------------------------------------


def creation_lock_key(account_id: int) -> str:
    """The lock key of a tenant creation: one at a time per reseller account."""
    return f"tenant-create:{account_id}"


def _creation_retry_refused(session: Session, process_id: int, params: dict) -> str | None:
    tenant = session.get(TenantReseller, params.get("tenant_id"))
    if tenant is None or tenant.creation_process_id not in (None, process_id):
        return (
            f"the tenant reseller {params.get('account')} it created was discarded; "
            f"`tenantctl tenant create {params.get('account')}` starts a new creation"
        )
    return None


def _tenant(session: Session, ctx) -> TenantReseller:
    """The tenant this creation process builds; refused (the process fails at once) when
    it was discarded since, even if its account asked for a tenant again."""
    tenant = session.get(TenantReseller, ctx.params["tenant_id"])
    if tenant is None or tenant.creation_process_id not in (None, ctx.process_id):
        raise Refused(
            f"the creation of tenant reseller {ctx.params['account']} by this "
            "process was discarded (`tenantctl tenant discard`); there is nothing "
            "left for it to build"
        )
    return tenant


# The creations whose checklist request_tenant_creation passed in the transaction that
# queued them, for this program to run next (in the foreground): their first run does not
# check it again. A worker, a retry or a resumed run re-checks.
_checked: set[int] = set()


def task_checklist(ctx) -> None:
    """Re-check the preparation checklist inside the process (unless it was just checked
    when this program queued it)."""
    checked = ctx.process_id in _checked and ctx.attempt == 1
    _checked.discard(ctx.process_id)
    with ctx.transaction() as session:
        tenant = _tenant(session, ctx)
        if not checked:
            result = run_checklist(
                session,
                session.get(Organisation, tenant.parent_org_id),
                ctx.params["account"],
                ctx.params["price_list"],
                creating=tenant.id,
            )
            require_checklist(result)
        ctx.log(f"checklist passed for {ctx.params['account']}")
        ctx.save(session, done=1, total=1)


def new_client_id() -> str:
    """An unguessable client id (128 random bits) to log in to the tenant's BSS."""
    return secrets.token_hex(16)


def task_create_org(ctx) -> None:
    """Create the tenant organisation under the parent."""
    with ctx.transaction() as session:
        tenant = _tenant(session, ctx)
        if tenant.org_id is None:
            account = session.get(Account, tenant.account_id)
            price_list = session.get(PriceList, tenant.price_list_id)
            org = Organisation(
                name=account.name,
                kind="tenant",
                parent_id=tenant.parent_org_id,
                edition=tenant.edition,
                language=ctx.params["language"],
                timezone=ctx.params["timezone"],
                date_format=ctx.params["date_format"],
                currency=price_list.currency,
                country=account.country,
                client_id=new_client_id(),
                status="setup",
            )
            session.add(org)
            session.flush()
            tenant.org_id = org.id
            ctx.log(f"created organisation {org.name!r} ({org.currency}, {org.edition})")
        ctx.save(session, done=1, total=1)


def task_create_admin(ctx) -> None:
    """Create the administrator user and its default group with full access."""
    settings = config.tenants()["admin_group"]
    with ctx.transaction() as session:
        tenant = _tenant(session, ctx)
        group = (
            session.execute(
                select(UserGroup).where(
                    UserGroup.org_id == tenant.org_id, UserGroup.name == settings["name"]
                )
            )
            .scalars()
            .first()
        )
        if group is None:
            group = UserGroup(
                org_id=tenant.org_id, name=settings["name"], modules=list(settings["modules"])
            )
            session.add(group)
            session.flush()
        if tenant.admin_password_hash is not None:
            session.add(
                User(
                    org_id=tenant.org_id,
                    group_id=group.id,
                    username=tenant.admin_username,
                    email=tenant.admin_email,
                    password_hash=tenant.admin_password_hash,
                )
            )
            tenant.admin_password_hash = None
            ctx.log(f"created administrator {tenant.admin_username} in group {group.name}")
        ctx.save(session, done=1, total=1)


def task_copy_catalogue(ctx) -> None:
    """Copy every product of the price list with its units at cost, and the retail list."""
    revision = ctx.params["revision"]
    with ctx.transaction() as session:
        tenant = _tenant(session, ctx)
        org_id, price_list_id = tenant.org_id, tenant.price_list_id
        retail_id = ensure_retail_price_list(session, org_id)
        total = count_listed_products(session, price_list_id, revision)
        ctx.save(session, total=total)
    after = 0  # the highest source id copied by the last batch: the next one starts above it
    while True:
        with ctx.transaction() as session:
            copied, after = copy_catalogue_after(
                session,
                org_id,
                price_list_id,
                revision,
                retail_id,
                config.copy_batch(COPY_BATCH),
                after=after,
            )
            done = _count(session, Product, org_id)
            ctx.save(session, done=done, total=total)
        if copied == 0:
            break
        ctx.log(f"copied {done} of {plural(total, 'product')}")
    with ctx.transaction() as session:
        link_add_ons(session, org_id)
        _finish_retail_revision(session, retail_id)
        ctx.log(
            f"catalogue copied: {plural(done, 'product')}, "
            f"{plural(_count(session, ProductUnit, org_id), 'unit')}"
        )
        ctx.save(session, done=done, total=total)


def task_copy_provisioning(ctx) -> None:
    """Copy the provisioning settings of each platform present in the tenant's catalogue."""
    templates = config.tenants()["provisioning"]
    with ctx.transaction() as session:
        org_id = _tenant(session, ctx).org_id
        present = set(
            session.execute(
                select(Product.platform).where(Product.org_id == org_id).distinct()
            ).scalars()
        )
        have = set(
            session.execute(
                select(ProvisioningSetting.platform).where(ProvisioningSetting.org_id == org_id)
            ).scalars()
        )
        for platform in sorted(present - have):
            template = templates.get(platform, {"editable": {}, "read_only": {}})
            session.add(
                ProvisioningSetting(
                    org_id=org_id,
                    platform=platform,
                    editable=dict(template["editable"]),
                    read_only=dict(template["read_only"]),
                )
            )
        ctx.log(f"provisioning settings for {', '.join(sorted(present)) or 'no platform'}")
        ctx.save(session, done=len(present), total=len(present))


def task_create_storefront(ctx) -> None:
    """Premium edition only: create the tenant's white-label storefront."""
    branding = config.tenants()["storefront"]
    with ctx.transaction() as session:
        tenant = _tenant(session, ctx)
        edition = tenant.edition
    if edition != "premium":
        ctx.skip(f"a {edition} tenant has no storefront")
    with ctx.transaction() as session:
        tenant = _tenant(session, ctx)
        if (
            session.execute(select(Storefront.id).where(Storefront.org_id == tenant.org_id)).first()
            is None
        ):
            org = session.get(Organisation, tenant.org_id)
            session.add(
                Storefront(org_id=org.id, name=f"{org.name} Store", branding=dict(branding))
            )
            ctx.log(f"created storefront {org.name} Store")
        ctx.save(session, done=1, total=1)


def task_record_revision(ctx) -> None:
    """Record the price-list revision the tenant now has; the tenant is ready."""
    with ctx.transaction() as session:
        tenant = _tenant(session, ctx)
        tenant.price_list_revision = ctx.params["revision"]
        tenant.status = "active"
        org = session.get(Organisation, tenant.org_id)
        org.status = "active"  # its users may log in from now on
        ctx.result["client_id"] = org.client_id
        ctx.log(
            f"tenant ready at price-list revision {tenant.price_list_revision}; "
            f"phase {tenant.phase}, back-ordering {tenant.backorder_state}"
        )
        ctx.save(session, done=1, total=1)


jobs.register(
    jobs.ProcessKind(
        CREATE_KIND,
        [
            ("check the checklist", task_checklist),
            ("create the organisation", task_create_org),
            ("create the administrator", task_create_admin),
            ("copy the catalogue", task_copy_catalogue),
            ("copy provisioning settings", task_copy_provisioning),
            ("create the storefront", task_create_storefront),
            ("record the price-list revision", task_record_revision),
        ],
        retry_refused=_creation_retry_refused,
    )
)


# --- set-based catalogue copy ------------------------------------------------------------


def _in_revision(item, price_list_id: int, revision: int):
    return and_(
        item.c.price_list_id == price_list_id,
        item.c.from_revision <= revision,
        (item.c.to_revision.is_(None)) | (item.c.to_revision > revision),
    )


def count_listed_products(session: Session, price_list_id: int, revision: int) -> int:
    item = PriceListItem.__table__
    return session.execute(
        select(func.count(func.distinct(item.c.product_id))).where(
            _in_revision(item, price_list_id, revision)
        )
    ).scalar_one()


def retail_price_list_name(currency: str) -> str:
    """The name of a tenant's retail price list (its sell prices)."""
    return f"Retail {currency}"


def ensure_retail_price_list(session: Session, org_id: int) -> int:
    """The tenant's retail price list (sell prices), created empty at revision 1."""
    org = session.get(Organisation, org_id)
    name = retail_price_list_name(org.currency)
    existing = session.execute(
        select(PriceList.id).where(PriceList.org_id == org_id, PriceList.name == name)
    ).scalar()
    if existing is not None:
        return existing
    price_list = PriceList(org_id=org_id, name=name, currency=org.currency)
    session.add(price_list)
    session.flush()
    session.add(
        PriceListRevision(
            price_list_id=price_list.id, number=1, source="created with the tenant at cost"
        )
    )
    session.flush()
    return price_list.id


def copy_catalogue_batch(
    session: Session,
    org_id: int,
    price_list_id: int,
    revision: int,
    retail_id: int,
    limit: int,
    retail_revision: int = 1,
) -> int:
    """Copy up to LIMIT products of the price list not yet in the tenant, with their units.

    Three INSERT ... SELECT statements: products, units at cost (the price-list price), and
    retail items at sell price = cost. Each skips what is already copied, and the unique
    keys on (org, source) are the backstop, so a batch run twice copies nothing twice.
    Returns how many products this batch copied.
    """
    return copy_catalogue_after(
        session, org_id, price_list_id, revision, retail_id, limit, retail_revision
    )[0]


def copy_catalogue_after(
    session: Session,
    org_id: int,
    price_list_id: int,
    revision: int,
    retail_id: int,
    limit: int,
    retail_revision: int = 1,
    after: int = 0,
) -> tuple[int, int]:
    """`copy_catalogue_batch` of the products with an id above AFTER (the last batch's
    highest: the ones below are not read again), or of any when none is left above it;
    returns how many products it copied and the highest source id of the batch."""
    item, product = PriceListItem.__table__, Product.__table__
    target = product.alias("target")
    # Listed: looked up per product (an index probe), not a list of the whole price list
    # built again by every statement of every batch.
    listed = exists().where(
        item.c.product_id == product.c.id, _in_revision(item, price_list_id, revision)
    )
    # Not copied yet, and its SKU free in the tenant (a product of the reseller's own may
    # hold it: the update reports that, see updates.SKU_IN_USE).
    not_copied = ~exists().where(
        target.c.org_id == org_id,
        (target.c.source_product_id == product.c.id) | (target.c.sku == product.c.sku),
    )

    def bounds(above: int) -> tuple[int | None, int | None]:
        # From the price list's items in their index's order (not every product of the
        # store), each listed product looked up once.
        sku = (
            select(product.c.sku)
            .where(product.c.id == item.c.product_id)
            .correlate(item)
            .scalar_subquery()
        )
        ids = (
            select(item.c.product_id.label("id"))
            .where(_in_revision(item, price_list_id, revision), item.c.product_id > above)
            .group_by(item.c.product_id)
            .having(
                ~exists().where(
                    target.c.org_id == org_id,
                    (target.c.source_product_id == item.c.product_id) | (target.c.sku == sku),
                )
            )
            .order_by(item.c.product_id)
            .limit(limit)
            .subquery()
        )
        return session.execute(select(func.min(ids.c.id), func.max(ids.c.id))).one()

    low, high = bounds(after)
    if low is None and after:
        low, high = bounds(0)  # nothing left above AFTER: look at the whole list once
    if low is None:
        return 0, after
    # The batch is every listed product not yet copied with an id from LOW to HIGH.
    batch = range(low, high + 1)
    now = utcnow()
    result = session.execute(
        insert(product).from_select(
            [
                "org_id",
                "sku",
                "name",
                "platform",
                "product_type",
                "status",
                "description",
                "category",
                "visible",
                "source_product_id",
                "created_at",
            ],
            select(
                literal(org_id),
                product.c.sku,
                product.c.name,
                product.c.platform,
                product.c.product_type,
                literal("active"),
                product.c.description,
                product.c.category,
                literal(True),
                product.c.id,
                literal(now, product.c.created_at.type),
            )
            .where(product.c.id.between(low, high), listed, not_copied)
            .order_by(product.c.id),
        ),
        execution_options=COUNT_ROWS,
    )
    copied = result.rowcount
    if not copied:
        return 0, high
    copy_units(
        session, org_id, price_list_id, revision, retail_id, retail_revision, source_ids=batch
    )
    return copied, high


def copy_units(
    session: Session,
    org_id: int,
    price_list_id: int,
    revision: int,
    retail_id: int | None,
    retail_revision: int = 1,
    *,
    source_ids: list[int] | range | None = None,
) -> int:
    """Copy the listed units missing in the tenant at cost; add them to the retail list
    (from RETAIL_REVISION on: 1 at creation, the update's new revision later). With
    SOURCE_IDS (ids, or a range of ids), only the units of those source products: the
    batch just copied, not the whole list again."""
    item, product, unit = PriceListItem.__table__, Product.__table__, ProductUnit.__table__
    target, target_unit = product.alias("target"), unit.alias("target_unit")
    listed = _in_revision(item, price_list_id, revision)
    if source_ids is not None:
        listed = and_(listed, _among(item.c.product_id, source_ids))
    units = session.execute(
        insert(unit).from_select(
            ["org_id", "product_id", "unit", "status", "cost_price", "source_unit_id"],
            select(
                literal(org_id),
                target.c.id,
                item.c.unit,
                literal("active"),
                item.c.price,
                unit.c.id,
            )
            .join(
                target,
                and_(target.c.source_product_id == item.c.product_id, target.c.org_id == org_id),
            )
            .join(unit, and_(unit.c.product_id == item.c.product_id, unit.c.unit == item.c.unit))
            .where(
                listed,
                ~exists().where(
                    target_unit.c.org_id == org_id, target_unit.c.source_unit_id == unit.c.id
                ),
            ),
        ),
        execution_options=COUNT_ROWS,
    ).rowcount
    if retail_id is not None:
        retail = item.alias("retail")
        held = select(
            literal(retail_id),
            unit.c.product_id,
            unit.c.unit,
            unit.c.cost_price,
            literal(retail_revision),
        ).where(
            ~exists().where(
                retail.c.price_list_id == retail_id,
                retail.c.product_id == unit.c.product_id,
                retail.c.unit == unit.c.unit,
            )
        )
        if source_ids is None:
            held = held.where(unit.c.org_id == org_id)
        else:
            # The units of the tenant's copies of those sources (a unit is in its product's
            # org), found from the copies: not every unit the tenant holds read again at
            # each batch, nor (PostgreSQL) intersected with them per copy.
            held = held.join_from(unit, target, target.c.id == unit.c.product_id).where(
                target.c.org_id == org_id, _among(target.c.source_product_id, source_ids)
            )
        session.execute(
            insert(item).from_select(
                ["price_list_id", "product_id", "unit", "price", "from_revision"], held
            )
        )
    return units


def _among(column, ids: list[int] | range):
    if isinstance(ids, range):
        return column.between(ids.start, ids.stop - 1)
    return column.in_(ids)


def link_add_ons(session: Session, org_id: int, only_skus: list[str] | None = None) -> None:
    """Mirror the add-on relations of the source products among the tenant's copies
    (of ONLY_SKUS when given)."""
    product = Product.__table__
    source, parent_copy = product.alias("source"), product.alias("parent_copy")
    parent = (
        select(parent_copy.c.id)
        .join(source, source.c.add_on_of_id == parent_copy.c.source_product_id)
        .where(source.c.id == product.c.source_product_id, parent_copy.c.org_id == org_id)
        .scalar_subquery()
    )
    # Only the rows the statement can change: a copy with a relation, or whose source has
    # one (the others would be rewritten with the NULL they hold).
    has_add_on = exists().where(
        source.c.id == product.c.source_product_id, source.c.add_on_of_id.is_not(None)
    )
    stmt = update(product).where(
        product.c.org_id == org_id,
        product.c.source_product_id.is_not(None),
        product.c.add_on_of_id.is_not(None) | has_add_on,
    )
    if only_skus is not None:
        stmt = stmt.where(product.c.sku.in_(only_skus))
    session.execute(stmt.values(add_on_of_id=parent))


def _finish_retail_revision(session: Session, retail_id: int) -> None:
    item, rev = PriceListItem.__table__, PriceListRevision.__table__
    count = session.execute(
        select(func.count()).where(item.c.price_list_id == retail_id, item.c.to_revision.is_(None))
    ).scalar()
    session.execute(
        update(rev)
        .where(rev.c.price_list_id == retail_id, rev.c.number == 1)
        .values(item_count=count)
    )


def _count(session: Session, model, org_id: int) -> int:
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
    counts = {m: (_count(session, m, org.id) if org else 0) for m in (Product, ProductUnit, User)}
    storefront = (
        session.execute(select(Storefront.name).where(Storefront.org_id == org.id)).scalar()
        if org
        else None
    )
    provisioning = (
        sorted(
            session.execute(
                select(ProvisioningSetting.platform).where(ProvisioningSetting.org_id == org.id)
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
        products=counts[Product],
        units=counts[ProductUnit],
        users=counts[User],
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

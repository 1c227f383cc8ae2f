"""Creating a tenant reseller: a queued process of seven idempotent tasks (SPEC section 3).

Each task can be cut off at any moment (kill -9) and run again by another worker: it either
finds its work done, or continues from the last batch it committed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tenantctl import config, jobs
from tenantctl.domain import fields
from tenantctl.domain.catalogue import revision_in_effect
from tenantctl.domain.checklist import require_checklist, run_checklist
from tenantctl.domain.languages import ISO_639_1
from tenantctl.domain.orgs import get_account, get_price_list
from tenantctl.domain.tenants import count_in_org
from tenantctl.domain.tenants.catalogue_copy import (
    COPY_BATCH,
    copy_catalogue_batch,
    count_listed_products,
    ensure_retail_price_list,
    finish_retail_revision,
    link_add_ons,
)
from tenantctl.domain.users import check_password_strength, hash_password
from tenantctl.errors import BadInput, Refused
from tenantctl.store import models as m
from tenantctl.store.bulk import analyze
from tenantctl.store.engine import read_session, write_session
from tenantctl.words import plural

CREATE_KIND = "tenant.create"
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


def complete_request(req: TenantRequest, parent: m.Organisation) -> TenantRequest:
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
        fields.length(m.Organisation, "timezone"),
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
        problems, "--admin-email", fields.email, req.admin_email, fields.length(m.User, "email")
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
        req = complete_request(req, session.get(m.Organisation, parent_id))
    validate_request(req)
    check_password_strength(password)
    password_hash = hash_password(password)
    try:
        with write_session(engine) as session:
            parent = session.get(m.Organisation, parent_id)
            require_checklist(run_checklist(session, parent, req.account, req.price_list))
            account = get_account(session, parent, req.account)
            price_list = get_price_list(session, parent, req.price_list)
            tenant = m.TenantReseller(
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
        jobs.hand_over(process_id)  # committed, with its checklist passed
    return process_id


# --- the creation tasks ------------------------------------------------------------------


def creation_lock_key(account_id: int) -> str:
    """The lock key of a tenant creation: one at a time per reseller account."""
    return f"tenant-create:{account_id}"


def _creation_retry_refused(session: Session, process_id: int, params: dict) -> str | None:
    tenant = session.get(m.TenantReseller, params.get("tenant_id"))
    if tenant is None or tenant.creation_process_id not in (None, process_id):
        return (
            f"the tenant reseller {params.get('account')} it created was discarded; "
            f"`tenantctl tenant create {params.get('account')}` starts a new creation"
        )
    return None


def _tenant(session: Session, ctx) -> m.TenantReseller:
    """The tenant this creation process builds; refused (the process fails at once) when
    it was discarded since, even if its account asked for a tenant again."""
    tenant = session.get(m.TenantReseller, ctx.params["tenant_id"])
    if tenant is None or tenant.creation_process_id not in (None, ctx.process_id):
        raise Refused(
            f"the creation of tenant reseller {ctx.params['account']} by this "
            "process was discarded (`tenantctl tenant discard`); there is nothing "
            "left for it to build"
        )
    return tenant


def task_checklist(ctx) -> None:
    """Re-check the preparation checklist inside the process (unless it was just checked
    when this program queued it)."""
    checked = ctx.handed_over() is not None
    with ctx.transaction() as session:
        tenant = _tenant(session, ctx)
        if not checked:
            result = run_checklist(
                session,
                session.get(m.Organisation, tenant.parent_org_id),
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
            account = session.get(m.Account, tenant.account_id)
            price_list = session.get(m.PriceList, tenant.price_list_id)
            org = m.Organisation(
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
                select(m.UserGroup).where(
                    m.UserGroup.org_id == tenant.org_id, m.UserGroup.name == settings["name"]
                )
            )
            .scalars()
            .first()
        )
        if group is None:
            group = m.UserGroup(
                org_id=tenant.org_id, name=settings["name"], modules=list(settings["modules"])
            )
            session.add(group)
            session.flush()
        if tenant.admin_password_hash is not None:
            session.add(
                m.User(
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
    analyzed = False
    while True:
        with ctx.transaction() as session:
            copied, after = copy_catalogue_batch(
                session,
                org_id,
                price_list_id,
                revision,
                retail_id,
                config.copy_batch(COPY_BATCH),
                after=after,
            )
            if copied and not analyzed:
                # PostgreSQL's statistics say the new org holds no product: planned on them,
                # each later batch scanned the tenant's products once per product it checked
                # (51,618 products: 26 s, against 3.7 s with this; 12,100: 44 s against 1.5 s).
                analyze(session, "product", "product_unit", "price_list_item")
                analyzed = True
            done = count_in_org(session, m.Product, org_id)
            ctx.save(session, done=done, total=total)
        if copied == 0:
            break
        ctx.log(f"copied {done} of {plural(total, 'product')}")
    with ctx.transaction() as session:
        link_add_ons(session, org_id)
        finish_retail_revision(session, retail_id)
        ctx.log(
            f"catalogue copied: {plural(done, 'product')}, "
            f"{plural(count_in_org(session, m.ProductUnit, org_id), 'unit')}"
        )
        ctx.save(session, done=done, total=total)


def task_copy_provisioning(ctx) -> None:
    """Copy the provisioning settings of each platform present in the tenant's catalogue."""
    templates = config.tenants()["provisioning"]
    with ctx.transaction() as session:
        org_id = _tenant(session, ctx).org_id
        present = set(
            session.execute(
                select(m.Product.platform).where(m.Product.org_id == org_id).distinct()
            ).scalars()
        )
        have = set(
            session.execute(
                select(m.ProvisioningSetting.platform).where(m.ProvisioningSetting.org_id == org_id)
            ).scalars()
        )
        for platform in sorted(present - have):
            template = templates.get(platform, {"editable": {}, "read_only": {}})
            session.add(
                m.ProvisioningSetting(
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
            session.execute(
                select(m.Storefront.id).where(m.Storefront.org_id == tenant.org_id)
            ).first()
            is None
        ):
            org = session.get(m.Organisation, tenant.org_id)
            session.add(
                m.Storefront(org_id=org.id, name=f"{org.name} Store", branding=dict(branding))
            )
            ctx.log(f"created storefront {org.name} Store")
        ctx.save(session, done=1, total=1)


def task_record_revision(ctx) -> None:
    """Record the price-list revision the tenant now has; the tenant is ready."""
    with ctx.transaction() as session:
        tenant = _tenant(session, ctx)
        tenant.price_list_revision = ctx.params["revision"]
        tenant.status = "active"
        org = session.get(m.Organisation, tenant.org_id)
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

"""`tenantctl tenant ...`: create, list, show, update and discard tenant resellers."""

from __future__ import annotations

import os
import sys
from datetime import date
from typing import Annotated

import typer

from tenantctl.cli import lazy, output
from tenantctl.cli.options import Detach, Tenant, TenantOrAll, Yes
from tenantctl.cli.process import follow_in_foreground, queued
from tenantctl.cli.state import state
from tenantctl.cli.usage import confirm, whole_number
from tenantctl.domain.fields import EDITIONS, date_option
from tenantctl.errors import BadInput
from tenantctl.words import plural

tenants = lazy.module("tenantctl.domain.tenants")
creation = lazy.module("tenantctl.domain.tenants.creation")
updates = lazy.module("tenantctl.domain.updates")
discard_tenant = lazy.function("tenantctl.domain.discard", "discard_tenant")
check_password_strength = lazy.function("tenantctl.domain.users", "check_password_strength")

tenant_app = typer.Typer(
    help="Create, list, show, update and discard tenant resellers.", no_args_is_help=True
)

PASSWORD_ENV = "TENANTCTL_ADMIN_PASSWORD"


def _admin_password() -> str:
    """From TENANTCTL_ADMIN_PASSWORD, or a hidden prompt on a terminal; never an argument."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    if not sys.stdin.isatty():
        raise BadInput(
            f"the administrator's password: set {PASSWORD_ENV} (there is no terminal to ask on)"
        )
    return ask_password(
        lambda: typer.prompt("Administrator password", hide_input=True, confirmation_prompt=True)
    )


def ask_password(prompt, attempts: int = 3) -> str:
    """PROMPT for a password until it is long enough (at most ATTEMPTS times)."""
    for attempt in range(1, attempts + 1):
        password = prompt()
        try:
            check_password_strength(password)
        except BadInput as exc:
            if attempt == attempts:
                raise
            output.message(f"{exc}; try again.")
            continue
        return password
    raise AssertionError("unreachable")


@tenant_app.command("create")
def create(
    ctx: typer.Context,
    account: Annotated[
        str,
        typer.Argument(
            help="The reseller account's code in this org (the root, or the tenant of --org)."
        ),
    ],
    price_list: Annotated[
        str, typer.Option("--price-list", metavar="NAME", help="The price list the tenant resells.")
    ],
    admin_username: Annotated[
        str, typer.Option("--admin-username", help="The tenant administrator's login.")
    ],
    admin_email: Annotated[
        str, typer.Option("--admin-email", help="The tenant administrator's e-mail.")
    ],
    edition: Annotated[
        str,
        typer.Option(
            metavar="{basic|premium}",
            autocompletion=lambda: list(EDITIONS),
            help="premium has a storefront (checked with the other options).",
        ),
    ] = "basic",
    language: Annotated[
        str | None, typer.Option(help="ISO 639-1 code (default: the parent's).")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA time zone, e.g. Europe/Athens (default: the parent's).")
    ] = None,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="e.g. DD/MM/YYYY (default: the parent's).")
    ] = None,
    separate_invoices: Annotated[
        bool,
        typer.Option(
            "--separate-invoices/--no-separate-invoices",
            help="Bill each of the reseller's customers on its own invoice.",
        ),
    ] = False,
    detach: Detach = False,
):
    """Create a tenant reseller: its own BSS organisation, administrator and catalogue.

    The administrator's password comes from TENANTCTL_ADMIN_PASSWORD or a hidden prompt
    (asked again until it is long enough). It must have at least `min_password_length`
    characters: 10 unless config/tenants.yaml says otherwise.
    """
    st = state(ctx)
    request = creation.TenantRequest(
        account,
        price_list,
        edition,
        language,
        timezone,
        date_format,
        separate_invoices,
        admin_username,
        admin_email,
    )
    engine = st.engine()
    process_id = creation.request_tenant_creation(
        engine, request, _admin_password(), st.parent_id(), foreground=not detach
    )
    if detach:
        queued(
            st,
            process_id,
            "; a `tenantctl worker` will run it "
            f"(follow it with `tenantctl process logs {process_id} --follow`)",
        )
        return
    info = follow_in_foreground(st, process_id)
    detail = st.in_parent(tenants.tenant_detail, account)
    if st.json:
        output.print_json(
            {
                "process_id": process_id,
                "status": info.status,
                "client_id": detail.client_id,
                "tenant": detail,
            }
        )
    else:
        output.message(f"Tenant reseller {account} is ready. Client id: {detail.client_id}")


@tenant_app.command("list")
def list_(
    ctx: typer.Context,
    tree: Annotated[
        bool,
        typer.Option(
            "--tree",
            help="The whole tree below this org: tenants, their tenants, and so on "
            "(nested JSON with --json).",
        ),
    ] = False,
):
    """List tenant resellers with their phase, back-ordering state and client id."""
    st = state(ctx)
    if tree:
        _print_tree(st)
        return
    st.reply(st.in_parent(tenants.list_tenants), _print_tenants)


def _print_tenants(rows: list[tenants.TenantView]) -> None:
    output.table(
        "Tenant resellers",
        [
            "Account",
            "Name",
            "Client id",
            "Edition",
            "Status",
            "Phase",
            "Back-ordering",
            "Price list",
            "Revision",
        ],
        [
            [
                t.account,
                t.name,
                t.client_id,
                t.edition,
                t.status,
                t.phase,
                t.backorder_state,
                t.price_list,
                t.price_list_revision,
            ]
            for t in rows
        ],
        drop=["Edition", "Revision", "Price list", "Back-ordering"],
    )


def _print_tree(st) -> None:
    with st.parent_session() as session:
        title = st.org_of(session).name
        nodes = tenants.tenant_tree(session, st.parent_id())
    if st.json:
        output.print_json(nodes)
        return
    output.tree(
        title,
        nodes,
        lambda n: (
            f"{n.account} {n.name}: {n.phase}, back-ordering {n.backorder_state}"
            + ("" if n.status == "active" else f" ({n.status})")
        ),
        "tenants",
    )


@tenant_app.command("show")
def show(ctx: typer.Context, tenant: Tenant):
    """Show one tenant reseller and what its BSS holds."""
    st = state(ctx)
    st.reply(st.in_parent(tenants.tenant_detail, tenant), _print_tenant)


def _print_tenant(t: tenants.TenantDetail) -> None:
    output.record(
        f"Tenant reseller {t.account}",
        {
            "name": t.name,
            "client id": t.client_id,
            "status": t.status,
            "edition": t.edition,
            "phase": t.phase,
            "back-ordering": t.backorder_state,
            "price list": t.price_list
            + (f" (revision {t.price_list_revision})" if t.price_list_revision is not None else ""),
            "separate invoices": t.separate_invoices,
            "currency": t.currency,
            "language": t.language,
            "time zone": t.timezone,
            "date format": t.date_format,
            "products": t.products,
            "units": t.units,
            "users": t.users,
            "storefront": t.storefront,
            "provisioning": ", ".join(t.provisioning),
        },
    )


@tenant_app.command("discard")
def discard(ctx: typer.Context, tenant: Tenant, yes: Yes = False):
    """Drop a tenant creation that failed or was cancelled, and what it had built.

    Deletes the in-progress tenant reseller and its half-built organisation (catalogue,
    administrator, settings) in one transaction, so that the account can be made a tenant
    again with new options. `tenantctl process retry` resumes it instead. A finished
    tenant, a creation still queued or running, and a tenant its reseller has started to
    work in (customers, sales, its own products, price lists or users) are refused.
    """
    st = state(ctx)
    confirm(
        yes,
        f"Discard tenant reseller {tenant} and delete everything its creation built?",
        "the discard",
    )
    st.reply(discard_tenant(st.engine(), tenant, st.parent_id()), _print_discarded)


def _print_discarded(done) -> None:
    output.table(
        f"Discarded tenant reseller {done.tenant}",
        ["Table", "Rows deleted"],
        sorted(done.deleted.items()),
    )
    process = (
        f"; its creation, process {done.process_id} ({done.process_status}), stays "
        "in the history, and a retry of it is refused"
        if done.process_id
        else ""
    )
    output.message(f"{done.tenant} can be made a tenant reseller again{process}.")


@tenant_app.command("update")
def update_(
    ctx: typer.Context,
    tenant: TenantOrAll = None,
    all_: Annotated[bool, typer.Option("--all", help="Update every tenant reseller.")] = False,
    partial: Annotated[
        bool, typer.Option("--partial", help="Transfer purchase-price changes only.")
    ] = False,
    sell_prices: Annotated[
        bool,
        typer.Option("--sell-prices", help="Also set the tenant's sell prices to the new cost."),
    ] = False,
    names: Annotated[bool, typer.Option("--names", help="Also rename products.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing.")] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="Apply the revision in effect on this date (default today).",
        ),
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Only queue the updates.")] = False,
    show: Annotated[
        int,
        typer.Option(
            "--show",
            parser=whole_number,
            metavar="N",
            help="Rows to print of a dry run's changes and of each tenant's items below "
            "cost (table only).",
        ),
    ] = 50,
):
    """Apply the distributor's price-list changes to tenants: only the differences.

    A second run with nothing new says "up to date". A tenant whose update is already
    queued or running is busy (exit 4). With --all, a busy tenant is reported and
    skipped: exit 5 if any tenant failed, else 4 if any was busy.

    The margin guard: the items whose new cost is above what the tenant sells them for in
    one of its own price lists (same currency) are listed per tenant, dry run included
    (`below_cost` in --json), and logged as `below-cost` in the tenant log.
    """
    st = state(ctx)
    if (tenant is None) == (not all_):
        raise BadInput("name one TENANT or give --all")
    day = date_option("--as-of", as_of) or date.today()
    options = updates.Options(partial, sell_prices, names)
    run = (
        None
        if detach
        else (lambda process_id, code: follow_in_foreground(st, process_id, label=code).status)
    )
    report = updates.update_tenants(
        st.engine(), st.parent_id(), tenant, day, options, dry_run=dry_run, run=run
    )
    outcomes, skipped = report.outcomes, report.skipped
    if st.json:
        # The change list is the dry run's report; a real run gives counts (see tenant log).
        output.print_json(
            {
                "tenants": [
                    {k: v for k, v in output.jsonable(o).items() if k != "changes" or dry_run}
                    for o in outcomes
                ],
                "skipped": [{"tenant": c, "status": s} for c, s in skipped],
            }
        )
    else:
        if dry_run and len(outcomes) == 1:
            changes = outcomes[0].changes
            output.table(
                "Changes (dry run)",
                ["Change", "SKU", "Unit", "Old", "New"],
                [[c.change, c.sku, c.unit, c.old, c.new] for c in changes[: max(show, 0)]],
                caption=_not_shown(plural(len(changes), "change"), len(changes), max(show, 0)),
            )
        output.table(
            "Tenant updates",
            ["Tenant", "Result", "From", "To", "Changes", "Process"],
            [
                [
                    o.tenant,
                    f"{o.status}: {o.error}"
                    if o.error
                    else ("up to date" if o.status == "up-to-date" else o.status),
                    o.from_revision,
                    o.to_revision,
                    ", ".join(f"{n} {k}" for k, n in o.counts.items()) or "none",
                    o.process_id,
                ]
                for o in outcomes
            ],
        )
        _below_cost_tables(outcomes, max(show, 0))
        for code, status in skipped:
            output.message(f"Skipped {code}: it is {status}.")
    report.raise_if_failed()


def _below_cost_tables(outcomes, show: int) -> None:
    """The margin guard: per tenant, the items its own price lists sell below the cost the
    update gives (or, planned or queued, would give) them."""
    for o in outcomes:
        if not o.below_cost:
            continue
        sells = "would sell" if o.status in ("planned", "queued") else "sells"
        output.table(
            f"{o.tenant} {sells} below its new cost",
            ["SKU", "Unit", "New cost", "Sell price", "Price list"],
            [[b.sku, b.unit, b.cost, b.price, b.price_list] for b in o.below_cost[:show]],
            caption=_not_shown(f"{len(o.below_cost)} items", len(o.below_cost), show),
        )


def _not_shown(counted: str, total: int, show: int) -> str | None:
    """The caption of a table cut to its first SHOW rows of TOTAL (COUNTED says how many
    in words); None when none is left out."""
    more = total - show
    return f"{counted}; {more} more not shown: use --show {total} or --json" if more > 0 else None


@tenant_app.command("log")
def log_(
    ctx: typer.Context,
    tenant: Tenant,
    since: Annotated[
        str | None, typer.Option(metavar="YYYY-MM-DD", help="Only entries from this day on.")
    ] = None,
):
    """Show the update tenant log: one entry per catalogue change applied."""
    st = state(ctx)
    since_day = date_option("--since", since)  # a bad date is refused before the store opens
    with st.parent_session() as session:
        entries = updates.update_log(session, tenant, st.parent_id(), since_day)
    st.reply(entries, lambda entries: _print_log(tenant, entries))


def _print_log(tenant: str, entries: list[updates.LogEntryView]) -> None:
    output.table(
        f"Update log of {tenant}",
        ["When", "Change", "SKU", "Unit", "Old", "New", "Revision", "Process"],
        [
            [
                e.at,
                e.change,
                e.sku,
                e.unit,
                e.old,
                e.new,
                f"{e.from_revision} -> {e.to_revision}",
                e.process_id,
            ]
            for e in entries
        ],
        # A below-cost entry's Old is its sell prices, each with its price list.
        wrap={"Old"},
        drop=["Process", "Revision", "When"],
    )


@tenant_app.command("set")
def set_(
    ctx: typer.Context,
    tenant: Tenant,
    separate_invoices: Annotated[
        bool | None,
        typer.Option(
            "--separate-invoices/--no-separate-invoices",
            help="Bill each customer copied up from now on on its own invoice (customers "
            "already copied keep theirs: change one with `account set`).",
        ),
    ] = None,
):
    """Change a tenant reseller's settings."""
    st = state(ctx)
    if separate_invoices is None:
        raise BadInput("nothing to set: give --separate-invoices or --no-separate-invoices")
    with st.parent_session(write=True) as session:
        before, after = tenants.set_separate_invoices(
            session, tenant, st.parent_id(), separate_invoices
        )
    if st.json:
        output.print_json(
            {"tenant": tenant, "separate_invoices": after, "changed": before != after}
        )
    else:
        output.message(
            f"Tenant {tenant}: separate invoices "
            f"{'on' if after else 'off'}" + ("" if before != after else " (unchanged)")
        )

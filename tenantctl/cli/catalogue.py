"""`tenantctl pricelist ...` and `tenantctl product ...`: the catalogue."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from tenantctl import config
from tenantctl.cli import lazy, output
from tenantctl.cli.options import AddOnOf, NewName, PriceListName, Sku
from tenantctl.cli.state import look_up, state
from tenantctl.cli.usage import choices, whole_number
from tenantctl.domain.fields import date_option
from tenantctl.words import plural

catalogue = lazy.module("tenantctl.domain.catalogue")
pricing = lazy.module("tenantctl.domain.pricing")
products = lazy.module("tenantctl.domain.products")

pricelist_app = typer.Typer(
    help="Create, import, list, show and compare price lists.", no_args_is_help=True
)
product_app = typer.Typer(
    help="Create, list, show, change and delete the products of the catalogue.",
    no_args_is_help=True,
)

Platform = choices(config.platforms())
Unit = choices(config.units())
Shown = Annotated[
    int,
    typer.Option(
        "--show",
        parser=whole_number,
        metavar="N",
        help="Rows of each kind of change to print (table only).",
    ),
]


@pricelist_app.command("import")
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Price list name (created when new).")],
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: sku,name,platform,unit,price[,add_on_of,type]; the whole new version."
        ),
    ],
    currency: Annotated[
        str | None, typer.Option(help="ISO 4217 currency; required when the price list is new.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the diff, change nothing.")
    ] = False,
    effective: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="The day the new revision takes effect (default: now); "
            "tenant updates apply it from then on.",
        ),
    ] = None,
    show: Shown = 20,
):
    """Import FILE as the new version of price list NAME and print the diff.

    Inside a tenant it imports the tenant's own price lists: its own products are created
    as in the root; an inherited product is priced, and changed only as the product policy
    allows.
    """
    st = state(ctx)
    effective_day = date_option("--effective", effective)
    rows = catalogue.read_price_csv(file)
    result = st.in_org(
        catalogue.import_price_list,
        name,
        rows,
        write=True,
        currency=currency,
        source=file.name,
        dry_run=dry_run,
        effective=effective_day,
    )
    if st.json:
        output.print_json(result)
        return
    _print_diff(result.diff, show)
    if result.dry_run:
        verb = "would make" if result.revision else "would leave"
        output.message(
            f"Dry run: {verb} {name} "
            + (f"revision {result.revision}" if result.revision else "unchanged")
            + "; nothing was written."
        )
    elif result.revision is None:
        output.message(
            f"{name} is up to date: the file matches revision "
            f"{result.previous_revision}; no new revision."
        )
    else:
        output.message(
            f"{name} ({result.currency}) is now at revision {result.revision}: "
            f"{plural(result.item_count, 'item')}; "
            f"{plural(result.products_created, 'product')} and "
            f"{plural(result.units_created, 'unit')} created, "
            f"{result.products_renamed} renamed"
            + (
                f" on {effective_day} (names and add-on relations change with the revision)."
                if effective_day and effective_day > date.today()
                else "."
            )
        )


@pricelist_app.command("create")
def create_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The new price list's name.")],
    currency: Annotated[str, typer.Option(help="ISO 4217 currency of its prices (any).")],
):
    """Create an empty price list; fill it with `pricelist set-price` or `pricelist import`."""
    st = state(ctx)
    summary = st.in_org(products.create_price_list, name, currency, write=True)
    if st.json:
        output.print_json(_without_revisions(summary))
        return
    output.message(
        f"Created price list {summary.name} ({summary.currency}), with no items yet: "
        "`tenantctl pricelist set-price` or `pricelist import` fills it."
    )


@pricelist_app.command("list")
def list_(ctx: typer.Context):
    """List the price lists with their latest revision and item count."""
    look_up(
        ctx,
        catalogue.list_price_lists,
        draw=lambda lists: output.table(
            "Price lists",
            ["Name", "Currency", "Revision", "Items", "Created"],
            [[pl.name, pl.currency, pl.revision, pl.item_count, pl.created_at] for pl in lists],
        ),
        json=lambda lists: [_without_revisions(pl) for pl in lists],
    )


def _without_revisions(summary: catalogue.PriceListSummary) -> dict:
    """A price list's summary in JSON, without its list of revisions."""
    return {k: v for k, v in output.jsonable(summary).items() if k != "revisions"}


@pricelist_app.command("show")
def show_(
    ctx: typer.Context,
    name: PriceListName,
    revision: Annotated[
        int | None, typer.Option(parser=whole_number, help="Revision to show (default: latest).")
    ] = None,
):
    """Show a price list's items at a revision, and its revisions."""
    st = state(ctx)
    summary, items = st.in_org(catalogue.price_list_items, name, revision)
    shown = revision or summary.revision
    if st.json:
        output.print_json(
            {
                "name": summary.name,
                "currency": summary.currency,
                "revision": shown,
                "latest_revision": summary.revision,
                "revisions": summary.revisions,
                "items": [
                    {
                        "sku": i.sku,
                        "name": i.name,
                        "platform": i.platform,
                        "unit": i.unit,
                        "price": i.price,
                    }
                    for i in items
                ],
            }
        )
        return
    if not shown:
        output.message(
            f"{summary.name} has no revision yet: `tenantctl pricelist import` fills it."
        )
    at = f"revision {shown}" if shown else "no revision yet"
    output.table(
        f"{summary.name} ({summary.currency}), {at}",
        ["SKU", "Name", "Platform", "Unit", "Price"],
        [[i.sku, i.name, i.platform, i.unit, i.price] for i in items],
    )
    today = date.today()
    output.table(
        "Revisions",
        ["Revision", "Items", "Source", "Effective", "Created"],
        [
            [
                r["revision"],
                r["items"],
                r["source"],
                (
                    f"{r['effective_date']} (scheduled)"
                    if r["effective_date"] and r["effective_date"] > today
                    else r["effective_date"]
                ),
                r["created_at"],
            ]
            for r in summary.revisions
        ],
    )


@pricelist_app.command("set-price")
def set_price(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help='Price list name (inside a tenant: its retail list, e.g. "Retail EUR").'
        ),
    ],
    sku: Sku,
    price: Annotated[str, typer.Argument(help="The new price, an exact amount (e.g. 20.60).")],
    unit: Annotated[Unit, typer.Option(help="The billing unit the price is for.")],
):
    """Set the organisation's own price of one product and unit, as a new revision."""
    st = state(ctx)
    change = st.in_org(pricing.set_price, name, sku, unit, price, write=True)
    if st.json:
        output.print_json(change)
        return
    if change.revision is None:
        output.message(
            f"{name}: {sku} {unit} is already {output.cell(change.price)} "
            f"{change.currency}; no new revision."
        )
    else:
        was = (
            f"was {output.cell(change.old_price)}"
            if change.old_price is not None
            else "newly listed"
        )
        output.message(
            f"{name} is now at revision {change.revision}: {sku} {unit} costs "
            f"{output.cell(change.price)} {change.currency} ({was})."
        )


@pricelist_app.command("diff")
def diff_(
    ctx: typer.Context,
    name: PriceListName,
    from_: Annotated[int, typer.Option("--from", parser=whole_number, help="The older revision.")],
    to: Annotated[int, typer.Option("--to", parser=whole_number, help="The newer revision.")],
    show: Shown = 20,
):
    """Show what changed in a price list between two revisions."""
    st = state(ctx)
    diff = st.in_org(catalogue.revision_diff, name, from_, to)
    if st.json:
        output.print_json(
            {
                "name": name,
                "from": from_,
                "to": to,
                **output.jsonable(diff),
                "counts": diff.counts(),
            }
        )
        return
    _print_diff(diff, show)


def _print_diff(diff: catalogue.PriceListDiff, show: int) -> None:
    rows = []
    more = []
    for kind, changes in (
        ("added", diff.added),
        ("price-changed", diff.changed),
        ("discontinued", diff.discontinued),
    ):
        rows += [[kind, c.sku, c.unit, c.name, c.old_price, c.new_price] for c in changes[:show]]
        if len(changes) > show:
            more.append(f"{len(changes) - show} more {kind}")
    counts = diff.counts()
    caption = (
        f"{counts['added']} added, {counts['changed']} price-changed, "
        f"{counts['discontinued']} discontinued"
        + (f" ({'; '.join(more)}: use --json or --show)" if more else "")
    )
    output.table(
        "Price list changes",
        ["Change", "SKU", "Unit", "Name", "Old price", "New price"],
        rows,
        caption=caption,
        drop=["Name"],
    )


@product_app.command("create")
def product_create(
    ctx: typer.Context,
    sku: Annotated[str, typer.Argument(help="The new product's SKU (unique in the org).")],
    name: Annotated[str, typer.Option(help="The product's name.")],
    platform: Annotated[Platform, typer.Option(help="The platform that provisions it.")],
    unit: Annotated[
        list[str],
        typer.Option(
            "--unit",
            metavar="UNIT[=COST]",
            help=f"A unit it is sold in ({', '.join(config.units())}), with its purchase "
            "price if it has one (repeatable).",
        ),
    ],
    type_: Annotated[
        str | None,
        typer.Option("--type", metavar="TYPE", help="Its product type (default: service)."),
    ] = None,
    add_on_of: AddOnOf = None,
):
    """Create one of the organisation's own products (sell it from a price list next)."""
    st = state(ctx)
    new = products.NewProduct(sku, name, platform, tuple(unit), type_, add_on_of)
    detail = st.in_org(products.create_product, new, write=True)
    if st.json:
        output.print_json(detail)
        return
    output.message(
        f"Created product {detail.sku} ({detail.name}), sold "
        f"{', '.join(u.unit for u in detail.units)}; price it with tenantctl pricelist "
        f"set-price NAME {detail.sku} --unit UNIT PRICE."
    )


@product_app.command("list")
def product_list(
    ctx: typer.Context,
    platform: Annotated[Platform | None, typer.Option(help="Only this platform.")] = None,
):
    """List the products of the catalogue with their units."""
    look_up(
        ctx,
        catalogue.list_products,
        platform=platform,
        draw=lambda rows: output.table(
            "Products",
            ["SKU", "Name", "Platform", "Type", "Units", "Add-on of", "Status"],
            [
                [p.sku, p.name, p.platform, p.type, ", ".join(p.units), p.add_on_of, p.status]
                for p in rows
            ],
            drop=["Type", "Add-on of", "Units"],
        ),
    )


@product_app.command("show")
def product_show(ctx: typer.Context, sku: Sku):
    """Show one product: units, add-ons and the price lists that list it."""
    look_up(ctx, catalogue.product_detail, sku, draw=_print_product)


def _print_product(detail: catalogue.ProductDetail) -> None:
    output.record(
        f"Product {detail.sku}",
        {
            "name": detail.name,
            "platform": detail.platform,
            "type": detail.type,
            "status": detail.status,
            "add-on of": detail.add_on_of,
            "add-ons": ", ".join(detail.add_ons),
            "category": detail.category,
            "visible": detail.visible,
            "copied from": detail.source_sku,
        },
    )
    output.table(
        "Units",
        ["Unit", "Status", "Cost price"],
        [[u.unit, u.status, u.cost_price] for u in detail.units],
    )
    output.table(
        "Listed in",
        ["Price list", "Unit", "Price", "Currency"],
        [[p["price_list"], p["unit"], p["price"], p["currency"]] for p in detail.price_lists],
    )


@product_app.command("set")
def product_set(
    ctx: typer.Context,
    sku: Sku,
    name: NewName = None,
    description: Annotated[str | None, typer.Option(help="A description.")] = None,
    category: Annotated[str | None, typer.Option(help="A category.")] = None,
    visible: Annotated[
        bool | None, typer.Option("--visible/--hidden", help="Show or hide it on the storefront.")
    ] = None,
    new_sku: Annotated[str | None, typer.Option("--new-sku", help="A new SKU code.")] = None,
    platform: Annotated[Platform | None, typer.Option(help="Another platform.")] = None,
    add_on_of: AddOnOf = None,
    add_unit: Annotated[str | None, typer.Option("--add-unit", help="Sell it in UNIT too.")] = None,
    remove_unit: Annotated[
        str | None, typer.Option("--remove-unit", help="Stop selling it in UNIT.")
    ] = None,
    purchase_price: Annotated[
        str | None,
        typer.Option(
            "--purchase-price", metavar="UNIT=PRICE", help="The purchase price of one unit."
        ),
    ] = None,
):
    """Change a product; on an inherited product only what the product policy allows."""
    from tenantctl.domain.policy import ProductChange, set_product

    st = state(ctx)
    change = ProductChange(
        name,
        description,
        category,
        visible,
        new_sku,
        platform,
        add_on_of,
        add_unit,
        remove_unit,
        purchase_price,
    )
    detail = st.in_org(set_product, sku, change, write=True)
    if st.json:
        output.print_json(detail)
    else:
        output.message(f"Product {detail.sku} changed.")


@product_app.command("delete")
def product_delete(ctx: typer.Context, sku: Sku):
    """Delete one of the organisation's own products (never an inherited one)."""
    from tenantctl.domain.policy import delete_product

    st = state(ctx)
    st.in_org(delete_product, sku, write=True)
    if st.json:
        output.print_json({"sku": sku, "deleted": True})
    else:
        output.message(f"Product {sku} deleted.")

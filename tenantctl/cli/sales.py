"""`tenantctl subscription ...`, `tenantctl asset ...` and `tenantctl order ...`: sales, the
same in the root and inside a tenant (`--org`)."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl import config
from tenantctl.cli import lazy, output
from tenantctl.cli.options import AccountCode, Quantity, Sku
from tenantctl.cli.state import look_up, state
from tenantctl.cli.usage import choices
from tenantctl.domain.fields import ASSET_KINDS, date_option

sales = lazy.module("tenantctl.domain.sales")

subscription_app = typer.Typer(
    help="Sell, change, cancel, list and show subscriptions.", no_args_is_help=True
)
asset_app = typer.Typer(
    help="Record and list assets (software subscriptions, Azure reservations).",
    no_args_is_help=True,
)
order_app = typer.Typer(help="List the orders that sales made.", no_args_is_help=True)

Unit = choices(config.units())
AssetKind = choices(ASSET_KINDS)
SubscriptionRef = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="The subscription's code (or, in the distributor's org, its id)."
    ),
]
AccountFilter = Annotated[
    str | None, typer.Option("--account", metavar="CODE", help="Only this account's.")
]
AddOns = Annotated[
    list[str] | None,
    typer.Option(
        "--add-on",
        metavar="SKU=N",
        help="An add-on of the product and its quantity (repeat the option for more).",
    ),
]
Storefront = Annotated[
    bool,
    typer.Option(
        "--storefront",
        help="An order the reseller places through this org's storefront "
        "(accepted for a lite reseller's managed customers).",
    ),
]


# --- subscriptions ------------------------------------------------------------------------


@subscription_app.command("create")
def create(
    ctx: typer.Context,
    account: AccountCode,
    sku: Sku,
    unit: Annotated[Unit, typer.Option(help="The billing unit.")],
    quantity: Quantity,
    trial: Annotated[
        bool, typer.Option("--trial", help="A trial: no order until it is turned paid.")
    ] = False,
    start: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD", help="Start date (default: today in the org's time zone)."
        ),
    ] = None,
    add_on: AddOns = None,
    storefront: Storefront = False,
):
    """Sell a subscription to an account, priced from the account's price list."""
    st = state(ctx)
    add_ons = sales.parse_add_ons(add_on or [])
    result = st.in_org(
        sales.create_subscription,
        account,
        sku,
        write=True,
        unit=unit,
        quantity=quantity,
        trial=trial,
        start=date_option("--start", start),
        add_ons=add_ons,
        storefront=storefront,
    )
    _print_result(st, result, f"Created subscription {result.subscription.code}")


@subscription_app.command("update")
def update(
    ctx: typer.Context,
    ref: SubscriptionRef,
    quantity: Annotated[str | None, typer.Option(metavar="N", help="The new quantity.")] = None,
    add_on: Annotated[
        list[str] | None,
        typer.Option(
            "--add-on",
            metavar="SKU=N",
            help="Add an add-on or set its quantity (SKU=0 removes "
            "it); repeat the option for more.",
        ),
    ] = None,
    paid: Annotated[
        bool, typer.Option("--paid", help="Turn a trial into a paid subscription.")
    ] = False,
    storefront: Storefront = False,
):
    """Change a subscription's quantity or add-ons, or turn a trial paid (each an order)."""
    st = state(ctx)
    add_ons = sales.parse_add_ons(add_on or [], allow_zero=True)
    result = st.in_org(
        sales.update_subscription,
        ref,
        write=True,
        quantity=quantity,
        add_ons=add_ons,
        paid=paid,
        storefront=storefront,
    )
    _print_result(st, result, f"Updated subscription {result.subscription.code}")


@subscription_app.command("cancel")
def cancel(ctx: typer.Context, ref: SubscriptionRef, storefront: Storefront = False):
    """Cancel a subscription (a paid one makes a cancel order)."""
    st = state(ctx)
    result = st.in_org(sales.cancel_subscription, ref, write=True, storefront=storefront)
    _print_result(st, result, f"Cancelled subscription {result.subscription.code}")


@subscription_app.command("set")
def set_(
    ctx: typer.Context,
    ref: SubscriptionRef,
    price: Annotated[
        str | None,
        typer.Option(
            metavar="PRICE",
            help="The unit price the customer pays (not on a mirror of a tenant reseller's sale).",
        ),
    ] = None,
    billing_day: Annotated[
        str | None,
        typer.Option(
            "--billing-day", metavar="D", help="The day of the month it is billed on, 1 to 28."
        ),
    ] = None,
):
    """Amend a subscription's billing: its price or billing day (not a sale: no order)."""
    st = state(ctx)
    result = st.in_org(
        sales.set_subscription_billing, ref, write=True, price=price, billing_day=billing_day
    )
    _print_result(
        st,
        result,
        f"Changed the billing of subscription {result.subscription.code}",
        no_order=" (no order).",
    )


@subscription_app.command("list")
def list_(ctx: typer.Context, account: AccountFilter = None):
    """List the subscriptions of the organisation (or of one account)."""
    _reply(ctx, sales.list_subscriptions, account, draw=_print_subscriptions)


def _print_subscriptions(rows: list[sales.SubscriptionView]) -> None:
    output.table(
        "Subscriptions",
        [
            "Code",
            "Account",
            "SKU",
            "Unit",
            "Quantity",
            "Price",
            "Currency",
            "Status",
            "Start",
            "Paid",
            "Add-ons",
        ],
        [
            [
                s.code,
                s.account,
                s.sku,
                s.unit,
                s.quantity,
                s.price,
                s.currency,
                s.status,
                s.start_date,
                s.paid,
                _add_ons(s),
            ]
            for s in rows
        ],
        drop=["Currency", "Paid", "Start", "Add-ons"],
    )


@subscription_app.command("show")
def show(ctx: typer.Context, ref: SubscriptionRef):
    """Show one subscription with its add-ons."""
    st = state(ctx)
    _reply(ctx, sales.subscription_detail, ref, draw=lambda sub: _print_subscription(st, sub))


def _reply(ctx: typer.Context, query, *args, draw) -> None:
    """QUERY(session, org, *ARGS) in the org this run acts in, printed by DRAW (or, with
    --json, as _jsonable makes it)."""
    look_up(ctx, query, *args, draw=draw, json=lambda value: _jsonable(state(ctx), value))


def _jsonable(st, value):
    """What --json prints of VALUE: inside a tenant without row ids (they are the
    distributor's: a tenant's rows are named by their per-org codes)."""
    data = output.jsonable(value)
    return data if st.org is None else _without_ids(data)


def _without_ids(value):
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _add_ons(sub: sales.SubscriptionView) -> str:
    return ", ".join(f"{a.sku} x {a.quantity}" for a in sub.add_ons)


def _print_subscription(st, sub: sales.SubscriptionView) -> None:
    output.record(
        f"Subscription {sub.code}",
        {
            **({"id": sub.id} if st.org is None else {}),
            "account": sub.account,
            "bill to": sub.bill_to,
            "product": f"{sub.sku} ({sub.product})",
            "unit": sub.unit,
            "quantity": sub.quantity,
            "price": f"{output.cell(sub.price)} {sub.currency}",
            "status": sub.status,
            "start date": sub.start_date,
            "paid": sub.paid,
            "auto-renew": sub.auto_renew,
            "billing day": sub.billing_day,
        },
    )
    if sub.add_ons:
        output.table(
            "Add-ons",
            ["SKU", "Product", "Quantity"],
            [[a.sku, a.product, a.quantity] for a in sub.add_ons],
        )


def _print_result(
    st, result: sales.SubscriptionResult, done: str, no_order: str = " (a trial: no order)."
) -> None:
    if st.json:
        output.print_json(
            _jsonable(
                st,
                {
                    **output.jsonable(result.subscription),
                    "changed": result.changed,
                    "orders": result.orders,
                },
            )
        )
        return
    _print_subscription(st, result.subscription)
    if not result.changed:
        output.message(
            f"Subscription {result.subscription.code} already has these values: nothing changed."
        )
        return
    orders = "; ".join(f"order {o.number} ({o.order_type})" for o in result.orders)
    output.message(f"{done}" + (f": {orders}." if orders else no_order))


# --- assets -------------------------------------------------------------------------------


@asset_app.command("create")
def asset_create(
    ctx: typer.Context,
    account: AccountCode,
    sku: Sku,
    kind: Annotated[AssetKind, typer.Option(help="What kind of asset.")],
    quantity: Quantity,
    purchase_date: Annotated[
        str | None,
        typer.Option(
            "--purchase-date",
            metavar="YYYY-MM-DD",
            help="Purchase date (default: today in the org's time zone).",
        ),
    ] = None,
    unit: Annotated[
        Unit | None, typer.Option(help="The billing unit (default: the product's only one).")
    ] = None,
    storefront: Storefront = False,
):
    """Record an asset sold to an account, with its order priced from the account's price list."""
    st = state(ctx)
    result = st.in_org(
        sales.create_asset,
        account,
        sku,
        write=True,
        kind=kind,
        quantity=quantity,
        purchase_date=date_option("--purchase-date", purchase_date),
        unit=unit,
        storefront=storefront,
    )
    if st.json:
        output.print_json(_jsonable(st, {**output.jsonable(result.asset), "orders": result.orders}))
        return
    _print_assets([result.asset])
    output.message(
        f"Created asset {result.asset.code}: "
        + "; ".join(f"order {o.number} ({o.order_type})" for o in result.orders)
        + "."
    )


@asset_app.command("list")
def asset_list(ctx: typer.Context, account: AccountFilter = None):
    """List the assets of the organisation (or of one account)."""
    _reply(ctx, sales.list_assets, account, draw=_print_assets)


def _print_assets(rows: list[sales.AssetView]) -> None:
    output.table(
        "Assets",
        ["Code", "Account", "SKU", "Kind", "Quantity", "Purchased", "Status"],
        [[a.code, a.account, a.sku, a.kind, a.quantity, a.purchase_date, a.status] for a in rows],
        drop=["Kind", "Purchased", "Status"],
    )


# --- orders -------------------------------------------------------------------------------


@order_app.command("list")
def order_list(ctx: typer.Context, account: AccountFilter = None):
    """List the orders of the organisation (or of one account) with their lines."""
    _reply(ctx, sales.list_orders, account, draw=_print_orders)


def _print_orders(rows: list[sales.OrderView]) -> None:
    output.table(
        "Orders",
        ["Number", "Date", "Type", "Account", "Bill to", "Lines", "Total", "Currency"],
        [
            [
                o.number,
                o.order_date,
                o.order_type,
                o.account,
                o.bill_to,
                ", ".join(f"{line.sku} x {line.quantity}" for line in o.lines),
                o.total,
                o.currency,
            ]
            for o in rows
        ],
        caption="Lines: SKU x quantity (prices per line: --json)" if rows else None,
        drop=["Currency", "Bill to", "Type", "Date"],
    )

"""`tenantctl account ...`: customers and resellers."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl.cli import lazy, output
from tenantctl.cli.options import AccountCode, NewName
from tenantctl.cli.state import look_up, state
from tenantctl.cli.usage import choices
from tenantctl.domain.fields import ACCOUNT_KINDS, PAYMENT_METHODS

accounts = lazy.module("tenantctl.domain.accounts")

Kind = choices(ACCOUNT_KINDS)
PaymentMethod = choices(PAYMENT_METHODS)

account_app = typer.Typer(
    help="Create, change, list and show accounts (customers and resellers).", no_args_is_help=True
)


@account_app.command("list")
def list_(
    ctx: typer.Context,
    kind: Annotated[Kind | None, typer.Option(help="Only customers or resellers.")] = None,
    bill_to: Annotated[
        str | None, typer.Option("--bill-to", help="Only the customers billed to this reseller.")
    ] = None,
):
    """List the accounts of the organisation."""
    look_up(ctx, accounts.list_accounts, kind=kind, bill_to=bill_to, draw=_print_accounts)


def _print_accounts(rows: list[accounts.AccountView]) -> None:
    output.table(
        "Accounts",
        ["Code", "Name", "Kind", "Bill to", "Ordering", "Currency", "Country", "Price list"],
        [
            [
                a.code,
                a.name,
                a.kind,
                a.bill_to,
                a.ordering_enabled,
                a.currency,
                a.country,
                a.price_list,
            ]
            for a in rows
        ],
        drop=["Country", "Currency", "Ordering", "Price list"],
    )


@account_app.command("show")
def show(ctx: typer.Context, code: AccountCode):
    """Show one account: pricing options, contacts and provisioning sync records."""
    look_up(ctx, accounts.account_detail, code, draw=_print_account)


def _print_account(a: accounts.AccountDetail) -> None:
    output.record(
        f"Account {a.code}",
        {
            "name": a.name,
            "kind": a.kind,
            "bill to": a.bill_to,
            "ordering enabled": a.ordering_enabled,
            "currency": a.currency,
            "country": a.country,
            "accounting number": a.accounting_number,
            "email": a.email,
            "billing address": a.billing_address,
            "price list": a.price_list,
            "billing day": a.billing_day,
            "payment method": a.payment_method,
            "credit limit": a.credit_limit,
            "invoicing options": a.invoicing_options,
            "separate invoices": a.separate_invoices,
            **(
                {
                    "managed by": f"tenant reseller {a.managed_by} (back-ordering "
                    f"{a.backorder_state}): change it in its BSS"
                }
                if a.managed_by
                else {}
            ),
        },
    )
    output.table(
        "Contacts",
        ["Name", "Email", "Phone", "Role"],
        [[c["name"], c["email"], c["phone"], c["role"]] for c in a.contacts],
    )
    output.table(
        "Provisioning sync",
        ["Platform", "Status", "External id"],
        [[s["platform"], s["status"], s["external_id"]] for s in a.sync],
    )


@account_app.command("create")
def create(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The new account's code (unique in the org).")],
    name: Annotated[str, typer.Option(help="The account's name.")],
    kind: Annotated[
        str,
        typer.Option(
            metavar="{customer|reseller}",
            autocompletion=lambda: list(accounts.ACCOUNT_KINDS),
            help="A customer or a reseller.",
        ),
    ] = "customer",
    bill_to: Annotated[
        str | None,
        typer.Option(
            "--bill-to", metavar="CODE", help="The reseller account a customer is billed to."
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(help="ISO 4217 code (default: the bill-to reseller's, else the org's)."),
    ] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166 code (default: the org's).")] = None,
    email: Annotated[str | None, typer.Option(help="The account's e-mail.")] = None,
    accounting_number: Annotated[
        str | None, typer.Option("--accounting-number", help="Tax or accounting number.")
    ] = None,
    billing_address: Annotated[
        str | None, typer.Option("--billing-address", help="The billing address.")
    ] = None,
    ordering: Annotated[
        bool, typer.Option("--ordering/--no-ordering", help="Whether the account may order.")
    ] = True,
    price_list: Annotated[
        str | None,
        typer.Option(
            "--price-list",
            metavar="NAME",
            help="The price list it is priced from, in its currency (so it can buy at once).",
        ),
    ] = None,
):
    """Create an account (a customer or a reseller) in the organisation."""
    st = state(ctx)
    new = accounts.NewAccount(
        code,
        name,
        kind,
        bill_to,
        currency,
        country,
        email,
        accounting_number,
        billing_address,
        ordering,
        price_list,
    )
    a = st.in_org(accounts.create_account, new, write=True)
    if st.json:
        output.print_json(a)
        return
    output.message(
        f"Created {a.kind} account {a.code} ({a.name}), billed in {a.currency}"
        + (f" to {a.bill_to}" if a.bill_to else "")
        + (f", priced from {a.price_list}" if a.price_list else "")
        + "."
    )


@account_app.command("set")
def set_(
    ctx: typer.Context,
    code: AccountCode,
    name: NewName = None,
    email: Annotated[str | None, typer.Option(help='E-mail ("" clears it).')] = None,
    billing_address: Annotated[
        str | None, typer.Option("--billing-address", help='Billing address ("" clears it).')
    ] = None,
    accounting_number: Annotated[
        str | None, typer.Option("--accounting-number", help='Accounting number ("" clears it).')
    ] = None,
    ordering: Annotated[
        bool | None,
        typer.Option(
            "--ordering/--no-ordering", help="Enable or disable ordering.", show_default=False
        ),
    ] = None,
    price_list: Annotated[
        str | None,
        typer.Option(
            "--price-list",
            metavar="NAME",
            help='The price list it is priced from, in its currency ("" clears it).',
        ),
    ] = None,
    billing_day: Annotated[
        str | None,
        typer.Option(
            "--billing-day", metavar="N", help="Day of the month it is billed on, 1 to 28."
        ),
    ] = None,
    payment_method: Annotated[
        PaymentMethod | None, typer.Option("--payment-method", help="How it pays.")
    ] = None,
    credit_limit: Annotated[
        str | None,
        typer.Option("--credit-limit", metavar="AMOUNT", help='Credit limit ("" clears it).'),
    ] = None,
    invoicing_options: Annotated[
        str | None, typer.Option("--invoicing-options", help='Invoicing options ("" clears them).')
    ] = None,
    separate_invoices: Annotated[
        bool | None,
        typer.Option(
            "--separate-invoices/--no-separate-invoices",
            help="Bill it on an invoice of its own.",
            show_default=False,
        ),
    ] = None,
    add_contact: Annotated[
        list[str] | None,
        typer.Option(
            "--add-contact",
            metavar='"NAME <EMAIL>"',
            help="Add a contact, or rename the one with that e-mail (repeatable).",
        ),
    ] = None,
    remove_contact: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-contact",
            metavar="EMAIL",
            help="Remove the contact with this e-mail (repeatable).",
        ),
    ] = None,
):
    """Change an account's details, pricing options and contacts."""
    st = state(ctx)
    changes = accounts.AccountChanges(
        name=name,
        email=email,
        billing_address=billing_address,
        accounting_number=accounting_number,
        ordering_enabled=ordering,
        price_list=price_list,
        billing_day=billing_day,
        payment_method=payment_method,
        credit_limit=credit_limit,
        invoicing_options=invoicing_options,
        separate_invoices=separate_invoices,
        add_contacts=tuple(add_contact or ()),
        remove_contacts=tuple(remove_contact or ()),
    )
    result = st.in_org(accounts.update_account, code, changes, write=True)
    if st.json:
        output.print_json({**output.jsonable(result.account), "changed": result.changed})
        return
    output.message(
        f"Account {code}: changed {', '.join(result.changed)}."
        if result.changed
        else f"Account {code} already has these values: nothing changed."
    )

"""The arguments and options that several commands declare alike, declared once: each is
the same name, value, help and parsing in every command that takes it."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl.cli.usage import whole_number

AccountCode = Annotated[str, typer.Argument(help="The account's code.")]
Sku = Annotated[str, typer.Argument(help="The product's SKU.")]
PriceListName = Annotated[str, typer.Argument(help="Price list name.")]
Tenant = Annotated[str, typer.Argument(help="Client id or reseller account code.")]
TenantOrAll = Annotated[
    str | None, typer.Argument(help="Client id or reseller account code (or --all).")
]
ProcessId = Annotated[int, typer.Argument(parser=whole_number, help="The process id.")]

Quantity = Annotated[str, typer.Option(metavar="N", help="How many (1 or more).")]
NewName = Annotated[str | None, typer.Option(help="A new name.")]
AddOnOf = Annotated[
    str | None, typer.Option("--add-on-of", metavar="SKU", help="Make it an add-on of SKU.")
]
Yes = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")]
Detach = Annotated[
    bool, typer.Option("--detach", help="Only queue it; a `tenantctl worker` runs it.")
]

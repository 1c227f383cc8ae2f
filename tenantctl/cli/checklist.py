"""`tenantctl checklist`: is a reseller ready to become a tenant reseller?"""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl.cli import lazy, output
from tenantctl.cli.state import state
from tenantctl.errors import CheckFailed

run_checklist = lazy.function("tenantctl.domain.checklist", "run_checklist")


def checklist(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The reseller account's code.")],
    price_list: Annotated[
        str,
        typer.Option("--price-list", metavar="NAME", help="The price list the tenant will get."),
    ],
):
    """Run the preparation checklist for ACCOUNT (exit 0 when all pass, 3 when any fails)."""
    st = state(ctx)
    with st.parent_session() as session:
        result = run_checklist(session, st.org_of(session), account, price_list)
    if st.json:
        output.print_json(result)
    else:
        for check in result.checks:
            output.check_line(check.passed, check.name, check.reason, check.fix)
        output.message(
            f"{account} is ready to become a tenant reseller."
            if result.passed
            else f"{account} is not ready: fix the failed checks and run again."
        )
    if not result.passed:
        raise typer.Exit(CheckFailed.exit_code)

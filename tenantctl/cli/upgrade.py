"""`tenantctl upgrade ...`: move a lite reseller's customers, subscriptions and assets into
its tenant (run after `tenant create`)."""

from __future__ import annotations

import typer

from tenantctl.cli import lazy, output
from tenantctl.cli.options import Detach, Tenant
from tenantctl.cli.process import follow_in_foreground, queued
from tenantctl.cli.state import State, state

transfer = lazy.module("tenantctl.domain.transfer")

upgrade_app = typer.Typer(
    help="Upgrade a lite reseller: copy its customers, then their "
    "subscriptions and assets, into its tenant.",
    no_args_is_help=True,
)


def _run(st: State, process_id: int, detach: bool, tenant: str) -> None:
    if detach:
        queued(st, process_id)
        return
    follow_in_foreground(st, process_id)
    _print_status(st, tenant, process_id)


def _print_status(st: State, tenant: str, process_id: int | None = None) -> None:
    with st.parent_session() as session:
        status = transfer.transfer_status(session, tenant, st.parent_id())
    if st.json:
        data = output.jsonable(status)
        if process_id is not None:
            data["process_id"] = process_id
        output.print_json(data)
        return
    output.record(
        f"Upgrade of {status.tenant}",
        {
            "phase": status.phase,
            "back-ordering": status.backorder_state,
            "customers": f"{status.customers_copied} copied, {status.customers_left} left",
            "subscriptions": f"{status.subscriptions_copied} copied, "
            f"{status.subscriptions_left} left",
            "assets": f"{status.assets_copied} copied, {status.assets_left} left",
        },
    )


@upgrade_app.command("customers")
def customers(ctx: typer.Context, tenant: Tenant, detach: Detach = False):
    """Copy the reseller's customers (with contacts and sync records) into its tenant.

    In the parent they become back-ordering records: the distributor can no longer sell
    to them directly.
    """
    st = state(ctx)
    _run(
        st, transfer.request_customer_transfer(st.engine(), tenant, st.parent_id()), detach, tenant
    )


@upgrade_app.command("subscriptions")
def subscriptions(ctx: typer.Context, tenant: Tenant, detach: Detach = False):
    """Copy the customers' active subscriptions and assets; then back-ordering goes on.

    Pre-checks first: every offender is listed and nothing is copied when any fails (exit 3).
    """
    st = state(ctx)
    _run(
        st,
        transfer.request_subscription_transfer(
            st.engine(), tenant, st.parent_id(), foreground=not detach
        ),
        detach,
        tenant,
    )


@upgrade_app.command("status")
def status(ctx: typer.Context, tenant: Tenant):
    """Show the upgrade's phase and the counts copied and left."""
    st = state(ctx)
    _print_status(st, tenant)

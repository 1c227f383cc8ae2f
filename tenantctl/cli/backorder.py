"""`tenantctl backorder ...` and `tenantctl reconcile`: mirroring a tenant's sales up to its
parent (SPEC section 7)."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl.cli import lazy, output
from tenantctl.cli.options import Tenant, TenantOrAll, Yes
from tenantctl.cli.state import State, state
from tenantctl.cli.usage import confirm
from tenantctl.errors import BadInput, Differences
from tenantctl.words import plural

backorder = lazy.module("tenantctl.domain.backorder")
reconciling = lazy.module("tenantctl.domain.reconcile")

backorder_app = typer.Typer(
    help="Switch back-ordering on, pause and resume it, and show what is pending.",
    no_args_is_help=True,
)


def _switched(
    st: State,
    result: backorder.SwitchResult,
    done: str,
    already: str,
    reports: list[backorder.DeliveryReport] | None = None,
) -> None:
    delivered = sum(r.delivered for r in reports or [])
    if st.json:
        data = output.jsonable(result)
        data["delivered"] = delivered
        output.print_json(data)
        return
    if not result.changed:
        output.message(f"Back-ordering of {result.tenant} is {already}; nothing changed.")
        return
    output.message(done)
    if delivered:
        output.message(f"{plural(delivered, 'held event')} delivered to the parent.")
    for report in reports or []:
        if report.error:
            output.message(
                f"Delivery stopped at {report.error}; "
                f"{plural(report.pending, 'event')} "
                f"{'waits' if report.pending == 1 else 'wait'} (see tenantctl backorder status)."
            )


@backorder_app.command("enable")
def enable(ctx: typer.Context, tenant: Tenant, yes: Yes = False):
    """Switch back-ordering on for a tenant that was never lite (it cannot be undone).

    Refused (exit 3) while a live subscription of the reseller's customers in the parent
    is not copied into the tenant; customers still missing are copied down. From then on
    every paid sale of the parent's products in the tenant is mirrored in the parent.
    """
    st = state(ctx)
    confirm(
        yes,
        f"Switch back-ordering on for {tenant}? It cannot be undone",
        "switching back-ordering on",
    )
    result = st.in_parent(backorder.enable, tenant, write=True)
    _switched(
        st,
        result,
        f"Back-ordering of {result.tenant} is on "
        f"({plural(result.customers_copied, 'customer')} copied down, "
        f"{plural(result.adopted, 'earlier sale')} to mirror); the "
        "reseller is live.",
        "on already",
        st.delivered,
    )


@backorder_app.command("pause")
def pause(ctx: typer.Context, tenant: Tenant):
    """Hold delivery to the parent; every change is still recorded and nothing is lost."""
    st = state(ctx)
    result = st.in_parent(backorder.pause, tenant, write=True)
    _switched(
        st,
        result,
        f"Back-ordering of {result.tenant} is paused: changes are kept "
        "and delivered in order on `tenantctl backorder resume`.",
        "paused already",
    )


@backorder_app.command("resume")
def resume(ctx: typer.Context, tenant: Tenant):
    """Deliver again: everything held reaches the parent, in the order it happened."""
    st = state(ctx)
    result = st.in_parent(backorder.resume, tenant, write=True)
    reports = backorder.deliver_held(st.engine(), tenant, st.parent_id()) if result.changed else []
    _switched(st, result, f"Back-ordering of {result.tenant} is on again.", "on already", reports)


@backorder_app.command("status")
def status(ctx: typer.Context, tenant: Tenant):
    """Show the state, the events pending, the oldest pending and the last delivered."""
    st = state(ctx)
    st.reply(st.in_parent(backorder.status, tenant), _print_status)


def _print_status(result: backorder.BackorderStatus) -> None:
    def event(e: backorder.EventView | None, when) -> str:
        if e is None:
            return "none"
        text = f"#{e.id} {e.subject} {e.action}, {when(e):%Y-%m-%d %H:%M:%S} UTC"
        if e.last_error:
            text += f"; held by: {e.last_error} ({plural(e.attempts, 'attempt')})"
        return text

    output.record(
        f"Back-ordering of {result.tenant}",
        {
            "state": result.state,
            "phase": result.phase,
            "pending": result.pending,
            "delivered": result.delivered,
            "oldest pending": event(result.oldest_pending, lambda e: e.created_at),
            "last delivered": event(result.last_delivered, lambda e: e.delivered_at),
        },
    )


def reconcile(
    ctx: typer.Context,
    tenant: TenantOrAll = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every tenant whose back-ordering is on or paused.")
    ] = False,
):
    """Compare tenants with their parent's mirrors; exit 6 when anything differs.

    Every paid subscription and asset of a parent product has one mirror with the same
    product, unit, quantity, add-ons, status and dates; every mirror has its original;
    customers' kept fields are equal; every delivered sale has its order in the parent.
    Events not delivered yet are reported as pending, not as differences.
    """
    st = state(ctx)
    if (tenant is None) == (not all_):
        raise BadInput("reconcile: give a TENANT or --all (not both)")
    with st.parent_session() as session:
        if all_:
            results = reconciling.reconcile_all(session, st.parent_id())
        else:
            results = [reconciling.reconcile(session, tenant, st.parent_id())]
    differences = [d for r in results for d in r.differences]
    if st.json:
        output.print_json(
            {
                "tenants": [
                    {
                        "tenant": r.tenant,
                        "state": r.state,
                        "pending": r.pending,
                        "differences": len(r.differences),
                    }
                    for r in results
                ],
                "differences": differences,
            }
        )
    else:
        if differences:
            output.table(
                "Differences",
                ["tenant", "kind", "code", "problem", "tenant value", "parent value"],
                [
                    (d.tenant, d.kind, d.code, d.problem, d.tenant_value, d.parent_value)
                    for d in differences
                ],
            )
        for r in results:
            output.message(
                f"{r.tenant}: back-ordering {r.state}, "
                f"{plural(len(r.differences), 'difference')}, "
                f"{plural(r.pending, 'event')} pending."
            )
    if differences:
        raise Differences(
            f"{plural(len(differences), 'difference')} between the tenant and its "
            "parent (see above; fix the cause, then run reconcile again)"
        )

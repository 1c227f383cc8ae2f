"""`tenantctl invoice ...`: bill tenant resellers (preview, run, list, show, export)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tenantctl.cli import lazy, output
from tenantctl.cli.state import State, look_up, state
from tenantctl.errors import BadInput
from tenantctl.words import plural

billing_store = lazy.module("tenantctl.domain.billing_store")

invoice_app = typer.Typer(
    help="Bill tenant resellers for their mirrored sales: preview, "
    "issue, list, show and export invoices.",
    no_args_is_help=True,
)

Period = Annotated[
    str,
    typer.Option(
        "--period",
        metavar="YYYY-MM",
        help="The billing cycle: from the reseller's billing day of this month.",
    ),
]


def _show_cycle(st: State, result: billing_store.CycleResult) -> None:
    if st.json:
        output.print_json(result)
        return
    output.message(result.message)
    for invoice in result.invoices:
        output.invoice_table(invoice)


@invoice_app.command("preview")
def preview(
    ctx: typer.Context,
    reseller: Annotated[str, typer.Argument(help="The tenant reseller's account code.")],
    period: Period,
):
    """Show what a tenant reseller is billed for one cycle (nothing is issued or numbered)."""
    st = state(ctx)
    _show_cycle(st, st.in_org(billing_store.preview, reseller, period))


@invoice_app.command("run")
def run(
    ctx: typer.Context,
    period: Period,
    reseller: Annotated[
        str | None, typer.Argument(help="The tenant reseller's account code (or --all).")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every tenant reseller of the org, in code order.")
    ] = False,
):
    """Issue a cycle's invoices, once per reseller and cycle (a second run changes nothing).

    Refused (exit 1) for a cycle that has not ended or when an earlier cycle is missing;
    with --all, one reseller failing does not stop the others (exit 5 at the end).
    """
    st = state(ctx)
    if (reseller is None) == (not all_):
        raise BadInput("give a RESELLER or --all (not both)")
    if not all_:
        _show_cycle(st, billing_store.run(st.engine(), st.tenant_owner(), reseller, period))
        return
    org_id = st.tenant_owner()
    with output.progress(enabled=not st.json) as add:
        bar: list = []

        def step(done: int, total: int) -> None:
            if not bar:  # the first call gives the total, before any reseller is run
                bar.append(add(f"Invoicing {period}", total))
            bar[0](completed=done, total=total)

        result = billing_store.run_all(st.engine(), org_id, period, step)
    if st.json:
        output.print_json(result)
    else:
        for cycle in result.results:
            _show_cycle(st, cycle)
        for failure in result.failures:
            output.message(f"FAILED {failure['reseller']}: {failure['error']}")
    if result.failures:
        raise billing_store.batch_error(result)


@invoice_app.command("list")
def list_(
    ctx: typer.Context,
    reseller: Annotated[
        str | None, typer.Option("--reseller", metavar="CODE", help="Only this reseller's.")
    ] = None,
    period: Annotated[
        str | None, typer.Option("--period", metavar="YYYY-MM", help="Only this cycle's.")
    ] = None,
):
    """List the issued invoices and credit notes."""
    look_up(ctx, billing_store.list_invoices, reseller, period, draw=_print_invoices)


def _print_invoices(rows: list[billing_store.InvoiceSummary]) -> None:
    output.table(
        "Invoices",
        [
            "Number",
            "Kind",
            "Reseller",
            "Customer",
            "Period",
            "Issued",
            "Lines",
            "Total",
            "Currency",
        ],
        [
            [
                r.number,
                r.kind,
                r.reseller,
                r.customer or "(consolidated)",
                r.period,
                r.issued_on,
                r.lines,
                r.total,
                r.currency,
            ]
            for r in rows
        ],
    )


@invoice_app.command("show")
def show(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The invoice's number, e.g. INV-2026-000001.")],
):
    """Show one issued invoice or credit note, line by line."""
    look_up(ctx, billing_store.invoice_detail, number, draw=output.invoice_table)


@invoice_app.command("export")
def export(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The invoice's number.")],
    format_: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output_file: Annotated[
        Path | None,
        typer.Option("--output", metavar="FILE", help="Write it to FILE (default: stdout)."),
    ] = None,
):
    """Export an invoice, one row per line with its end customer."""
    if format_ not in ("csv", "json"):
        raise BadInput(f"--format: {format_!r} is not csv or json")
    view = state(ctx).in_org(billing_store.invoice_detail, number)
    rows = billing_store.export_rows(view)
    text = (
        output.csv_text(billing_store.EXPORT_FIELDS, rows)
        if format_ == "csv"
        else output.json_text(rows)
    )
    if output_file is None:
        output.raw(text)
    else:
        output_file.write_text(text, encoding="utf-8")
        output.message(f"Wrote {plural(len(rows), 'line')} of {number} to {output_file}")

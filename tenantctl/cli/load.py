"""`tenantctl load`: a distributor data set from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tenantctl.cli import lazy, output
from tenantctl.cli.state import state

load_dataset = lazy.function("tenantctl.domain.dataset", "load_dataset")


def load(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.yaml",
            help="The data set: root organisation, products, price lists, "
            "accounts, subscriptions and assets.",
        ),
    ],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check the file and show what would change; write nothing."),
    ] = False,
    replace_price_lists: Annotated[
        bool,
        typer.Option(
            "--replace-price-lists",
            help="Revise price lists whose current revision came from `pricelist import` or "
            "`set-price` back to the file's items (refused without it).",
        ),
    ] = False,
):
    """Load a distributor data set (YAML) into the store; safe to re-run (idempotent by code).

    Rows are matched by code (SKU, price list name): new ones are created, changed ones
    updated. The whole file is checked first; any problem changes nothing (exit code 2).
    """
    st = state(ctx)
    st.distributor_only("load")  # the data set is the root org's: never inside a tenant
    with st.session(write=True) as session:
        result = load_dataset(
            session, file, dry_run=dry_run, replace_price_lists=replace_price_lists
        )
    if st.json:
        output.print_json(result)
        return
    output.message(
        f"{'Checked' if dry_run else 'Loaded'} {result.file} "
        f"(root organisation: {result.organisation})"
    )
    output.table(
        None,
        ["entity", "created", "updated", "unchanged"],
        [(c.entity, c.created, c.updated, c.unchanged) for c in result.counts],
    )
    for name, revision in result.revisions.items():
        verb = "would get" if dry_run else "is now at"
        output.message(f"Price list {name!r} {verb} revision {revision}.")
    if not result.changed:
        output.message("Nothing changed: the store already matches the file.")
    elif dry_run:
        output.message("Dry run: nothing was written.")

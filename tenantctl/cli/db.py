"""`tenantctl db`: the store's schema."""

from __future__ import annotations

import typer

from tenantctl.cli import lazy, output
from tenantctl.cli.state import state
from tenantctl.errors import NotFound

migrate = lazy.module("tenantctl.store.migrate")

app = typer.Typer(help="Create and upgrade the store's schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context):
    """Upgrade the store to this tenantctl's schema (creates an empty store)."""
    st = state(ctx)
    st.distributor_only("db upgrade")
    before, after = migrate.upgrade(st.engine(check_schema=False))
    result = {"before": before, "after": after, "head": migrate.head()}
    if st.json:
        output.print_json(result)
    elif before == after:
        output.message(f"The store is already at revision {after}.")
    else:
        output.message(f"Upgraded the store from {before or 'empty'} to {after}.")


@app.command("current")
def current(ctx: typer.Context):
    """Show the store's schema revision and this tenantctl's newest."""
    st = state(ctx)
    st.distributor_only("db current")
    try:
        rev = migrate.current(st.engine(check_schema=False, create=False))
    except NotFound as missing:  # say so, and make no file
        rev = None
        if not st.json:
            text = str(missing)
            output.message(f"{text[:1].upper()}{text[1:]}.")
    head = migrate.head()
    result = {"current": rev, "head": head, "up_to_date": rev == head}
    if st.json:
        output.print_json(result)
    else:
        output.record(
            "Store schema", {"current": rev or "(empty)", "head": head, "up to date": rev == head}
        )

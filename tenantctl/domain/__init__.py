"""The rules of SPEC.md, one module per capability. No typer, no rich here."""

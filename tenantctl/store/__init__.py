"""The store: tables, engine, org scoping and migrations."""

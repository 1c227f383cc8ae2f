"""Alembic environment: run against the connection tenantctl hands over."""

from alembic import context
from sqlalchemy import String

import tenantctl.jobs.models  # noqa: F401  (the queue's tables)
from tenantctl.store.models import load_all
from tenantctl.store.types import Money

target_metadata = load_all()


def compare_type(ctx, inspected_column, metadata_column, inspected_type, metadata_type):
    # Money is TEXT on SQLite and NUMERIC elsewhere; compare what the dialect stores.
    if isinstance(metadata_type, Money):
        impl = metadata_type.load_dialect_impl(ctx.dialect)
        if isinstance(impl, String):
            return not isinstance(inspected_type, String)
        return inspected_type.__class__.__name__.upper() not in ("NUMERIC", "DECIMAL")
    return None


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=compare_type,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    from tenantctl.store.engine import open_engine

    url = context.config.get_main_option("sqlalchemy.url")
    with open_engine(url).connect() as conn:
        run_migrations(conn)
        conn.commit()
else:
    run_migrations(connection)

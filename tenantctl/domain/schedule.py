"""Whether a scheduled revision's product changes are due.

Every distributor command asks this before it starts, so it imports nothing beyond the
store: the catalogue code that applies the changes is loaded only when one is due, and
the catalogue's tables are not mapped to ask (a table clause names the columns it reads).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, column, select, table
from sqlalchemy.engine import Engine

from tenantctl.store.engine import read_session

# The columns of tenantctl.store.models.ProductChange this check reads (mapping that
# table maps the catalogue its foreign keys name: tens of milliseconds at every start).
PRODUCT_CHANGE = table(
    "product_change",
    column("id"),
    column("applied_at"),
    column("effective_date", Date),  # compared with a date: bound as the table binds it
)


def product_changes_due(engine: Engine, today: date) -> bool:
    """True when a product change of a revision in effect by TODAY is not yet applied."""
    change = PRODUCT_CHANGE.c
    due = select(change.id).where(change.applied_at.is_(None), change.effective_date <= today)
    with read_session(engine) as session:
        return session.execute(due.limit(1)).first() is not None

"""Whether a scheduled revision's product changes are due.

Every distributor command asks this before it starts, so it imports nothing beyond the
store: the catalogue code that applies the changes is loaded only when one is due.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.engine import Engine

from tenantctl.store.engine import read_session
from tenantctl.store.models import ProductChange


def product_changes_due(engine: Engine, today: date) -> bool:
    """True when a product change of a revision in effect by TODAY is not yet applied."""
    change = ProductChange.__table__
    due = select(change.c.id).where(change.c.applied_at.is_(None), change.c.effective_date <= today)
    with read_session(engine) as session:
        return session.execute(due.limit(1)).first() is not None

"""A seeded random stream of tenant operations (SPEC section 7), with pauses and resumes
among them: at the end `reconcile` is clean, the parent holds one order per executed sale
of a mirrored subscription or asset, and every mirror equals its original.

The seed is printed in every failure message; set BACKORDER_SEED to replay one.
"""

from __future__ import annotations

import os
import random

import pytest
from sqlalchemy import func, select

from tenantctl.domain import backorder, reconcile
from tenantctl.domain.orgs import root_org
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import Asset, BackorderEvent, Product, SalesOrder, Subscription
from tests import backorder_ops

OPERATIONS = int(os.environ.get("BACKORDER_OPERATIONS", "1000"))


@pytest.fixture
def world(live_world):
    """The live world store (LITECLOUD upgraded and live, ACME never lite)."""
    return live_world


def set_state(engine, state: str) -> None:
    with write_session(engine) as session:
        switch = backorder.pause if state == "paused" else backorder.resume
        switch(session, "LITECLOUD", root_org(session).id)


def mirrored_sales(session, org_id: int) -> int:
    """The tenant's executed sales of subscriptions and assets the parent mirrors: its
    orders of paid subscriptions and assets of products that came from the parent."""
    orders = (
        session.execute(
            select(SalesOrder).where(SalesOrder.org_id == org_id, SalesOrder.number.like("ORD-%"))
        )
        .scalars()
        .all()
    )
    count = 0
    for order in orders:
        if order.subscription_id is not None:
            sub = session.get(Subscription, order.subscription_id)
            product = session.get(Product, sub.product_id)
        else:
            product = session.get(Product, session.get(Asset, order.asset_id).product_id)
        count += product.source_product_id is not None
    return count


@pytest.mark.slow
def test_a_random_stream_of_tenant_operations_ends_reconciled(world):
    seed = int(os.environ.get("BACKORDER_SEED", random.randrange(1 << 32)))
    rnd = random.Random(seed)
    tenant_id, org_id, root_id = world.ids(world.lite)
    engine = world.engine()
    tally, state = backorder_ops.Tally(), "on"
    try:
        for _ in range(OPERATIONS):
            if rnd.random() < 0.02:
                state = "paused" if state == "on" else "on"
                set_state(engine, state)
                if state == "on":
                    backorder.deliver_tenants(engine, [tenant_id])
                continue
            backorder_ops.operate(engine, org_id, rnd, tally, deliver=True)
        if state == "paused":
            set_state(engine, "on")
        backorder.deliver_tenants(engine, [tenant_id])
        with read_session(engine) as session:
            result = reconcile.reconcile(session, "LITECLOUD", root_org(session).id)
            assert result.pending == 0, f"seed {seed}: {result.pending} events pending"
            assert result.differences == [], f"seed {seed}: {result.differences[:10]}"
            events = session.execute(
                select(func.count())
                .select_from(BackorderEvent)
                .where(BackorderEvent.tenant_id == tenant_id, BackorderEvent.order_id.is_not(None))
            ).scalar_one()
            parent_orders = session.execute(
                select(func.count())
                .select_from(SalesOrder)
                .where(SalesOrder.org_id == root_id, SalesOrder.backorder_event_id.is_not(None))
            ).scalar_one()
            sold = mirrored_sales(session, org_id)
            assert parent_orders == events == sold, (
                f"seed {seed}: {sold} mirrored sales, {events} events with an order, "
                f"{parent_orders} orders in the parent; operations {tally.done}"
            )
            assert tally.done.get("paid", 0) > 10, f"seed {seed}: too few sales {tally.done}"
    finally:
        engine.dispose()

"""Benchmark: what back-ordering adds to a sale in a tenant (issue: "a tenant sale with
back-ordering on costs at most 2x the same sale with it off").

    python -m tests.perf.bench_backorder [--sales N] [--json]

Builds a store from the bundled fixtures (SQLite in a temporary directory, or a fresh
database on TENANTCTL_TEST_DATABASE_URL's server) with two tenants: LITECLOUD live
(back-ordering on) and ACME (never lite, back-ordering off). Each sells N subscriptions
to a customer of its own, each sale a tenant-scoped transaction followed by the delivery a
command runs after its commit (the mirror, the copied customer and the parent's order for
LITECLOUD; nothing for ACME). The baseline is ACME's sales, measured in the same run,
one of each in turn.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from tenantctl.domain import accounts, backorder, sales
from tenantctl.store.engine import open_engine, read_session, write_session
from tenantctl.store.migrate import upgrade
from tenantctl.store.models import Organisation, SalesOrder, TenantReseller
from tests.backorder_world import build
from tests.conftest import PG_SERVER, create_pg_database, drop_pg_database

TARGET = 2.0


def _customer(engine, org_id: int, code: str) -> None:
    with write_session(engine, org_id=org_id) as session:
        org = session.get(Organisation, org_id)
        accounts.create_account(session, org, accounts.NewAccount(code=code, name=code.title()))
        accounts.update_account(
            session, org, code, accounts.AccountChanges(price_list="Retail EUR")
        )


def _sale(engine, org_id: int, customer: str, quantity: int) -> float:
    """One sale as a command makes it: its transaction, then the delivery after commit."""
    started = time.perf_counter()
    with write_session(engine, org_id=org_id) as session:
        sales.create_subscription(
            session,
            session.get(Organisation, org_id),
            customer,
            "MS-EXO-P1",
            unit="monthly",
            quantity=quantity,
        )
    backorder.deliver_written(engine, session)
    return time.perf_counter() - started


def run(sales_count: int) -> dict:
    tmp = tempfile.mkdtemp(prefix="tenantctl-bench-")
    url = create_pg_database() if PG_SERVER else f"sqlite:///{Path(tmp) / 'bench.db'}"
    try:
        engine = open_engine(url)
        upgrade(engine)
        acme, lite = build(url)
        with read_session(engine) as session:
            orgs = dict(
                session.execute(
                    select(Organisation.client_id, Organisation.id).where(
                        Organisation.client_id.in_([acme, lite])
                    )
                ).all()
            )
            states = dict(
                session.execute(select(TenantReseller.org_id, TenantReseller.backorder_state)).all()
            )
        assert states[orgs[lite]] == "on" and states[orgs[acme]] == "off"
        _customer(engine, orgs[acme], "BENCH-OFF")
        _customer(engine, orgs[lite], "BENCH-ON")
        # Alternate the two, so that a noisy machine slows both alike.
        on = off = 0.0
        for i in range(sales_count):
            off += _sale(engine, orgs[acme], "BENCH-OFF", 1 + i % 50)
            on += _sale(engine, orgs[lite], "BENCH-ON", 1 + i % 50)
        with read_session(engine) as session:
            mirrored = session.execute(
                select(func.count())
                .select_from(SalesOrder)
                .where(SalesOrder.backorder_event_id.is_not(None))
            ).scalar_one()
        assert mirrored == sales_count, f"{mirrored} of {sales_count} sales reached the parent"
        engine.dispose()
    finally:
        if PG_SERVER:
            drop_pg_database(url)
    ratio = on / off
    return {
        "benchmark": "tenant sale, back-ordering on vs off",
        "backend": "postgresql" if PG_SERVER else "sqlite",
        "sales": sales_count,
        "seconds": round(on, 3),
        "baseline": round(off, 3),
        "ratio": round(ratio, 2),
        "target": TARGET,
        "pass": ratio <= TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=int(os.environ.get("BENCH_SALES", 200)))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.sales)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['benchmark']} ({result['backend']}, {result['sales']} sales): "
            f"{result['seconds']} s vs {result['baseline']} s baseline, ratio "
            f"{result['ratio']} (target <= {TARGET}): "
            f"{'pass' if result['pass'] else 'FAIL'}"
        )


if __name__ == "__main__":
    main()

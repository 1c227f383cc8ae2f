"""Random sales in a live tenant, through the domain functions the CLI calls (each in its
own tenant-scoped write transaction, as one command would be): the load of the
back-ordering crash, race and stream tests.

    python -m tests.backorder_ops DB_URL TENANT_ORG_ID sell-and-die

sells one subscription in the tenant, commits, and kills itself (kill -9) before the
delivery that the command would run next.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from dataclasses import dataclass, field

from sqlalchemy import select

from tenantctl.domain import accounts, backorder, sales
from tenantctl.domain.orgs import get_product
from tenantctl.errors import TenantctlError
from tenantctl.store.engine import open_engine, write_session
from tenantctl.store.models import Account, Organisation, Subscription

# Products of the parent in the tenant (from "Resellers EUR"), sold monthly.
MONTHLY = ("MS-EXO-P1", "MS-M365-BS", "OTH-SUPPORT-STD", "MS-M365-BB")
ADD_ON = ("MS-M365-BS", "MS-DEFENDER-O365-P1")
ASSETS = (
    ("MS-WINSRV-STD-16C", "software-subscription"),
    ("MS-AZURE-RI-D2SV5", "azure-reservation"),
)
OPERATIONS = (
    "customer",
    "paid",
    "trial",
    "quantity",
    "add-on",
    "remove-add-on",
    "to-paid",
    "cancel",
    "asset",
    "edit",
)


@dataclass
class Tally:
    """What the operations did (the executed sales are what the parent must order)."""

    done: dict[str, int] = field(default_factory=dict)
    customers: int = 0


def one_transaction(engine, org_id: int, work, *, deliver: bool):
    """Run WORK(session, org) in one tenant-scoped write transaction, then deliver what it
    recorded (as a command does after its commit) when DELIVER."""
    with write_session(engine, org_id=org_id) as session:
        result = work(session, session.get(Organisation, org_id))
    if deliver:
        backorder.deliver_written(engine, session)
    return result


def _pick(session, model, *where, rnd: random.Random):
    ids = list(session.execute(select(model.code).where(*where).order_by(model.code)).scalars())
    return rnd.choice(ids) if ids else None


def operate(
    engine, org_id: int, rnd: random.Random, tally: Tally, *, deliver: bool, prefix: str = "RND"
) -> str:
    """One random operation; returns its name ("skip: ..." when nothing fitted)."""
    op = rnd.choice(OPERATIONS) if tally.customers else "customer"

    def work(session, org):
        customer = _pick(
            session, Account, Account.org_id == org.id, Account.code.like(f"{prefix}-%"), rnd=rnd
        )
        live = (
            Subscription.org_id == org.id,
            Subscription.status != "cancelled",
            Subscription.code.like("SUB-%"),
        )
        if op == "customer":
            code = f"{prefix}-{tally.customers:04d}"
            accounts.create_account(
                session,
                org,
                accounts.NewAccount(
                    code=code,
                    name=f"Random customer {tally.customers}",
                    email=f"c{tally.customers}@random.example",
                ),
            )
            accounts.update_account(
                session, org, code, accounts.AccountChanges(price_list="Retail EUR")
            )
            tally.customers += 1
        elif op in ("paid", "trial"):
            sku = rnd.choice(MONTHLY)
            add_ons = (
                {ADD_ON[1]: rnd.randint(1, 5)} if sku == ADD_ON[0] and rnd.random() < 0.5 else {}
            )
            sales.create_subscription(
                session,
                org,
                customer,
                sku,
                unit="monthly",
                quantity=rnd.randint(1, 20),
                trial=op == "trial",
                add_ons=add_ons,
            )
        elif op == "quantity":
            code = _pick(session, Subscription, *live, rnd=rnd)
            if code is None:
                return "skip: no subscription"
            sales.update_subscription(session, org, code, quantity=rnd.randint(1, 30))
        elif op in ("add-on", "remove-add-on"):
            product = get_product(session, org, ADD_ON[0])
            code = _pick(
                session, Subscription, *live, Subscription.product_id == product.id, rnd=rnd
            )
            if code is None:
                return "skip: no subscription to add to"
            sub = sales.get_subscription(session, org, code)
            has = sales.subscription_view(session, org, sub).add_ons
            if op == "remove-add-on" and not has:
                return "skip: no add-on to remove"
            quantity = 0 if op == "remove-add-on" else rnd.randint(1, 9)
            sales.update_subscription(session, org, code, add_ons={ADD_ON[1]: quantity})
        elif op == "to-paid":
            code = _pick(session, Subscription, *live, Subscription.paid.is_(False), rnd=rnd)
            if code is None:
                return "skip: no trial"
            sales.update_subscription(session, org, code, paid=True)
        elif op == "cancel":
            code = _pick(session, Subscription, *live, rnd=rnd)
            if code is None:
                return "skip: no subscription"
            sales.cancel_subscription(session, org, code)
        elif op == "asset":
            sku, kind = rnd.choice(ASSETS)
            sales.create_asset(session, org, customer, sku, kind=kind, quantity=rnd.randint(1, 4))
        elif op == "edit":
            n = rnd.randrange(10**6)
            accounts.update_account(
                session,
                org,
                customer,
                accounts.AccountChanges(name=f"Renamed {n}", email=f"r{n}@random.example"),
            )
        return op

    try:
        done = one_transaction(engine, org_id, work, deliver=deliver)
    except TenantctlError as exc:  # a rule said no (e.g. the same quantity): nothing changed
        return f"skip: {exc}"
    tally.done[done] = tally.done.get(done, 0) + 1
    return done


def _sell_and_die(db_url: str, org_id: int) -> None:
    engine = open_engine(db_url)

    def work(session, org):
        code = (
            session.execute(
                select(Account.code)
                .where(Account.org_id == org.id, Account.kind == "customer")
                .order_by(Account.code)
            )
            .scalars()
            .first()
        )
        sales.create_subscription(session, org, code, "MS-EXO-P1", unit="monthly", quantity=11)

    one_transaction(engine, org_id, work, deliver=False)
    os.kill(os.getpid(), signal.SIGKILL)  # committed; the delivery never runs


if __name__ == "__main__":
    _url, _org, _what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    assert _what == "sell-and-die", _what
    _sell_and_die(_url, _org)

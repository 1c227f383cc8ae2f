"""A data set larger than one batch: set-based writes, chunked lookups, exact reloads.

1,200 accounts and 3,000 subscriptions cross the loader's batch size (1,000 rows per
INSERT, 1,000 values per IN list) on every table it writes, without making the suite slow.
"""

from __future__ import annotations

from sqlalchemy import func, select

from tenantctl.store.models import Account, Contact, Subscription, SubscriptionAddon, SyncRecord
from tests.loader_world import BASE, counts, dump_store, write

ACCOUNTS = 1200
SUBSCRIPTIONS = 3000


def big_data_set(*, renamed: int = 0, requantified: int = 0) -> str:
    """BASE plus many customers of RESELLER; the first RENAMED / REQUANTIFIED rows changed."""
    lines = [BASE.split("accounts:\n")[0].split("products:\n")[0], "accounts:"]
    for i in range(ACCOUNTS):
        name = f"Customer {i}" + (" Ltd" if i < renamed else "")
        lines.append(
            f"  - code: BIG-{i:05d}\n    name: {name}\n    bill_to: RESELLER\n"
            f"    pricing: {{price_list: Resellers EUR, billing_day: {1 + i % 28}, "
            f"credit_limit: {i}.50}}\n"
            f"    contacts: [{{name: Person {i}, email: p{i}@example.com}}]\n"
            f"    sync: [{{platform: microsoft, external_id: X{i}}}]"
        )
    lines.append("subscriptions:")
    for i in range(SUBSCRIPTIONS):
        quantity = 1 + i % 50 + (1 if i < requantified else 0)
        lines.append(
            f"  - code: BIGSUB-{i:06d}\n    account: BIG-{i % ACCOUNTS:05d}\n"
            f"    sku: M365-E3\n    unit: monthly\n    quantity: {quantity}\n"
            f"    price: 20.60\n    start_date: 2024-01-{1 + i % 28:02d}\n"
            + ("    add_ons: [{sku: TEAMS-PHONE, quantity: 2}]\n" if i % 2 else "")
            + f"    characteristics: {{group: g{i % 7}}}"
        )
    return "\n".join(lines) + "\n"


def test_a_large_second_file_loads_set_wise_and_reloads_unchanged(cli, engine, tmp_path):
    cli("load", write(tmp_path, "base.yaml", BASE))
    big = write(tmp_path, "big.yaml", big_data_set())
    result = cli.json("load", big)
    assert counts(result)["accounts"] == (ACCOUNTS, 0, 0)
    assert counts(result)["subscriptions"] == (SUBSCRIPTIONS, 0, 0)
    with engine.connect() as conn:

        def count(table, *where):
            return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()

        assert count(Contact) == ACCOUNTS + 2  # and BASE's two
        assert count(SyncRecord, SyncRecord.platform == "microsoft") == ACCOUNTS
        assert count(SubscriptionAddon) == SUBSCRIPTIONS // 2 + 1
        reseller_id = conn.execute(select(Account.id).where(Account.code == "RESELLER")).scalar()
        assert count(Account, Account.bill_to_id == reseller_id) == ACCOUNTS + 1
    loaded = dump_store(engine)

    again = cli.json("load", big)
    assert counts(again)["accounts"] == (0, 0, ACCOUNTS)
    assert counts(again)["subscriptions"] == (0, 0, SUBSCRIPTIONS)
    assert dump_store(engine) == loaded

    changed = cli.json(
        "load", write(tmp_path, "changed.yaml", big_data_set(renamed=1100, requantified=1500))
    )
    assert counts(changed)["accounts"] == (0, 1100, ACCOUNTS - 1100)
    assert counts(changed)["subscriptions"] == (0, 1500, SUBSCRIPTIONS - 1500)
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(Account).where(Account.name.like("% Ltd"))
            ).scalar()
            == 1100
        )
        first = conn.execute(
            select(Subscription.quantity).where(Subscription.code == "BIGSUB-000000")
        ).scalar()
        assert first == 2

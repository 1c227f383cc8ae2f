"""The acceptance test of `tenant update` (SPEC section 6) on real catalogue data.

A reseller billed in USD becomes a tenant of a price list made from Google Cloud's
Compute Engine prices of 2025-04-27; the list then follows the published versions of
2025-10-09 and 2026-03-25, each followed by `tenant update`. After each update the tenant
must hold exactly that version (units, purchase prices, discontinued flags) and the update
log exactly one entry per difference; both are computed here from the raw files with set
arithmetic and Decimal comparison of the price texts (`tests/realdata.py`), never from
tenantctl's own diff.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest

from tests.gcp_update_world import (
    CODE,
    PL,
    create_tenant,
    gcp_version,
    load_usd_reseller,
)
from tests.realdata import GCP_VERSIONS, write_gcp_csv
from tests.tenant_worker_main import hang_guard
from tests.update_world import (
    ADDED,
    BELOW,
    DISCONTINUED,
    PRICE,
    assert_log,
    assert_tenant_holds,
    counts_of,
    expected_changes,
    log_of,
    recorded_revision,
    update_one,
)

pytestmark = [
    pytest.mark.slow,
]

# Far more than the minute these need; the guard only turns a hang into a failure.
HANG_SECONDS = 900


def outcome_price(outcome: dict, key: tuple[str, str]) -> str:
    """The sell price text the update's outcome gives for KEY (the log writes the same)."""
    (price,) = [b["price"] for b in outcome["below_cost"] if (b["sku"], b["unit"]) == key]
    return price


def test_a_tenant_follows_three_real_google_cloud_versions(cli, engine, tmp_path):
    versions = {v: gcp_version(v) for v in GCP_VERSIONS}
    files = {v: write_gcp_csv(v, tmp_path / f"gcp-{v}.csv") for v in GCP_VERSIONS}
    with hang_guard(HANG_SECONDS):
        load_usd_reseller(cli, tmp_path)
        cli("pricelist", "import", PL, files[GCP_VERSIONS[0]], "--currency", "USD")
        create_tenant(cli)
        first = versions[GCP_VERSIONS[0]]
        assert_tenant_holds(engine, first, discontinued=set(), code=CODE)
        assert recorded_revision(cli, CODE) == 1

        listed_before = set(first.items)
        # The retail list sells each unit at the cost it was first copied in at (no
        # --sell-prices here): the margin guard's sell prices.
        retail = dict(first.items)
        log: list[dict] = []
        for revision, (old_v, new_v) in enumerate(pairwise(GCP_VERSIONS), start=2):
            old, new = versions[old_v], versions[new_v]
            expected = expected_changes(old, new)
            cli("pricelist", "import", PL, files[new_v])

            outcome = update_one(cli, CODE)
            assert outcome["status"] == "succeeded", new_v
            assert (outcome["from_revision"], outcome["to_revision"]) == (revision - 1, revision)
            assert outcome["counts"] == counts_of(expected), new_v
            # Discontinued: every unit of an earlier version that this one does not list.
            listed_before |= set(new.items)
            assert_tenant_holds(engine, new, discontinued=listed_before - set(new.items), code=CODE)
            assert recorded_revision(cli, CODE) == revision

            entries = log_of(cli, CODE)
            assert entries[: len(log)] == log, "an update rewrote earlier log entries"
            added_entries = entries[len(log) :]
            assert_log(added_entries, expected)
            # The margin guard: a cost raised, or a unit back at a cost, above its retail.
            raised = {k for k in expected[PRICE] if new.items[k] > old.items[k]}
            back = {k for k in expected[ADDED] if k in retail}
            below = {k: new.items[k] for k in raised | back if new.items[k] > retail[k]}
            assert below, "no price rise in this version: the guard is not exercised"
            assert [
                (b["sku"], b["unit"], Decimal(b["cost"]), Decimal(b["price"]), b["price_list"])
                for b in outcome["below_cost"]
            ] == [(*k, below[k], retail[k], "Retail USD") for k in sorted(below)]
            assert {
                (e["sku"], e["unit"]): (Decimal(e["new"]), e["old"])
                for e in added_entries
                if e["change"] == BELOW
            } == {k: (below[k], f"{outcome_price(outcome, k)} (Retail USD)") for k in below}
            for k in expected[ADDED]:
                retail.setdefault(k, new.items[k])
            added_entries = [e for e in added_entries if e["change"] != BELOW]
            for e in added_entries:
                key = (e["sku"], e["unit"])
                assert (e["from_revision"], e["to_revision"], e["process_id"]) == (
                    revision - 1,
                    revision,
                    outcome["process_id"],
                )
                assert (
                    (None if e["old"] is None else Decimal(e["old"])),
                    (None if e["new"] is None else Decimal(e["new"])),
                ) == (
                    old.items.get(key) if e["change"] != ADDED else None,
                    new.items.get(key) if e["change"] != DISCONTINUED else None,
                ), e
            assert {e["change"] for e in added_entries} <= {ADDED, PRICE, DISCONTINUED}
            log = entries

        # Nothing new: the third update says so and changes nothing.
        processes = len(cli.json("process", "list"))
        again = update_one(cli, CODE)
        assert (again["status"], again["process_id"], again["counts"]) == ("up-to-date", None, {})
        assert (again["from_revision"], again["to_revision"]) == (3, 3)
        assert len(cli.json("process", "list")) == processes
        assert log_of(cli, CODE) == log

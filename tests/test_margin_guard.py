"""The margin guard of `tenant update` (issue 9; SPEC sections 6 and 9): a catalogue update
that raises a tenant's cost above what the tenant sells the item for in one of its own price
lists lists the item (SKU, unit, new cost, sell price, price list) in the dry run before
anything changes, in the run's table and JSON, and in the update tenant log.

The expectations are written here from the prices the tests set, compared as Decimal; the
store is read through the CLI (`--json`) and, for "nothing changed", row by row.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml
from sqlalchemy import select

from tenantctl.store.models import Organisation, PriceList
from tests.conftest import FIXTURES
from tests.create_world import all_rows
from tests.realdata import TextFloatLoader
from tests.update_world import write_rows
from tests.world import PL, RETAIL, World

BELOW_COST = "below-cost"
COLUMNS = {"COLUMNS": "80"}
# The rises of the root's price list the tests import, and what each does to ACME:
BP = ("MS-M365-BP", "monthly")  # 20.60 -> 21.63: above its retail price (at old cost)
E3 = ("MS-M365-E3", "monthly")  # 33.60 -> 35.28: ACME's retail price is raised to 40.00
BS = ("MS-M365-BS", "monthly")  # 11.70 -> 12.00: ACME's retail price is raised to 12.00
ACR = ("ACR-CPC-STD", "monthly")  # 4.15 -> 4.00: a cost that falls is never listed
NEW_PRICES = {BP: "21.63", E3: "35.28", BS: "12.00", ACR: "4.00"}


def root_rows() -> list[dict]:
    """The root's "Resellers EUR" as the data set loads it, as price-list CSV rows."""
    with (FIXTURES / "distributor.yaml").open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=TextFloatLoader)
    products = {p["sku"]: p for p in data["products"]}
    (price_list,) = [p for p in data["price_lists"] if p["name"] == PL]
    return [
        {
            "sku": i["sku"],
            "name": products[i["sku"]]["name"],
            "platform": products[i["sku"]]["platform"],
            "unit": i["unit"],
            "price": str(i["price"]),
            "add_on_of": products[i["sku"]].get("add_on_of") or "",
            "type": products[i["sku"]].get("type") or "",
        }
        for i in price_list["items"]
    ]


def import_root_prices(world: World, tmp_path, prices: dict, rows: list[dict] | None = None):
    """Import the root's price list with PRICES ((sku, unit) -> text) changed."""
    rows = [
        {**r, "price": prices.get((r["sku"], r["unit"]), r["price"])}
        for r in (rows if rows is not None else root_rows())
    ]
    world.cli("pricelist", "import", PL, write_rows(tmp_path / f"{len(prices)}.csv", rows))


def set_price(world: World, name: str, key: tuple[str, str], price: str) -> None:
    world.at(world.acme, "pricelist", "set-price", name, key[0], price, "--unit", key[1])


def own_price_list(world: World, name: str, currency: str) -> None:
    """A price list of ACME's own (empty; `pricelist set-price` fills it)."""
    with world.write() as session:
        org_id = session.execute(
            select(Organisation.id).where(Organisation.client_id == world.acme)
        ).scalar_one()
        session.add(PriceList(org_id=org_id, name=name, currency=currency))


def item(key: tuple[str, str], cost: str, price: str, price_list: str) -> dict:
    return {"sku": key[0], "unit": key[1], "cost": cost, "price": price, "price_list": price_list}


def update(world: World, *args: str) -> dict:
    (outcome,) = world.cli.json("tenant", "update", "ACME", *args)["tenants"]
    return outcome


def below_cost_log(world: World) -> list[dict]:
    return [e for e in world.cli.json("tenant", "log", "ACME") if e["change"] == BELOW_COST]


def retail_prices(world: World) -> dict[tuple[str, str], Decimal]:
    shown = world.at_json(world.acme, "pricelist", "show", RETAIL)
    return {(i["sku"], i["unit"]): Decimal(i["price"]) for i in shown["items"]}


@pytest.fixture
def raised(world, tmp_path) -> World:
    """ACME sells E3 monthly at 40.00 and BS monthly at 12.00, the rest at cost; then the
    root raises BP, E3 and BS and lowers ACR."""
    set_price(world, RETAIL, E3, "40.00")
    set_price(world, RETAIL, BS, "12.00")
    import_root_prices(world, tmp_path, NEW_PRICES)
    return world


def test_the_dry_run_lists_a_rise_above_the_sell_price_and_changes_nothing(raised):
    before = all_rows(raised.db_url)
    outcome = update(raised, "--dry-run")
    # E3 stays below its sell price, BS reaches it exactly, ACR falls: only BP is listed.
    assert outcome["below_cost"] == [item(BP, "21.63", "20.60", RETAIL)]
    text = raised.cli("tenant", "update", "ACME", "--dry-run", env=COLUMNS).stdout
    assert all_rows(raised.db_url) == before
    assert "ACME would sell below its new cost" in text
    assert [line.split() for line in text.splitlines() if "MS-M365-BP" in line][-1] == [
        "│", "MS-M365-BP", "│", "monthly", "│", "21.63", "│", "20.60", "│", "Retail", "EUR", "│"
    ]  # fmt: skip
    assert max(len(line) for line in text.splitlines()) <= 80
    assert below_cost_log(raised) == []


@pytest.mark.parametrize("mode", ["json", "table"])
def test_the_run_lists_it_and_logs_it_once(raised, mode):
    if mode == "json":
        outcome = update(raised)
        assert outcome["status"] == "succeeded"
        assert outcome["below_cost"] == [item(BP, "21.63", "20.60", RETAIL)]
        process_id = outcome["process_id"]
    else:
        text = raised.cli("tenant", "update", "ACME", env=COLUMNS).stdout
        assert "ACME sells below its new cost" in text and "would sell" not in text
        assert max(len(line) for line in text.splitlines()) <= 80
        process_id = max(p["id"] for p in raised.cli.json("process", "list"))
    (entry,) = below_cost_log(raised)
    assert (entry["sku"], entry["unit"], entry["old"], entry["new"]) == (
        *BP,
        "20.60 (Retail EUR)",
        "21.63",
    )
    assert entry["process_id"] == process_id
    # The log's changes come first, the warning after them.
    assert raised.cli.json("tenant", "log", "ACME")[-1] == entry
    log = raised.cli("tenant", "log", "ACME", env=COLUMNS).stdout
    assert BELOW_COST in log and "20.60 (Retail EUR)" in log
    assert max(len(line) for line in log.splitlines()) <= 80
    # Nothing new: nothing listed, nothing logged again.
    again = update(raised)
    assert (again["status"], again["below_cost"]) == ("up-to-date", [])
    assert below_cost_log(raised) == [entry]


def test_sell_prices_raise_the_retail_list_so_only_other_lists_stay_below_cost(world, tmp_path):
    own_price_list(world, "Gold EUR", "EUR")
    set_price(world, "Gold EUR", BP, "21.00")  # below BP's new cost 21.63
    set_price(world, "Gold EUR", E3, "36.00")  # above E3's new cost 35.28
    import_root_prices(world, tmp_path, {BP: "21.63", E3: "35.28"})

    without = update(world, "--dry-run")["below_cost"]
    assert without == [
        item(BP, "21.63", "21.00", "Gold EUR"),
        item(BP, "21.63", "20.60", RETAIL),
        item(E3, "35.28", "33.60", RETAIL),
    ]
    dry = update(world, "--dry-run", "--sell-prices")
    assert dry["below_cost"] == [item(BP, "21.63", "21.00", "Gold EUR")]
    done = update(world, "--sell-prices")
    assert done["below_cost"] == dry["below_cost"]
    assert retail_prices(world)[BP] == Decimal("21.63")
    assert retail_prices(world)[E3] == Decimal("35.28")
    (entry,) = below_cost_log(world)
    assert (entry["sku"], entry["unit"], entry["old"], entry["new"]) == (
        *BP,
        "21.00 (Gold EUR)",
        "21.63",
    )


def test_each_list_below_cost_is_named_in_one_log_entry(world, tmp_path):
    own_price_list(world, "Gold EUR", "EUR")
    set_price(world, "Gold EUR", BP, "21.00")
    import_root_prices(world, tmp_path, {BP: "21.63"})
    update(world)
    (entry,) = below_cost_log(world)
    assert entry["old"] == "21.00 (Gold EUR), 20.60 (Retail EUR)"


def test_a_price_list_in_another_currency_is_not_compared(world, tmp_path):
    own_price_list(world, "Retail USD", "USD")
    set_price(world, "Retail USD", BP, "1.00")  # lower than any cost, but in dollars
    import_root_prices(world, tmp_path, {BP: "21.63"})
    assert update(world, "--dry-run")["below_cost"] == [item(BP, "21.63", "20.60", RETAIL)]
    assert update(world)["below_cost"] == [item(BP, "21.63", "20.60", RETAIL)]
    assert [e["old"] for e in below_cost_log(world)] == ["20.60 (Retail EUR)"]


def test_a_unit_back_at_a_higher_cost_is_listed(world, tmp_path):
    rows = root_rows()
    bb = ("MS-M365-BB", "annual")  # 61.60, ACME's retail price too
    without_bb = [r for r in rows if (r["sku"], r["unit"]) != bb]
    import_root_prices(world, tmp_path, {}, without_bb)
    assert update(world)["below_cost"] == []
    import_root_prices(world, tmp_path, {bb: "64.80"}, rows)
    assert update(world, "--dry-run")["below_cost"] == [item(bb, "64.80", "61.60", RETAIL)]
    assert update(world)["below_cost"] == [item(bb, "64.80", "61.60", RETAIL)]
    assert [(e["sku"], e["unit"], e["new"]) for e in below_cost_log(world)] == [(*bb, "64.80")]


def test_a_partial_update_lists_its_price_rises(raised):
    assert update(raised, "--partial", "--dry-run")["below_cost"] == [
        item(BP, "21.63", "20.60", RETAIL)
    ]
    assert update(raised, "--partial")["below_cost"] == [item(BP, "21.63", "20.60", RETAIL)]
    assert len(below_cost_log(raised)) == 1


def test_a_queued_update_lists_what_it_would_and_the_worker_logs_it(raised):
    queued = update(raised, "--detach")
    assert (queued["status"], queued["below_cost"]) == (
        "queued",
        [item(BP, "21.63", "20.60", RETAIL)],
    )
    assert below_cost_log(raised) == []
    raised.cli("worker", "--until-empty")
    (entry,) = below_cost_log(raised)
    assert (entry["sku"], entry["unit"], entry["process_id"]) == (*BP, queued["process_id"])
    shown = raised.cli.json("process", "show", str(queued["process_id"]))
    assert shown["result"]["below_cost"] == 1

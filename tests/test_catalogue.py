"""`tenantctl pricelist ...` and `tenantctl product ...` (SPEC sections 1, 6 and 10).

Bad input: exit 2, a message naming the file, the line and the field, and a store exactly
as it was. Good input: exact prices, revisions, dry runs, add-ons, and the JSON shapes.
"""

from __future__ import annotations

import re
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tenantctl.domain.catalogue import PriceRow, import_price_list
from tenantctl.domain.orgs import root_org
from tenantctl.store.engine import open_engine, write_session
from tenantctl.store.models import Organisation, PriceListItem
from tests.conftest import PG_SERVER, reflected

HEADER = "sku,name,platform,unit,price,add_on_of,type\n"

BASE = HEADER + (
    "M365-BP,Microsoft 365 Business Premium,microsoft,monthly,20.60,,\n"
    "M365-BP,Microsoft 365 Business Premium,microsoft,annual,247.20,,\n"
    "ACR-BKP,Acronis Cyber Backup,acronis,monthly,0.1,,\n"
    "ACR-BKP-STO,Acronis extra storage,acronis,monthly,0.05,ACR-BKP,storage\n"
)
# The next version: a price changed, a unit removed, a product renamed, a product added.
NEXT = HEADER + (
    "M365-BP,Microsoft 365 Business Premium,microsoft,monthly,21.00,,\n"
    "ACR-BKP,Acronis Cyber Backup,acronis,monthly,0.1,,\n"
    "ACR-BKP-STO,Acronis Extra Storage,acronis,monthly,0.05,ACR-BKP,storage\n"
    '"OSS-VM","Cloud server, 2 vCPU",oss,monthly,12.5,,\n'
)


@pytest.fixture
def store(db_url) -> str:
    """A store with a root organisation (and nothing else)."""
    engine = open_engine(db_url)
    with write_session(engine) as session:
        session.add(Organisation(name="Distributor", kind="root", currency="EUR", country="GR"))
    engine.dispose()
    return db_url


def write(tmp_path: Path, content: str | bytes, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def dump(db_url: str) -> dict[str, list[tuple]]:
    """Every row of every table of the store (reflected, so no table is forgotten)."""
    engine = open_engine(db_url)
    try:
        meta = reflected(engine)
        with engine.connect() as conn:
            return {
                name: sorted(map(tuple, conn.execute(select(table))), key=repr)
                for name, table in meta.tables.items()
            }
    finally:
        engine.dispose()


def counts(diff: dict) -> dict[str, int]:
    return {kind: len(diff[kind]) for kind in ("added", "changed", "discontinued")}


# --- bad input --------------------------------------------------------------------------


def row(
    sku="NEW",
    name="New thing",
    platform="other",
    unit="monthly",
    price="1.00",
    add_on_of="",
    type_="",
) -> str:
    return f"{sku},{name},{platform},{unit},{price},{add_on_of},{type_}\n"


def bug(reason: str):
    return pytest.mark.xfail(strict=True, reason="BUG " + reason)


R = "Resellers"  # the price list every bad file below is imported into
BAD_INPUT = [
    # price list, file content, extra arguments, what the message must contain
    pytest.param(
        R,
        "sku,name,platform,unit\nA,Alpha,other,monthly\n",
        [],
        [":1: header:", "price"],
        id="missing-column",
    ),
    pytest.param(R, "", [], [":1: header:", "missing column"], id="empty-file"),
    pytest.param(R, HEADER, [], ["lists no items"], id="header-only"),
    pytest.param(R, HEADER + row() + row(sku=""), [], [":3: sku: is empty"], id="empty-sku"),
    pytest.param(R, HEADER + row(sku="X" * 121), [], [":2: sku:", "120"], id="sku-too-long"),
    pytest.param(R, HEADER + row(name=""), [], [":2: name: is empty"], id="empty-name"),
    pytest.param(R, HEADER + row(name="N" * 301), [], [":2: name:", "300"], id="name-too-long"),
    pytest.param(R, HEADER + row(type_="T" * 41), [], [":2: type:", "40"], id="type-too-long"),
    pytest.param(
        "L" * 121, BASE, ["--currency", "EUR"], ["NAME", "120"], id="price-list-name-too-long"
    ),
    pytest.param(
        R, HEADER + row(platform="azure"), [], [":2: platform:", "'azure'"], id="bad-platform"
    ),
    pytest.param(R, HEADER + row(unit="weekly"), [], [":2: unit:", "'weekly'"], id="bad-unit"),
    pytest.param(
        R, HEADER + row(price="-1.50"), [], [":2: price:", "negative"], id="negative-price"
    ),
    pytest.param(R, HEADER + row(price="abc"), [], [":2: price:", "'abc'"], id="non-numeric-price"),
    pytest.param(R, HEADER + row(price=""), [], [":2: price:"], id="empty-price"),
    pytest.param(
        R,
        HEADER + 'NEW,New thing,other,monthly,"1,50",,\n',
        [],
        [":2: price:", "'1,50'"],
        id="decimal-comma-price",
    ),
    pytest.param(R, HEADER + row(price="NaN"), [], [":2: price:", "'NaN'"], id="nan-price"),
    pytest.param(R, HEADER + row(price="inf"), [], [":2: price:", "'inf'"], id="inf-price"),
    pytest.param(R, HEADER + row(price="-Infinity"), [], [":2: price:"], id="minus-inf-price"),
    pytest.param(R, HEADER + row(price="1e400"), [], [":2: price:", "'1e400'"], id="1e400-price"),
    pytest.param(R, HEADER + row(price="1e30"), [], [":2: price:", "'1e30'"], id="1e30-price"),
    pytest.param(
        R,
        HEADER + row(price="1000000000000000"),
        [],
        [":2: price:", "too large"],
        id="price-of-10**15",
    ),
    pytest.param(
        R,
        HEADER + row(price="1e-20000"),
        [],
        [":2: price:", "'1e-20000'"],
        id="20000-decimal-places",
    ),
    pytest.param(
        R,
        HEADER + row() + row(price="2.00"),
        [],
        [":3: sku:", "NEW / monthly", "line 2"],
        id="duplicate-sku-and-unit",
    ),
    pytest.param(
        R,
        HEADER + row() + row(name="Other name", unit="annual"),
        [],
        [":3: name:", "NEW", "line 2"],
        id="inconsistent-name",
    ),
    pytest.param(
        R,
        HEADER + row() + row(platform="oss", unit="annual"),
        [],
        [":3: name:", "NEW", "line 2"],
        id="inconsistent-platform",
    ),
    pytest.param(
        R, HEADER + row(add_on_of="NOPE"), [], [":2: add_on_of:", "'NOPE'"], id="add-on-of-unknown"
    ),
    pytest.param(
        R,
        HEADER + row(add_on_of="NEW"),
        [],
        [":2: add_on_of:", "an add-on of itself"],
        id="add-on-of-itself",
    ),
    # hostile input (issue 11 items 5 to 7)
    pytest.param(
        R,
        HEADER + row(sku="LP-1", add_on_of="LP-2") + row(sku="LP-2", add_on_of="LP-1"),
        [],
        [":2: add_on_of:", "LP-1 would be an add-on of itself through LP-2"],
        id="add-on-loop",
    ),
    pytest.param(
        R,
        "sku,sku,name,platform,unit,price\nA,B,N,other,monthly,1\n",
        [],
        [":1: header:", "sku given twice"],
        id="header-column-twice",
    ),
    pytest.param(
        R, HEADER + row(price="1_000"), [], [":2: price:", "'1_000'"], id="underscore-price"
    ),
    pytest.param(R, HEADER + row(price="1e5"), [], [":2: price:", "'1e5'"], id="exponent-price"),
    pytest.param(
        R,
        HEADER + row(price="\uff11\uff12"),
        [],
        [":2: price:", "digits 0-9"],
        id="full-width-price",
    ),
    pytest.param(
        R, HEADER + row(price="\u0663"), [], [":2: price:", "digits 0-9"], id="arabic-indic-price"
    ),
    pytest.param(
        R, HEADER + row(name="Bad\x00name"), [], [":2: name:", "'\\x00'"], id="nul-in-name"
    ),
    pytest.param(
        R, HEADER + row(sku="NEW\x1b[31m"), [], [":2: sku:", "'\\x1b'"], id="escape-in-sku"
    ),
    pytest.param(R, HEADER + row(sku="NEW\tONE"), [], [":2: sku:", "'\\t'"], id="tab-in-sku"),
    pytest.param(
        R,
        HEADER + "NEW,New,other,monthly,1,,,surplus\n",
        [],
        [":2: columns:"],
        id="too-many-values",
    ),
    pytest.param(
        R,
        (HEADER + "NEW,Caf\xe9 \u2013 plan,other,monthly,1,,\n").encode("cp1252"),
        [],
        [":2: encoding:", "byte 0xe9 is not valid UTF-8"],
        id="not-utf8",
    ),
    pytest.param(  # the file is decoded as it is read: a late bad byte still names its line
        R,
        (
            HEADER
            + "".join(row(sku=f"NEW-{n}") for n in range(3000))
            + "LATE,Caf\xe9,other,monthly,1,,\n"
        ).encode("cp1252"),
        [],
        [":3002: encoding:", "byte 0xe9 is not valid UTF-8"],
        id="not-utf8-far-into-the-file",
    ),
    pytest.param(
        R,
        BASE.replace("acronis,monthly,0.1", "oss,monthly,0.1"),
        [],
        [":4: platform:", "ACR-BKP", "acronis", "oss"],
        id="platform-changes",
    ),
    pytest.param(
        "New list",
        BASE,
        [],
        ["--currency", "'New list'", "required"],
        id="new-list-without-currency",
    ),
    pytest.param(R, BASE, ["--currency", "EURO"], ["--currency", "'EURO'"], id="bad-currency"),
    pytest.param(R, BASE, ["--currency", "ZZZ"], ["--currency", "'ZZZ'"], id="unknown-currency"),
    pytest.param(R, BASE, ["--currency", "USD"], ["--currency", "EUR", "USD"], id="other-currency"),
]


@pytest.mark.parametrize(("price_list", "content", "args", "fragments"), BAD_INPUT)
def test_bad_input_exits_2_names_the_place_and_changes_nothing(
    store, cli, tmp_path, price_list, content, args, fragments
):
    cli("pricelist", "import", R, write(tmp_path, BASE, "base.csv"), "--currency", "EUR")
    bad = write(tmp_path, content, "bad-input.csv")
    before = dump(store)

    result = cli("pricelist", "import", price_list, bad, *args, expect=2)

    assert result.stdout == ""
    message = result.stderr
    assert message.startswith("Error: ")
    if not fragments[0].startswith(("--", "NAME")):  # else the option or argument is named
        assert "bad-input.csv" in message
    for fragment in fragments:
        assert fragment in message
    assert dump(store) == before


def test_every_problem_of_a_file_is_listed(store, cli, tmp_path):
    bad = write(
        tmp_path,
        HEADER + row(platform="azure") + row(sku="B", unit="weekly") + row(sku="C", price="-1"),
    )
    message = cli("pricelist", "import", R, bad, "--currency", "EUR", expect=2).stderr
    assert "3 problems" in message
    for fragment in (":2: platform:", ":3: unit:", ":4: price:"):
        assert fragment in message


def test_missing_file_exits_2(store, cli, tmp_path):
    result = cli("pricelist", "import", R, tmp_path / "nowhere.csv", "--currency", "EUR", expect=2)
    assert "nowhere.csv" in result.stderr


def test_import_without_a_root_organisation_is_refused(cli, tmp_path):
    result = cli("pricelist", "import", R, write(tmp_path, BASE), "--currency", "EUR", expect=1)
    assert "root organisation" in result.stderr


# --- exact money --------------------------------------------------------------------------


def stored_price_texts(db_url: str) -> set[str]:
    """The prices as the database holds them (text on SQLite, NUMERIC cast to text on PG)."""
    engine = open_engine(db_url)
    try:
        cast = "price" if engine.dialect.name == "sqlite" else "price::text"
        with engine.connect() as conn:
            return set(conn.execute(text(f"SELECT {cast} FROM price_list_item")).scalars())
    finally:
        engine.dispose()


def test_price_0_1_round_trips_exactly(store, cli, tmp_path):
    cli("pricelist", "import", R, write(tmp_path, HEADER + row(price="0.1")), "--currency", "EUR")
    assert stored_price_texts(store) == {"0.1"}
    engine = open_engine(store)
    with engine.connect() as conn:
        assert conn.execute(select(PriceListItem.price)).scalar_one() == Decimal("0.1")
    engine.dispose()
    [item] = cli.json("pricelist", "show", R)["items"]
    assert item["price"] == "0.1"
    [listed] = cli.json("product", "show", "NEW")["price_lists"]
    assert listed == {"price_list": R, "unit": "monthly", "price": "0.1", "currency": "EUR"}


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("20.60", "20.60"),  # the scale is kept
        ("0.000000000001", "0.000000000001"),
        ("999999999999999.999999999999", "999999999999999.999999999999"),
        ("0.0000001", "0.0000001"),  # never scientific notation
        ("100", "100"),
        ("  7.5 ", "7.5"),
        ("0", "0"),
    ],
)
def test_prices_are_stored_and_shown_exactly(store, cli, tmp_path, written, shown):
    cli("pricelist", "import", R, write(tmp_path, HEADER + row(price=written)), "--currency", "EUR")
    [item] = cli.json("pricelist", "show", R)["items"]
    assert item["price"] == shown
    assert Decimal(item["price"]) == Decimal(written)


def test_negative_zero_price_is_shown_as_zero(store, cli, tmp_path):
    cli("pricelist", "import", R, write(tmp_path, HEADER + row(price="-0")), "--currency", "EUR")
    [item] = cli.json("pricelist", "show", R)["items"]
    assert item["price"] == "0"


def test_values_are_stripped_and_a_bom_is_accepted(store, cli, tmp_path):
    content = (
        "\ufeff sku , name ,platform,unit,price\n  NEW ,  New thing  , other , monthly , 1.00 \n"
    )
    cli("pricelist", "import", R, write(tmp_path, content), "--currency", " eur ")
    shown = cli.json("pricelist", "show", R)
    assert shown["currency"] == "EUR"
    assert shown["items"] == [
        {"sku": "NEW", "name": "New thing", "platform": "other", "unit": "monthly", "price": "1.00"}
    ]


# --- revisions, dry runs, add-ons -------------------------------------------------------------


def test_import_makes_revisions_and_reimport_makes_none(store, cli, tmp_path):
    first = cli.json("pricelist", "import", R, write(tmp_path, BASE, "v1.csv"), "--currency", "EUR")
    assert (first["created"], first["previous_revision"], first["revision"]) == (True, None, 1)
    assert (first["item_count"], first["products_created"], first["units_created"]) == (4, 3, 4)
    assert counts(first["diff"]) == {"added": 4, "changed": 0, "discontinued": 0}

    second = cli.json("pricelist", "import", R, write(tmp_path, NEXT, "v2.csv"))
    assert (second["created"], second["previous_revision"], second["revision"]) == (False, 1, 2)
    assert (second["products_created"], second["units_created"], second["products_renamed"]) == (
        1,
        1,
        1,
    )
    assert second["diff"]["added"] == [
        {
            "sku": "OSS-VM",
            "unit": "monthly",
            "name": "Cloud server, 2 vCPU",
            "old_price": None,
            "new_price": "12.5",
        }
    ]
    assert second["diff"]["changed"] == [
        {
            "sku": "M365-BP",
            "unit": "monthly",
            "name": "Microsoft 365 Business Premium",
            "old_price": "20.60",
            "new_price": "21.00",
        }
    ]
    assert second["diff"]["discontinued"] == [
        {
            "sku": "M365-BP",
            "unit": "annual",
            "name": "Microsoft 365 Business Premium",
            "old_price": "247.20",
            "new_price": None,
        }
    ]

    before = dump(store)
    again = cli.json("pricelist", "import", R, write(tmp_path, NEXT, "v2-again.csv"))
    assert (again["previous_revision"], again["revision"]) == (2, None)
    assert counts(again["diff"]) == {"added": 0, "changed": 0, "discontinued": 0}
    assert dump(store) == before

    # 21.00 and 21.0 are the same price: no new revision for a different way of writing it.
    same = cli.json(
        "pricelist", "import", R, write(tmp_path, NEXT.replace("21.00", "21.0"), "v2-same.csv")
    )
    assert same["revision"] is None


def test_rename_only_import_renames_without_a_revision(store, cli, tmp_path):
    cli("pricelist", "import", R, write(tmp_path, BASE, "v1.csv"), "--currency", "EUR")
    renamed = cli.json(
        "pricelist",
        "import",
        R,
        write(
            tmp_path, BASE.replace("Acronis Cyber Backup", "ACRONIS CYBER BACKUP"), "v1-renamed.csv"
        ),
    )
    assert renamed["revision"] is None
    assert renamed["products_renamed"] == 1
    assert cli.json("product", "show", "ACR-BKP")["name"] == "ACRONIS CYBER BACKUP"


def test_discontinued_items_are_kept_and_older_revisions_readable(store, cli, tmp_path):
    cli("pricelist", "import", R, write(tmp_path, BASE, "v1.csv"), "--currency", "EUR")
    cli("pricelist", "import", R, write(tmp_path, NEXT, "v2.csv"))
    v1 = cli.json("pricelist", "show", R, "--revision", 1)
    assert [(i["sku"], i["unit"], i["price"]) for i in v1["items"]] == [
        ("ACR-BKP", "monthly", "0.1"),
        ("ACR-BKP-STO", "monthly", "0.05"),
        ("M365-BP", "annual", "247.20"),
        ("M365-BP", "monthly", "20.60"),
    ]
    assert (v1["revision"], v1["latest_revision"]) == (1, 2)
    product = cli.json("product", "show", "M365-BP")
    assert [u["unit"] for u in product["units"]] == ["annual", "monthly"]
    assert [(p["unit"], p["price"]) for p in product["price_lists"]] == [("monthly", "21.00")]
    diff = cli.json("pricelist", "diff", R, "--from", 2, "--to", 1)
    assert diff["counts"] == {"added": 1, "changed": 1, "discontinued": 1}


def test_dry_run_writes_nothing_and_reports_what_the_import_then_does(store, cli, tmp_path):
    cli("pricelist", "import", R, write(tmp_path, BASE, "v1.csv"), "--currency", "EUR")
    v2 = write(tmp_path, NEXT, "v2.csv")
    before = dump(store)
    dry = cli.json("pricelist", "import", R, v2, "--dry-run")
    assert dump(store) == before
    real = cli.json("pricelist", "import", R, v2)
    assert dry["dry_run"] is True and real["dry_run"] is False
    for key in (
        "created",
        "previous_revision",
        "revision",
        "item_count",
        "products_created",
        "diff",
    ):
        assert dry[key] == real[key], key
    assert real["revision"] == 2


def test_dry_run_of_a_new_price_list_writes_nothing(store, cli, tmp_path):
    before = dump(store)
    dry = cli.json(
        "pricelist", "import", R, write(tmp_path, BASE), "--currency", "EUR", "--dry-run"
    )
    assert dump(store) == before
    assert cli.json("pricelist", "list") == []
    assert (dry["created"], dry["revision"], dry["products_created"]) == (True, 1, 3)
    assert counts(dry["diff"]) == {"added": 4, "changed": 0, "discontinued": 0}


def test_dry_run_reports_the_units_and_renames_of_the_import(store, cli, tmp_path):
    cli("pricelist", "import", R, write(tmp_path, BASE, "v1.csv"), "--currency", "EUR")
    v2 = write(tmp_path, NEXT, "v2.csv")
    dry = cli.json("pricelist", "import", R, v2, "--dry-run")
    real = cli.json("pricelist", "import", R, v2)
    assert (
        (dry["units_created"], dry["products_renamed"])
        == (real["units_created"], real["products_renamed"])
        == (1, 1)
    )


def test_dry_run_refuses_what_the_import_refuses(store, cli, tmp_path):
    cli("pricelist", "import", R, write(tmp_path, BASE, "v1.csv"), "--currency", "EUR")
    bad = write(tmp_path, BASE.replace("acronis,monthly,0.1", "oss,monthly,0.1"), "bad.csv")
    cli("pricelist", "import", R, bad, expect=2)
    cli("pricelist", "import", R, bad, "--dry-run", expect=2)


def test_add_on_relations_are_created_and_kept_in_step(store, cli, tmp_path):
    # The add-on is listed before its parent: the order of the file does not matter.
    v1 = HEADER + (
        "SUITE-ADDON,Suite add-on,oss,monthly,2,SUITE,addon\n"
        "SUITE,Suite,oss,monthly,10,,\n"
        "OTHER,Other,oss,monthly,5,,\n"
    )
    cli("pricelist", "import", R, write(tmp_path, v1, "v1.csv"), "--currency", "EUR")
    addon = cli.json("product", "show", "SUITE-ADDON")
    assert (addon["add_on_of"], addon["type"]) == ("SUITE", "addon")
    assert cli.json("product", "show", "SUITE")["add_ons"] == ["SUITE-ADDON"]
    assert cli.json("product", "show", "SUITE")["type"] == "service"  # the default type

    # The add-on moves to another product ...
    cli(
        "pricelist",
        "import",
        R,
        write(tmp_path, v1.replace(",SUITE,addon", ",OTHER,addon"), "v2.csv"),
    )
    assert cli.json("product", "show", "SUITE-ADDON")["add_on_of"] == "OTHER"
    assert cli.json("product", "show", "SUITE")["add_ons"] == []
    assert cli.json("product", "show", "OTHER")["add_ons"] == ["SUITE-ADDON"]
    # ... and becomes a product of its own.
    cli("pricelist", "import", R, write(tmp_path, v1.replace(",SUITE,addon", ",,addon"), "v3.csv"))
    assert cli.json("product", "show", "SUITE-ADDON")["add_on_of"] is None
    assert {p["sku"]: p["add_on_of"] for p in cli.json("product", "list")} == {
        "OTHER": None,
        "SUITE": None,
        "SUITE-ADDON": None,
    }


# --- JSON shapes and not found ----------------------------------------------------------


def test_json_shapes(store, cli, tmp_path):
    cli("pricelist", "import", R, write(tmp_path, BASE, "v1.csv"), "--currency", "EUR")
    cli("pricelist", "import", R, write(tmp_path, NEXT, "v2.csv"))
    cli("pricelist", "import", "Retail USD", write(tmp_path, BASE, "usd.csv"), "--currency", "usd")

    lists = cli.json("pricelist", "list")
    assert [(p["name"], p["currency"], p["revision"], p["item_count"]) for p in lists] == [
        (R, "EUR", 2, 4),
        ("Retail USD", "USD", 1, 4),
    ]
    assert all(
        set(p) == {"name", "currency", "revision", "item_count", "created_at"} for p in lists
    )

    shown = cli.json("pricelist", "show", R)
    assert set(shown) == {"name", "currency", "revision", "latest_revision", "revisions", "items"}
    assert (shown["name"], shown["currency"], shown["revision"], shown["latest_revision"]) == (
        R,
        "EUR",
        2,
        2,
    )
    assert [(r["revision"], r["items"], r["source"]) for r in shown["revisions"]] == [
        (1, 4, "v1.csv"),
        (2, 4, "v2.csv"),
    ]
    assert all(
        set(r) == {"revision", "items", "source", "effective_date", "created_at"}
        for r in shown["revisions"]
    )
    assert shown["items"][0] == {
        "sku": "ACR-BKP",
        "name": "Acronis Cyber Backup",
        "platform": "acronis",
        "unit": "monthly",
        "price": "0.1",
    }

    diff = cli.json("pricelist", "diff", R, "--from", 1, "--to", 2)
    assert set(diff) == {"name", "from", "to", "added", "changed", "discontinued", "counts"}
    assert (diff["name"], diff["from"], diff["to"]) == (R, 1, 2)
    assert diff["counts"] == {"added": 1, "changed": 1, "discontinued": 1}
    assert diff["changed"] == [
        {
            "sku": "M365-BP",
            "unit": "monthly",
            "name": "Microsoft 365 Business Premium",
            "old_price": "20.60",
            "new_price": "21.00",
        }
    ]

    products = cli.json("product", "list")
    assert [p["sku"] for p in products] == ["ACR-BKP", "ACR-BKP-STO", "M365-BP", "OSS-VM"]
    assert products[2] == {
        "sku": "M365-BP",
        "name": "Microsoft 365 Business Premium",
        "platform": "microsoft",
        "type": "service",
        "status": "active",
        "add_on_of": None,
        "units": ["annual", "monthly"],
        "source_sku": None,
    }
    assert [p["sku"] for p in cli.json("product", "list", "--platform", "acronis")] == [
        "ACR-BKP",
        "ACR-BKP-STO",
    ]

    product = cli.json("product", "show", "ACR-BKP-STO")
    assert product == {
        # One catalogue per org: the last import (Retail USD, BASE) named the product.
        "sku": "ACR-BKP-STO",
        "name": "Acronis extra storage",
        "platform": "acronis",
        "type": "storage",
        "status": "active",
        "add_on_of": "ACR-BKP",
        "description": None,
        "category": None,
        "visible": True,
        "units": [{"unit": "monthly", "status": "active", "cost_price": None}],
        "add_ons": [],
        "price_lists": [
            {"price_list": R, "unit": "monthly", "price": "0.05", "currency": "EUR"},
            {"price_list": "Retail USD", "unit": "monthly", "price": "0.05", "currency": "USD"},
        ],
        "source_sku": None,
    }


@pytest.mark.parametrize(
    "args",
    [
        ["pricelist", "diff", R, "--from", "1", "--to", "3"],
        ["pricelist", "diff", R, "--from", "0", "--to", "1"],
        ["pricelist", "diff", "Nope", "--from", "1", "--to", "1"],
        ["pricelist", "show", R, "--revision", "3"],
        ["pricelist", "show", "Nope"],
        ["product", "show", "NOPE"],
    ],
    ids=[
        "diff-unknown-revision",
        "diff-revision-0",
        "diff-unknown-list",
        "show-unknown-revision",
        "show-unknown-list",
        "unknown-product",
    ],
)
def test_unknown_revision_list_or_product_exits_1(store, cli, tmp_path, args):
    cli("pricelist", "import", R, write(tmp_path, BASE), "--currency", "EUR")
    cli("pricelist", "import", R, write(tmp_path, NEXT, "v2.csv"))
    result = cli(*args, "--json", expect=1)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert re.search(r"revision 3|revision 0|'Nope'|'NOPE'", result.stderr)


# --- what a person reads ------------------------------------------------------------------

WIDE = {"COLUMNS": "120"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def human(result) -> str:
    return f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"


def test_import_output_snapshot(store, cli, tmp_path, snapshot):
    cli("pricelist", "import", R, write(tmp_path, BASE, "v1.csv"), "--currency", "EUR", env=WIDE)
    result = cli("pricelist", "import", R, write(tmp_path, NEXT, "v2.csv"), env=WIDE)
    snapshot.assert_match(human(result), "pricelist_import.txt")
    v3 = NEXT.replace("21.00", "22.00") + "".join(row(sku=f"NEW-{n}") for n in range(3))
    result = cli(
        "pricelist",
        "import",
        R,
        write(tmp_path, v3, "v3.csv"),
        "--show",
        "1",
        "--dry-run",
        env=WIDE,
    )
    snapshot.assert_match(human(result), "pricelist_import_dry_run_show_1.txt")


def test_pricelist_list_snapshot(store, cli, tmp_path, snapshot):
    cli("pricelist", "import", R, write(tmp_path, BASE, "v1.csv"), "--currency", "EUR")
    cli("pricelist", "import", R, write(tmp_path, NEXT, "v2.csv"))
    cli("pricelist", "import", "Retail USD", write(tmp_path, BASE, "usd.csv"), "--currency", "USD")
    result = cli("pricelist", "list", env=WIDE)
    # The creation time changes every run; its width does not.
    snapshot.assert_match(TIMESTAMP.sub("YYYY-MM-DD hh:mm:ss", human(result)), "pricelist_list.txt")


# --- concurrent imports (cron) ------------------------------------------------------------


def _import_rows(engine, name: str, skus: list[str]) -> None:
    rows = [PriceRow(sku, sku.lower(), "other", "monthly", Decimal("1.00")) for sku in skus]
    with write_session(engine) as session:
        import_price_list(session, root_org(session), name, rows, currency="EUR")


@pytest.mark.skipif(
    not PG_SERVER,
    reason="PostgreSQL only: on SQLite BEGIN IMMEDIATE "
    "serialises writers (set TENANTCTL_TEST_DATABASE_URL to run it)",
)
@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("Resellers", ["SHARED", "A"]), ("Retail", ["SHARED", "B"])),
        (("New list", ["A"]), ("New list", ["A"])),
    ],
    ids=["two-lists-one-new-sku", "same-new-list"],
)
def test_overlapping_imports_on_postgres_wait_for_each_other(store, engine, first, second):
    outcome: dict[str, BaseException | None] = {}

    def other_import():
        try:
            _import_rows(engine, *second)
            outcome["error"] = None
        except BaseException as exc:  # reported by the assert below
            outcome["error"] = exc

    rows = [PriceRow(sku, sku.lower(), "other", "monthly", Decimal("1.00")) for sku in first[1]]
    with write_session(engine) as session:
        import_price_list(session, root_org(session), first[0], rows, currency="EUR")
        thread = threading.Thread(target=other_import)
        thread.start()
        # Commit only once the other import waits on a lock (or has finished).
        with engine.connect() as watcher:
            for _ in range(300):
                waiting = watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'"
                    )
                ).scalar()
                if waiting or not thread.is_alive():
                    break
                time.sleep(0.05)
    thread.join(timeout=60)
    assert outcome == {"error": None}

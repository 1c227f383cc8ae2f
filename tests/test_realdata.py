"""Price-list imports on real catalogues (SPEC sections 1 and 6).

Three published versions of Google Cloud's Compute Engine prices and two of Microsoft's
licensing product table are imported through the CLI, one after the other, and every
count tenantctl reports is compared with the same count computed here from the raw files
with plain set arithmetic and Decimal comparison of the price texts. The Google files are
vendored in tests/data/gcp; the Microsoft table is optional (see tests/realdata.py).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from tenantctl.store.engine import open_engine, write_session
from tenantctl.store.models import Organisation, PriceListItem, Product
from tests.conftest import PG_SERVER, Cli, create_pg_database, drop_pg_database
from tests.realdata import (
    GCP_VERSIONS,
    MS_VERSIONS,
    gcp_prices,
    ms_missing_reason,
    ms_products,
    write_gcp_csv,
    write_ms_csv,
)

needs_ms_data = pytest.mark.skipif(
    ms_missing_reason() is not None, reason=ms_missing_reason() or "Microsoft data present"
)


def add_root(db_url: str) -> None:
    engine = open_engine(db_url)
    with write_session(engine) as session:
        session.add(Organisation(name="Distributor", kind="root", currency="EUR", country="GR"))
    engine.dispose()


@dataclass(frozen=True)
class Expected:
    """A diff computed from the raw data: the SKUs of each kind of change."""

    added: set[str]
    changed: set[str]
    discontinued: set[str]

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "discontinued": len(self.discontinued),
        }


def expected_diff(old: dict[str, str], new: dict[str, str]) -> Expected:
    """SKU -> price text, before and after; prices compared as Decimal of their text."""
    both = old.keys() & new.keys()
    return Expected(
        added=set(new) - set(old),
        changed={s for s in both if Decimal(old[s]) != Decimal(new[s])},
        discontinued=set(old) - set(new),
    )


def reported_skus(diff: dict) -> dict[str, set[str]]:
    return {kind: {c["sku"] for c in diff[kind]} for kind in ("added", "changed", "discontinued")}


def assert_diff(reported: dict, counts: dict, expected: Expected) -> None:
    assert counts == expected.counts()
    assert reported_skus(reported) == {
        "added": expected.added,
        "changed": expected.changed,
        "discontinued": expected.discontinued,
    }


# --- Google Cloud -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def gcp() -> dict[str, dict[str, str]]:
    """Each GCP version parsed once per session: SKU -> month price text."""
    return {version: gcp_prices(version) for version in GCP_VERSIONS}


@dataclass
class GcpRun:
    cli: Cli
    db_url: str
    files: dict[str, Path]
    imports: list[dict] = field(default_factory=list)
    reimport: dict | None = None


@pytest.fixture(scope="module")
def gcp_run(gcp, _template, tmp_path_factory) -> GcpRun:
    """One store that imported the three GCP versions in order, then the last one again.

    Module-scoped because the imports are the slow part; the tests below only read.
    """
    tmp = tmp_path_factory.mktemp("gcp")
    if PG_SERVER:
        db_url = create_pg_database(template=_template)
    else:
        shutil.copyfile(_template, tmp / "store.db")
        db_url = f"sqlite:///{tmp / 'store.db'}"
    try:
        add_root(db_url)
        run = GcpRun(
            Cli(db_url), db_url, {v: write_gcp_csv(v, tmp / f"gcp-{v}.csv") for v in GCP_VERSIONS}
        )
        for version in GCP_VERSIONS:
            run.imports.append(
                run.cli.json("pricelist", "import", "GCP", run.files[version], "--currency", "USD")
            )
        run.reimport = run.cli.json("pricelist", "import", "GCP", run.files[GCP_VERSIONS[-1]])
        yield run
    finally:
        if PG_SERVER:
            drop_pg_database(db_url)


def test_gcp_first_import_creates_every_item(gcp_run, gcp):
    first = gcp_run.imports[0]
    prices = gcp[GCP_VERSIONS[0]]
    assert first["created"] is True
    assert (first["previous_revision"], first["revision"]) == (None, 1)
    assert first["currency"] == "USD"
    assert first["item_count"] == len(prices)
    assert first["products_created"] == len(prices)
    assert first["units_created"] == len(prices)
    assert_diff(
        first["diff"], {k: len(v) for k, v in first["diff"].items()}, expected_diff({}, prices)
    )


@pytest.mark.parametrize("step", [1, 2], ids=["2025-04_to_2025-10", "2025-10_to_2026-03"])
def test_gcp_import_reports_the_real_diff(gcp_run, gcp, step):
    old, new = gcp[GCP_VERSIONS[step - 1]], gcp[GCP_VERSIONS[step]]
    result = gcp_run.imports[step]
    expected = expected_diff(old, new)
    assert (result["previous_revision"], result["revision"]) == (step, step + 1)
    assert result["created"] is False
    assert result["item_count"] == len(new)
    assert result["products_created"] == len(
        set(new) - set().union(*(gcp[v] for v in GCP_VERSIONS[:step]))
    )
    assert_diff(result["diff"], {k: len(v) for k, v in result["diff"].items()}, expected)
    # The real data has every kind of change between the first two versions.
    if step == 1:
        assert all(expected.counts().values())
    for change in result["diff"]["changed"]:
        assert change["old_price"] == old[change["sku"]]
        assert change["new_price"] == new[change["sku"]]


def test_gcp_every_stored_price_is_the_source_text_exactly(gcp_run, gcp):
    """Every item version in the store holds the price of the file it came from."""
    engine = open_engine(gcp_run.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    Product.sku,
                    PriceListItem.price,
                    PriceListItem.from_revision,
                    PriceListItem.to_revision,
                ).join(Product, Product.id == PriceListItem.product_id)
            ).all()
    finally:
        engine.dispose()
    by_revision = {n: gcp[v] for n, v in enumerate(GCP_VERSIONS, 1)}
    assert rows
    for sku, price, start, _end in rows:
        assert isinstance(price, Decimal)
        assert price == Decimal(by_revision[start][sku]), (sku, start)
    still_listed = {sku: price for sku, price, _, end in rows if end is None}
    last = gcp[GCP_VERSIONS[-1]]
    assert still_listed == {sku: Decimal(text) for sku, text in last.items()}


@pytest.mark.parametrize("revision", [1, 2, 3])
def test_gcp_every_revision_stays_readable(gcp_run, gcp, revision):
    shown = gcp_run.cli.json("pricelist", "show", "GCP", "--revision", revision)
    source = gcp[GCP_VERSIONS[revision - 1]]
    assert (shown["revision"], shown["latest_revision"]) == (revision, 3)
    assert [r["revision"] for r in shown["revisions"]] == [1, 2, 3]
    assert [r["items"] for r in shown["revisions"]] == [len(gcp[v]) for v in GCP_VERSIONS]
    # Exactly the text of the source: no float ever rounded a price on the way.
    assert {i["sku"]: i["price"] for i in shown["items"]} == source
    assert len(shown["items"]) == len(source)


def test_gcp_diff_between_first_and_last_revision(gcp_run, gcp):
    diff = gcp_run.cli.json("pricelist", "diff", "GCP", "--from", 1, "--to", 3)
    expected = expected_diff(gcp[GCP_VERSIONS[0]], gcp[GCP_VERSIONS[2]])
    assert (diff["from"], diff["to"]) == (1, 3)
    assert_diff(diff, diff["counts"], expected)


def test_gcp_reimporting_the_same_file_makes_no_revision(gcp_run):
    again = gcp_run.reimport
    assert again["revision"] is None
    assert again["previous_revision"] == 3
    assert {k: len(v) for k, v in again["diff"].items()} == {
        "added": 0,
        "changed": 0,
        "discontinued": 0,
    }
    assert (again["products_created"], again["units_created"], again["products_renamed"]) == (
        0,
        0,
        0,
    )
    [listed] = gcp_run.cli.json("pricelist", "list")
    assert listed["revision"] == 3


def test_gcp_discontinued_product_is_kept(gcp_run, gcp):
    removed = sorted(set(gcp[GCP_VERSIONS[0]]) - set(gcp[GCP_VERSIONS[1]]))
    assert removed, "the real data removes instance types between the first two versions"
    sku = removed[0]
    product = gcp_run.cli.json("product", "show", sku)
    assert product["sku"] == sku
    assert [u["unit"] for u in product["units"]] == ["monthly"]
    assert product["price_lists"] == []  # no longer listed ...
    first = gcp_run.cli.json("pricelist", "show", "GCP", "--revision", 1)
    # ... but revision 1 still lists it at its price.
    assert {i["sku"]: i["price"] for i in first["items"]}[sku] == gcp[GCP_VERSIONS[0]][sku]
    skus = {p["sku"] for p in gcp_run.cli.json("product", "list")}
    assert skus == set().union(*(gcp[v] for v in GCP_VERSIONS))


# --- Microsoft --------------------------------------------------------------------------


def ms_catalogue(version: str) -> dict[str, tuple[str, str]]:
    """SKU -> (name, price) of one Microsoft version, as an import must read them.

    A CSV value is read without its surrounding spaces, so `D365_SALES_PRO ` (2022) is the
    SKU `D365_SALES_PRO`.
    """
    products = ms_products(version)
    catalogue = {p.string_id.strip(): (p.name.strip(), p.price) for p in products}
    assert len(catalogue) == len(products), "two products of one version share a SKU"
    return catalogue


@pytest.fixture
def ms_files(tmp_path) -> dict[str, Path]:
    return {v: write_ms_csv(v, tmp_path / f"ms-{v}.csv") for v in MS_VERSIONS}


def renamed_skus(old: dict[str, tuple[str, str]], new: dict[str, tuple[str, str]]) -> set[str]:
    return {s for s in old.keys() & new.keys() if old[s][0] != new[s][0]}


@needs_ms_data
def test_ms_data_has_the_quirks_these_tests_are_about():
    old, new = (ms_catalogue(v) for v in MS_VERSIONS)
    raw_2022 = ms_products(MS_VERSIONS[0])
    assert len({p.guid for p in raw_2022}) < len(raw_2022)  # a GUID with two String_Ids
    assert any(p.string_id != p.string_id.strip() for p in raw_2022)
    case_only = {s for s in renamed_skus(old, new) if old[s][0].lower() == new[s][0].lower()}
    assert len(case_only) > 50
    assert any("," in name for name, _ in new.values())
    assert any(not name.isascii() for name, _ in new.values())


@needs_ms_data
def test_ms_imports_report_the_real_diff_and_renames(cli, db_url, ms_files):
    add_root(db_url)
    old, new = (ms_catalogue(v) for v in MS_VERSIONS)

    first = cli.json(
        "pricelist", "import", "Microsoft", ms_files[MS_VERSIONS[0]], "--currency", "EUR"
    )
    assert first["revision"] == 1
    assert first["item_count"] == first["products_created"] == len(old)

    second = cli.json("pricelist", "import", "Microsoft", ms_files[MS_VERSIONS[1]])
    expected = expected_diff(
        {s: p for s, (_, p) in old.items()}, {s: p for s, (_, p) in new.items()}
    )
    assert second["revision"] == 2
    assert second["item_count"] == len(new)
    assert second["products_created"] == len(expected.added)
    assert second["products_renamed"] == len(renamed_skus(old, new))
    assert_diff(second["diff"], {k: len(v) for k, v in second["diff"].items()}, expected)

    # Every product, renamed in letter case only or not, has the newest name.
    names = {p["sku"]: p["name"] for p in cli.json("product", "list")}
    assert {s: names[s] for s in new} == {s: name for s, (name, _) in new.items()}
    # The ones no longer listed keep their last name.
    assert {s: names[s] for s in expected.discontinued} == {
        s: old[s][0] for s in expected.discontinued
    }
    shown = cli.json("pricelist", "show", "Microsoft")
    assert {i["sku"]: (i["name"], i["price"]) for i in shown["items"]} == new
    assert {i["platform"] for i in shown["items"]} == {"microsoft"}


@needs_ms_data
def test_ms_going_back_to_the_old_version_is_the_reverse_diff(cli, db_url, ms_files):
    add_root(db_url)
    old, new = (ms_catalogue(v) for v in MS_VERSIONS)
    for version in MS_VERSIONS:
        cli.json("pricelist", "import", "Microsoft", ms_files[version], "--currency", "EUR")

    back = cli.json("pricelist", "import", "Microsoft", ms_files[MS_VERSIONS[0]])
    expected = expected_diff(
        {s: p for s, (_, p) in new.items()}, {s: p for s, (_, p) in old.items()}
    )
    assert back["revision"] == 3
    assert back["products_created"] == 0  # the discontinued products come back as they were
    assert back["products_renamed"] == len(renamed_skus(new, old))
    assert_diff(back["diff"], {k: len(v) for k, v in back["diff"].items()}, expected)
    revision_1 = cli.json("pricelist", "show", "Microsoft", "--revision", 1)
    revision_3 = cli.json("pricelist", "show", "Microsoft", "--revision", 3)
    assert (
        {i["sku"]: i["price"] for i in revision_3["items"]}
        == {i["sku"]: i["price"] for i in revision_1["items"]}
        == {s: p for s, (_, p) in old.items()}
    )

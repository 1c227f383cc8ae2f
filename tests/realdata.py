"""Turn real published data into price-list CSVs.

Nothing here goes through tenantctl: the tests compute what an import must report from
these plain dictionaries and compare it with what tenantctl says and stores.

- Google Cloud Compute Engine prices (`pricing-*.yml.gz`, vendored in `tests/data/gcp/`,
  Apache-2.0, source in its README.md): one SKU per instance type and region
  (`n2-standard-4@europe-west1`), unit `monthly`, price = the `month` price. YAML
  publishes the prices as floats; they are read as their TEXT (a loader whose float
  constructor returns the scalar as written) so no binary float ever touches them.
- Microsoft's licensing product table (`products-*.csv`): NOT vendored, because nothing we
  know of licenses its redistribution; the tests that use it run when
  TENANTCTL_TEST_MS_DATA names a folder holding it, and otherwise skip saying why. One
  row per product and service plan, so rows are grouped into products. The table has no
  prices: each product gets a made-up price derived from its GUID. Real quirks handled
  here: the files are Windows-1252 (not UTF-8), the 2022 header spells `String_ Id`, one
  GUID carries two String_Ids in 2022, some String_Ids and names end in a space, names
  contain commas and non-ASCII.
"""

from __future__ import annotations

import csv
import gzip
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

GCP_DIR = Path(__file__).resolve().parent / "data" / "gcp"
MS_DATA_VARIABLE = "TENANTCTL_TEST_MS_DATA"
GCP_VERSIONS = ("2025-04-27", "2025-10-09", "2026-03-25")
MS_VERSIONS = ("2022-01-25", "2023-08-08")
PRICE_COLUMNS = ("sku", "name", "platform", "unit", "price")

MS_SKIP_REASON = (
    f"optional data: Microsoft's licensing table is not vendored (its licence "
    f"is not known to allow it); set {MS_DATA_VARIABLE} to a folder holding "
    f"products-{MS_VERSIONS[0]}.csv and products-{MS_VERSIONS[1]}.csv to run it"
)


def ms_missing_reason() -> str | None:
    """Why the Microsoft tests cannot run here, or None when the table is present."""
    if not os.environ.get(MS_DATA_VARIABLE):
        return MS_SKIP_REASON
    missing = [
        f"products-{v}.csv" for v in MS_VERSIONS if not (ms_dir() / f"products-{v}.csv").is_file()
    ]
    if missing:  # asked for and not there: a mistake to report, not a reason to skip
        raise FileNotFoundError(f"{MS_DATA_VARIABLE}={ms_dir()}: no {', '.join(missing)}")
    return None


def ms_dir() -> Path:
    return Path(os.environ[MS_DATA_VARIABLE])


# --- Google Cloud -----------------------------------------------------------------------


class TextFloatLoader(yaml.CSafeLoader):
    """A YAML loader that keeps every float as the text it was written as."""


def _float_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


TextFloatLoader.add_constructor("tag:yaml.org,2002:float", _float_as_text)


@cache
def gcp_prices(version: str) -> dict[str, str]:
    """SKU (`TYPE@REGION`) -> the `month` price as written in the YAML of VERSION."""
    path = GCP_DIR / f"pricing-{version}.yml.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=TextFloatLoader)
    prices: dict[str, str] = {}
    for instance_type, spec in data["compute"]["instance"].items():
        for region, cost in (spec.get("cost") or {}).items():
            if "month" not in cost:
                continue
            month = cost["month"]
            if isinstance(month, bool) or not isinstance(month, str | int):
                raise TypeError(f"{path}: {instance_type}@{region}: month is {month!r}")
            prices[f"{instance_type}@{region}"] = str(month)  # an int's text is exact
    return prices


def write_gcp_csv(version: str, path: Path) -> Path:
    """The price list of one GCP version as a tenantctl price-list CSV at PATH."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PRICE_COLUMNS)
        for sku, price in gcp_prices(version).items():
            instance_type, region = sku.split("@")
            writer.writerow([sku, f"{instance_type} ({region})", "other", "monthly", price])
    return path


# --- Microsoft --------------------------------------------------------------------------


@dataclass(frozen=True)
class MsProduct:
    """One product of the Microsoft table, its values exactly as the file has them."""

    string_id: str
    name: str
    guid: str

    @property
    def price(self) -> str:
        """A made-up, deterministic monthly price from the GUID's first hex digits."""
        cents = int(self.guid[:5], 16) % 100_000
        return f"{cents // 100}.{cents % 100:02d}"


@cache
def ms_products(version: str) -> tuple[MsProduct, ...]:
    """The products of one version: its rows grouped by (GUID, String_Id), in file order.

    Grouping by GUID alone would lose a product: in 2022 one GUID carries two String_Ids.
    """
    path = ms_dir() / f"products-{version}.csv"
    # The published files are Windows-1252 (an en dash is byte 0x96), not UTF-8.
    with path.open(newline="", encoding="cp1252") as handle:
        reader = csv.reader(handle)
        header = [h.replace(" ", "") for h in next(reader)]  # 2022: "String_ Id"
        col = {name: header.index(name) for name in ("Product_Display_Name", "String_Id", "GUID")}
        products: dict[tuple[str, str], MsProduct] = {}
        for row in reader:
            product = MsProduct(
                row[col["String_Id"]], row[col["Product_Display_Name"]], row[col["GUID"]]
            )
            first = products.setdefault((product.guid, product.string_id), product)
            if first.name != product.name:
                raise ValueError(
                    f"{path}:{reader.line_num}: {product.string_id} has two "
                    f"names: {first.name!r} and {product.name!r}"
                )
    return tuple(products.values())


def write_ms_csv(version: str, path: Path) -> Path:
    """The products of one Microsoft version as a price-list CSV (values written as found,
    trailing spaces included: the importer is the one that must strip them)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PRICE_COLUMNS)
        for p in ms_products(version):
            writer.writerow([p.string_id, p.name, "microsoft", "monthly", p.price])
    return path

"""The benchmarks' catalogue: real Google Cloud Compute Engine prices (tests/data/gcp,
Apache-2.0, see its LICENSE), widened to three units per SKU to make a list of ~50k items.

One SKU per instance type and region (`n2-standard-4@europe-west1`), sold hourly (the
`hour` price), monthly (`month`) and annual (12 x `month`): 17,206 SKUs, 51,618 items.
Prices are read as the text the YAML publishes, never as binary floats.
"""

from __future__ import annotations

import csv
import gzip
from decimal import Decimal
from functools import cache
from pathlib import Path

import yaml

GCP_FILE = Path(__file__).resolve().parents[1] / "data" / "gcp" / "pricing-2026-03-25.yml.gz"
COLUMNS = ("sku", "name", "platform", "unit", "price")
_PLACES = Decimal("0.000000000001")  # tenantctl keeps at most 12 decimal places


class _TextFloats(yaml.CSafeLoader):
    """Floats stay the text they were written as."""


_TextFloats.add_constructor(
    "tag:yaml.org,2002:float", lambda loader, node: loader.construct_scalar(node)
)


def _price(text) -> Decimal:
    value = Decimal(str(text))
    return value.quantize(_PLACES) if value.as_tuple().exponent < -12 else value


@cache
def gcp_items() -> tuple[tuple[str, str, str, Decimal], ...]:
    """(sku, name, unit, price) of every widened item, in the file's order."""
    with gzip.open(GCP_FILE, "rt", encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_TextFloats)
    items = []
    for instance_type, spec in data["compute"]["instance"].items():
        for region, cost in (spec.get("cost") or {}).items():
            if "month" not in cost or "hour" not in cost:
                continue
            sku, name = f"{instance_type}@{region}", f"{instance_type} ({region})"
            month = _price(cost["month"])
            items += [
                (sku, name, "hourly", _price(cost["hour"])),
                (sku, name, "monthly", month),
                (sku, name, "annual", month * 12),
            ]
    return tuple(items)


def items(count: int | None) -> list[tuple[str, str, str, Decimal]]:
    """The first COUNT items (all with None), whole SKUs only."""
    every = gcp_items()
    return list(every if count is None else every[: count - count % 3])


def changed(
    rows: list[tuple[str, str, str, Decimal]], every: int = 100
) -> list[tuple[str, str, str, Decimal]]:
    """The same list with one price in EVERY changed (+1%): a 1% diff."""
    return [
        (s, n, u, (p * Decimal("1.01")).quantize(_PLACES).normalize() if i % every == 0 else p)
        for i, (s, n, u, p) in enumerate(rows)
    ]


def write_csv(rows, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for sku, name, unit, price in rows:
            writer.writerow([sku, name, "other", unit, format(price, "f")])
    return path

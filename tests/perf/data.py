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


# --- a lite reseller's book: customers and their subscriptions (`load`, `upgrade`) --------

LITE, LITE_PRICE_LIST = "LITE", "Resellers EUR"
# (sku, name, platform, type, {unit: cost price}, add-on of)
_PRODUCTS = (
    (
        "MS-M365-E3",
        "Microsoft 365 E3",
        "microsoft",
        "license",
        {"monthly": "33.60", "annual": "369.60"},
        None,
    ),
    (
        "MS-M365-BS",
        "Microsoft 365 Business Standard",
        "microsoft",
        "license",
        {"monthly": "11.70", "annual": "128.70"},
        None,
    ),
    (
        "MS-TEAMS-PHONE",
        "Microsoft Teams Phone Standard",
        "microsoft",
        "license",
        {"monthly": "7.48", "annual": "82.28"},
        "MS-M365-E3",
    ),
    (
        "MS-DEFENDER-O365-P1",
        "Microsoft Defender for Office 365 (Plan 1)",
        "microsoft",
        "license",
        {"monthly": "1.87", "annual": "20.57"},
        "MS-M365-BS",
    ),
    (
        "ACR-CPC-STD",
        "Acronis Cyber Protect Cloud Standard",
        "acronis",
        "service",
        {"monthly": "4.15", "annual": "45.65"},
        None,
    ),
    (
        "ACR-STORAGE-GB",
        "Acronis Hosted Storage (per GB)",
        "acronis",
        "service",
        {"monthly": "0.02"},
        "ACR-CPC-STD",
    ),
    (
        "OSS-WEB-PRO",
        "Web Hosting Pro (50 GB)",
        "oss",
        "hosting",
        {"monthly": "7.90", "annual": "86.90"},
        None,
    ),
)
# The subscriptions' products, each with the add-on it may carry (every other one does).
_SOLD = (
    ("MS-M365-E3", "MS-TEAMS-PHONE"),
    ("MS-M365-BS", "MS-DEFENDER-O365-P1"),
    ("ACR-CPC-STD", "ACR-STORAGE-GB"),
    ("OSS-WEB-PRO", None),
)


def lite_book(customers: int, subscriptions: int) -> str:
    """A data set (YAML) of a lite reseller LITE whose CUSTOMERS customers (a contact and a
    synced platform each) hold SUBSCRIPTIONS active subscriptions, half with an add-on, at
    the 'Resellers EUR' prices: what `upgrade subscriptions` copies into LITE's tenant."""
    out = [
        "organisation: {name: Cloudway Distribution S.A., currency: EUR, country: GR,"
        " timezone: Europe/Athens}",
        "products:",
    ]
    for sku, name, platform, kind, units, add_on_of in _PRODUCTS:
        extra = f", add_on_of: {add_on_of}" if add_on_of else ""
        out.append(
            f"  - {{sku: {sku}, name: '{name}', platform: {platform}, type: {kind},"
            f" units: [{', '.join(units)}]{extra}}}"
        )
    out += ["price_lists:", f"  - name: {LITE_PRICE_LIST}", "    currency: EUR", "    items:"]
    prices = {}
    for sku, _name, _platform, _kind, units, _add_on_of in _PRODUCTS:
        for unit, price in units.items():
            prices[sku, unit] = price
            out.append(f"      - {{sku: {sku}, unit: {unit}, price: {price}}}")
    out += [
        "accounts:",
        f"  - {{code: {LITE}, name: Lite Cloud Services IKE, kind: reseller,"
        f" ordering_enabled: true, country: GR,"
        f" pricing: {{price_list: {LITE_PRICE_LIST}, billing_day: 5}},"
        " sync: [{platform: microsoft, status: synced, external_id: MPN-1},"
        " {platform: acronis, status: synced, external_id: ACR-1},"
        " {platform: oss, status: synced, external_id: OSS-1}]}",
    ]
    for c in range(1, customers + 1):
        out.append(
            f"  - {{code: C{c:05d}, name: Customer {c:05d} S.A., bill_to: {LITE},"
            f" email: c{c}@example.com,"
            f" pricing: {{price_list: {LITE_PRICE_LIST}, billing_day: {1 + c % 28}}},"
            f" contacts: [{{name: Owner {c:05d}, email: owner{c}@example.com, role: owner}}],"
            f" sync: [{{platform: microsoft, status: synced, external_id: MS-{c:05d}}}]}}"
        )
    out.append("subscriptions:")
    for s in range(subscriptions):
        sku, add_on = _SOLD[s % len(_SOLD)]
        unit = "annual" if s % 3 == 0 else "monthly"
        quantity = 1 + s % 40
        add_ons = (
            f", add_ons: [{{sku: {add_on}, quantity: {quantity}}}]" if add_on and s % 2 == 0 else ""
        )
        out.append(
            f"  - {{code: S{s + 1:06d}, account: C{1 + s % customers:05d}, sku: {sku},"
            f" unit: {unit}, quantity: {quantity}, price: {prices[sku, unit]},"
            f" start_date: 2024-{1 + s % 12:02d}-01{add_ons}}}"
        )
    return "\n".join(out) + "\n"

"""Helpers of the real-data update tests (test_update_realdata.py) that the crash tests
share: a USD reseller on versions of the Google Cloud price files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.realdata import gcp_prices
from tests.update_world import (
    PASSWORD,
    Version,
)

CODE = "CLOUDUSA"
PL = "GCP Compute USD"
UNIT = "monthly"  # write_gcp_csv sells every SKU monthly
ENV = {"TENANTCTL_ADMIN_PASSWORD": PASSWORD}
# A distributor and one reseller billed in USD, the currency Google publishes in.
DATA_SET = f"""\
organisation:
  name: Cloudway Americas Inc.
  currency: USD
  country: US
  timezone: America/New_York
accounts:
  - code: {CODE}
    name: Cloud USA Reseller LLC
    kind: reseller
    ordering_enabled: true
    currency: USD
    country: US
"""


def gcp_version(version: str) -> Version:
    """The price list of one GCP version: (SKU, unit) -> Decimal of the price's text."""
    return Version({(sku, UNIT): Decimal(price) for sku, price in gcp_prices(version).items()})


def load_usd_reseller(cli, tmp_path: Path) -> None:
    path = tmp_path / "usd-distributor.yaml"
    path.write_text(DATA_SET, encoding="utf-8")
    cli("load", path)


def create_tenant(cli) -> dict:
    return cli.json(
        "tenant",
        "create",
        CODE,
        "--price-list",
        PL,
        "--admin-username",
        "admin",
        "--admin-email",
        "admin@cloudusa.example",
        env=ENV,
    )

"""Helpers of the loader tests (test_loader.py) that the fixture and scale tests share:
writing data sets, and dumping and counting what a store holds."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

import tenantctl.jobs.models  # noqa: F401  (the queue's tables)
from tenantctl.store.engine import open_engine
from tenantctl.store.models import load_all
from tests.conftest import PG_SERVER, Cli, create_pg_database, drop_pg_database

BASE = """\
organisation:
  name: Testway Distribution
  currency: EUR
  country: GR
  timezone: Europe/Athens
  date_format: DD/MM/YYYY
products:
  - sku: M365-E3
    name: Microsoft 365 E3
    platform: microsoft
    type: license
    units: [monthly, annual]
    category: Productivity
    description: Office apps and services
  - sku: TEAMS-PHONE
    name: Teams Phone
    platform: microsoft
    units: [monthly]
    add_on_of: M365-E3
  - sku: ACR-BACKUP
    name: Acronis Backup
    platform: acronis
    units: [monthly]
  - sku: ACR-STORAGE
    name: Acronis Storage (per GB)
    platform: acronis
    units: [monthly]
    add_on_of: ACR-BACKUP
price_lists:
  - name: Resellers EUR
    currency: EUR
    items:
      - {sku: M365-E3, unit: monthly, price: 20.60}
      - {sku: M365-E3, unit: annual, price: 226.60}
      - {sku: TEAMS-PHONE, unit: monthly, price: 7.48}
      - {sku: ACR-BACKUP, unit: monthly, price: 4.15}
      - {sku: ACR-STORAGE, unit: monthly, price: 0.1}
  - name: Empty EUR
    currency: EUR
    items: []
accounts:
  - code: RESELLER
    name: Reseller One
    kind: reseller
    accounting_number: EL123
    email: billing@reseller.example
    billing_address: |-
      Street 1
      Athens
    pricing:
      price_list: Resellers EUR
      billing_day: 5
      payment_method: direct-debit
      credit_limit: 1000.50
      invoicing_options: monthly
      separate_invoices: true
    contacts:
      - {name: Eleni, email: eleni@reseller.example, phone: '+30 210 1', role: owner}
      - {name: Nikos}
    sync:
      - {platform: oss, external_id: OSS-1}
      - {platform: acronis, status: pending}
  - code: CUST
    name: Customer One
    bill_to: RESELLER
    country: CY
    ordering_enabled: false
    pricing: {billing_day: 12}
subscriptions:
  - code: S1
    account: CUST
    sku: M365-E3
    unit: monthly
    quantity: 10
    price: 20.60
    start_date: 2024-01-15
    add_ons: [{sku: TEAMS-PHONE, quantity: 3}]
    characteristics: {tenant: cust.onmicrosoft.com, seats: [1, 2], ratio: 0.25}
  - code: S2
    account: CUST
    sku: ACR-BACKUP
    unit: monthly
    quantity: 2
    price: 0.1
    status: cancelled
    start_date: 2023-12-31
    auto_renew: false
    trial: true
assets:
  - code: A1
    account: CUST
    sku: M365-E3
    kind: software-subscription
    quantity: 1
    purchase_date: 2024-02-29
    characteristics: {term: P1Y}
"""


def dump_store(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table of the model, in primary-key order."""
    with engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in load_all().sorted_tables
        }


def counts(result: dict) -> dict[str, tuple[int, int, int]]:
    return {c["entity"]: (c["created"], c["updated"], c["unchanged"]) for c in result["counts"]}


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


class LoadedStore:
    """A store with a data set loaded (BASE unless told), shared by tests that must not
    change it: the tests of refused loads, and tests that only read.

    When one does change it (a bug), the store is made again, so that one test fails
    rather than every test after it.
    """

    def __init__(self, template, directory: Path, data_set: Path | None = None):
        self.template, self.directory = template, directory
        self.data_set = data_set or write(directory, "base.yaml", BASE)
        self.generation = 0
        self._make()

    def _make(self) -> None:
        self.generation += 1
        if PG_SERVER:
            self.db_url = create_pg_database(template=self.template)
        else:
            path = self.directory / f"store-{self.generation}.db"
            shutil.copyfile(self.template, path)
            self.db_url = f"sqlite:///{path}"
        self.cli = Cli(self.db_url)
        self.cli("load", self.data_set)
        self.engine = open_engine(self.db_url)
        self.before = dump_store(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        if PG_SERVER:
            drop_pg_database(self.db_url)

    def assert_refused(self, name: str, text: str) -> str:
        """Load TEXT as NAME: exit 2, nothing on stdout, store unchanged; returns stderr."""
        path = write(self.directory, name, text)
        result = self.cli("load", path, expect=None)
        changed = dump_store(self.engine) != self.before
        if changed:
            self.close()
            self._make()
        assert result.exit_code == 2, f"exit {result.exit_code}\n{result.stderr}"
        assert not changed, "a refused load changed the store"
        assert result.stdout == ""
        assert f"Error: {path}" in result.stderr
        return result.stderr

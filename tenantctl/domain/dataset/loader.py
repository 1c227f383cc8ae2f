"""Loading a checked data set into the store: check references, plan, write set-wise."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session

from tenantctl.domain.catalogue import (
    PriceListDiff,
    PriceRow,
    diff_items,
    ensure_products,
    latest_revision,
    listed_items,
    record_revision,
)
from tenantctl.domain.dataset.reading import DataSet, Entry, read_dataset
from tenantctl.errors import Refused
from tenantctl.store.bulk import chunks, ids_by, insert_batched, rows_in, update_by_id
from tenantctl.store.models import (
    Account,
    Asset,
    Contact,
    Organisation,
    PriceList,
    PriceListRevision,
    Product,
    ProductUnit,
    Subscription,
    SubscriptionAddon,
    SyncRecord,
    utcnow,
)
from tenantctl.words import plural

# a new root organisation: None means the file must give it
ORGANISATION_DEFAULTS = {
    "currency": None,
    "country": None,
    "language": "en",
    "timezone": "UTC",
    "date_format": "YYYY-MM-DD",
}

# --- the result --------------------------------------------------------------------------


@dataclass
class EntityCounts:
    """How many rows of one kind a load created, updated and left unchanged."""

    entity: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class LoadResult:
    """What loading a data set did (with dry_run: what it would do; nothing was written)."""

    file: str
    organisation: str
    dry_run: bool
    changed: bool
    counts: list[EntityCounts]
    revisions: dict[str, int]  # price list name -> the revision this load made


# --- loading into the store --------------------------------------------------------------


def load_dataset(
    session: Session, path: Path, *, dry_run: bool = False, replace_price_lists: bool = False
) -> LoadResult:
    """Load the data set at PATH into the store, idempotently by code, or change nothing.

    Everything is checked (the file, and its references against the file and the store)
    before anything is written; any problem raises BadInput listing every problem.
    With DRY_RUN the counts are those a load would report and nothing is written. A price
    list whose current revision was not made by a load (`pricelist import`, `set-price`)
    is not revised back to the file's items (Refused) unless REPLACE_PRICE_LISTS.
    """
    loader = _Loader(session, read_dataset(path))
    loader.replace_price_lists = replace_price_lists
    return loader.run(dry_run=dry_run)


@dataclass
class _Plan:
    """The rows one kind of entity needs: to create, to update (with store ids), unchanged."""

    create: list[Entry] = field(default_factory=list)
    update: list[tuple[Entry, int]] = field(default_factory=list)
    unchanged: int = 0

    def counts(self, entity: str) -> EntityCounts:
        return EntityCounts(entity, len(self.create), len(self.update), self.unchanged)


class _Loader:
    """One load: read the store's side, check references, plan, then write set-wise."""

    def __init__(self, session: Session, data: DataSet):
        self.session = session
        self.data = data
        self.problems = data.problems
        self.label = data.label
        self.org: Organisation | None = None
        self.org_id = -1
        # by code, first occurrences only: a duplicate is already a problem
        self.products = _first_by(data.products, "sku")
        self.price_lists = _first_by(data.price_lists, "name")
        self.accounts = _first_by(data.accounts, "code")
        self.subscriptions = _first_by(data.subscriptions, "code")
        self.assets = _first_by(data.assets, "code")
        # per price list name: the items listed in the store, the file's, and their diff
        self.store_items: dict[str, dict] = {}
        self.items_wanted: dict[str, dict[tuple[str, str], PriceRow]] = {}
        self.diffs: dict[str, PriceListDiff] = {}
        self.contacts_to_replace: set[str] = set()
        self.sync_to_replace: set[str] = set()
        self.add_ons_to_replace: set[str] = set()

    # -- the store's side --

    def _read_store(self) -> None:
        self.org = (
            self.session.execute(
                select(Organisation).where(Organisation.kind == "root").order_by(Organisation.id)
            )
            .scalars()
            .first()
        )
        if self.org is not None:
            self.org_id = self.org.id
        org_id = self.org_id  # -1 while there is no root yet: nothing to find
        p, u = Product.__table__, ProductUnit.__table__
        parent = p.alias("parent")
        self.store_products = {
            r.sku: r
            for r in self.session.execute(
                select(
                    p.c.id,
                    p.c.sku,
                    p.c.name,
                    p.c.platform,
                    p.c.product_type,
                    p.c.description,
                    p.c.category,
                    parent.c.sku.label("add_on_of"),
                )
                .select_from(p.outerjoin(parent, parent.c.id == p.c.add_on_of_id))
                .where(p.c.org_id == org_id)
            )
        }
        self.store_units: dict[str, set[str]] = {}
        for sku, unit in self.session.execute(
            select(p.c.sku, u.c.unit).join(p, p.c.id == u.c.product_id).where(u.c.org_id == org_id)
        ):
            self.store_units.setdefault(sku, set()).add(unit)
        pl = PriceList.__table__
        self.store_price_lists = {
            r.name: r
            for r in self.session.execute(
                select(pl.c.id, pl.c.name, pl.c.currency).where(pl.c.org_id == org_id)
            )
        }
        wanted = set(self.accounts)
        wanted.update(e.values["bill_to"] for e in self.data.accounts if e.get("bill_to"))
        wanted.update(
            e.values["account"]
            for e in (*self.data.subscriptions, *self.data.assets)
            if e.has("account")
        )
        a, pl = Account.__table__, PriceList.__table__
        bill_to = a.alias("bill_to")
        stmt = (
            select(a, bill_to.c.code.label("bill_to_code"), pl.c.name.label("price_list_name"))
            .select_from(
                a.outerjoin(bill_to, bill_to.c.id == a.c.bill_to_id).outerjoin(
                    pl, pl.c.id == a.c.price_list_id
                )
            )
            .where(a.c.org_id == org_id)
        )
        self.store_accounts = {r.code: r for r in rows_in(self.session, stmt, a.c.code, wanted)}
        s = Subscription.__table__
        stmt = (
            select(s, a.c.code.label("account_code"), p.c.sku.label("sku"))
            .join(a, a.c.id == s.c.account_id)
            .join(p, p.c.id == s.c.product_id)
            .where(s.c.org_id == org_id)
        )
        self.store_subscriptions = {
            r.code: r for r in rows_in(self.session, stmt, s.c.code, self.subscriptions)
        }
        t = Asset.__table__
        stmt = (
            select(t, a.c.code.label("account_code"), p.c.sku.label("sku"))
            .join(a, a.c.id == t.c.account_id)
            .join(p, p.c.id == t.c.product_id)
            .where(t.c.org_id == org_id)
        )
        self.store_assets = {r.code: r for r in rows_in(self.session, stmt, t.c.code, self.assets)}

    # -- what a code means, the file first and then the store --

    def product(self, sku: str) -> dict | None:
        """Platform, units and add-on parent of SKU as they will be after the load."""
        stored = self.store_products.get(sku)
        units = set(self.store_units.get(sku, ()))
        entry = self.products.get(sku)
        if entry is not None:
            # units are only ever added: one the file leaves out stays in the store
            units.update(unit for unit, _, _ in entry.get("units", []))
            return {
                "platform": entry.get("platform"),
                "units": units,
                "add_on_of": entry.get("add_on_of"),
                "name": entry.get("name"),
            }
        if stored is not None:
            return {
                "platform": stored.platform,
                "units": units,
                "add_on_of": stored.add_on_of,
                "name": stored.name,
            }
        return None

    def account(self, code: str) -> dict | None:
        """Kind, currency and billing day of account CODE as they will be after the load."""
        stored = self.store_accounts.get(code)
        entry = self.accounts.get(code)
        if entry is not None:
            return {
                "kind": entry.get("kind"),
                "currency": entry.get("currency"),
                "billing_day": entry.get("pricing.billing_day"),
                "managed": stored.managed_by_org_id if stored is not None else None,
            }
        if stored is not None:
            return {
                "kind": stored.kind,
                "currency": stored.currency,
                "billing_day": stored.billing_day,
                "managed": stored.managed_by_org_id,
            }
        return None

    def price_list_currency(self, name: str) -> str | None | bool:
        """The currency of price list NAME; False when there is no such list."""
        if name in self.price_lists:
            return self.price_lists[name].get("currency")
        if name in self.store_price_lists:
            return self.store_price_lists[name].currency
        return False

    # -- checks against file and store --

    def _check_organisation(self) -> None:
        """Fill in what the organisation leaves out: the store's values, or the defaults."""
        entry = self.data.organisation
        if entry is None:
            return
        if self.org is not None and entry.has("name") and entry.values["name"] != self.org.name:
            self.problems.at(
                entry,
                "name",
                f"the store's root organisation is {self.org.name!r}, not "
                f"{entry.values['name']!r}: a data set adds to the store's root "
                "organisation and must name it",
            )
        for key, default in ORGANISATION_DEFAULTS.items():
            if key not in entry.values or entry.values[key] is not None:
                continue  # a bad value (already a problem), or given
            if self.org is not None:
                entry.values[key] = getattr(self.org, key)
            elif default is not None:
                entry.values[key] = default
            else:
                del entry.values[key]
                self.problems.at(entry, key, "is required to create the root organisation")
        for account in self.data.accounts:
            for key in ("currency", "country"):
                # absent (None) takes the organisation's; a bad value is not in `values`
                if key in account.values and account.values[key] is None:
                    if entry.has(key):
                        account.values[key] = entry.values[key]
                    else:
                        del account.values[key]

    def _check_products(self) -> None:
        for entry in self.data.products:
            sku = entry.get("sku")
            stored = self.store_products.get(sku)
            if (
                stored is not None
                and entry.has("platform")
                and stored.platform != entry.values["platform"]
            ):
                self.problems.at(
                    entry,
                    "platform",
                    f"{sku} is a {stored.platform} product in the store; a "
                    "product's platform cannot change",
                )
            parent = entry.get("add_on_of")
            if parent is None or sku is None:
                continue
            if parent == sku:
                self.problems.at(entry, "add_on_of", "a product cannot be an add-on of itself")
            elif self.product(parent) is None:
                self.problems.at(
                    entry, "add_on_of", f"no product {parent!r} in the file or the store"
                )
            elif self._add_on_loop(sku):
                self.problems.at(
                    entry, "add_on_of", f"{sku} would be an add-on of itself through {parent}"
                )

    def _add_on_loop(self, sku: str) -> bool:
        seen = {sku}
        current = self.product(sku)
        while current is not None and current["add_on_of"] is not None:
            if current["add_on_of"] in seen:
                return True
            seen.add(current["add_on_of"])
            current = self.product(current["add_on_of"])
        return False

    def _check_sold_in(
        self, entry: Entry, sku_key: str = "sku", unit_key: str | None = "unit"
    ) -> dict | None:
        """The product ENTRY names, after checking it exists and is sold in its unit."""
        sku = entry.get(sku_key)
        if sku is None:
            return None
        product = self.product(sku)
        if product is None:
            self.problems.at(entry, sku_key, f"no product {sku!r} in the file or the store")
            return None
        unit = entry.get(unit_key) if unit_key else None
        if unit is not None and unit not in product["units"]:
            sold = ", ".join(sorted(product["units"])) or "no unit"
            self.problems.at(entry, unit_key, f"{sku} is not sold {unit} (it is sold {sold})")
        return product

    def _check_price_lists(self) -> None:
        for entry in self.data.price_lists:
            stored = self.store_price_lists.get(entry.get("name"))
            currency = entry.get("currency")
            if stored is not None and currency is not None and stored.currency != currency:
                self.problems.at(
                    entry,
                    "currency",
                    f"price list {stored.name!r} is in {stored.currency} in the "
                    "store; a price list's currency cannot change",
                )
            for item in entry.get("items", []):
                self._check_sold_in(item)
            if stored is None:
                continue
            listed = self.store_items[stored.name] = listed_items(self.session, stored.id)
            if "items" in entry.values and not entry.values["items"] and listed:
                self.problems.at(
                    entry,
                    "items",
                    f"price list {stored.name!r} has {plural(len(listed), 'item')} in the "
                    "store; a data set cannot empty it",
                )

    def _check_accounts(self) -> None:
        for entry in self.data.accounts:
            code = entry.get("code")
            name = entry.get("pricing.price_list")
            if name is not None:
                currency = self.price_list_currency(name)
                if currency is False:
                    self.problems.at(
                        entry,
                        "pricing.price_list",
                        f"no price list {name!r} in the file or the store",
                    )
                elif currency and entry.get("currency") and currency != entry.get("currency"):
                    self.problems.at(
                        entry,
                        "pricing.price_list",
                        f"price list {name!r} is in {currency} but the account "
                        f"is billed in {entry.get('currency')}",
                    )
            target = entry.get("bill_to")
            if target is not None and target != code:
                billed_to = self.account(target)
                if billed_to is None:
                    self.problems.at(
                        entry, "bill_to", f"no account {target!r} in the file or the store"
                    )
                elif billed_to["kind"] is not None and billed_to["kind"] != "reseller":
                    self.problems.at(
                        entry, "bill_to", f"{target} is a {billed_to['kind']}, not a reseller"
                    )
        self._check_account_changes()

    def _check_account_changes(self) -> None:
        """Changes the store's other rows forbid: currency under subscriptions, lost resellers."""
        recurrency, demoted = {}, {}
        for code, entry in self.accounts.items():
            stored = self.store_accounts.get(code)
            if stored is None:
                continue
            if entry.get("currency") not in (None, stored.currency):
                recurrency[stored.id] = (entry, stored)
            if stored.kind == "reseller" and entry.get("kind") == "customer":
                demoted[stored.id] = entry
        if recurrency:
            s = Subscription.__table__
            stmt = select(s.c.account_id, func.count()).group_by(s.c.account_id)
            for account_id, count in rows_in(self.session, stmt, s.c.account_id, recurrency):
                entry, stored = recurrency[account_id]
                self.problems.at(
                    entry,
                    "currency",
                    f"{stored.code} has {plural(count, 'subscription')} in "
                    f"{stored.currency}; an account's currency cannot change",
                )
        if demoted:
            a = Account.__table__
            stmt = select(a.c.bill_to_id, a.c.code).where(a.c.org_id == self.org_id)
            for bill_to_id, code in rows_in(self.session, stmt, a.c.bill_to_id, demoted):
                if code not in self.accounts:  # a file account gets its own bill_to checked
                    self.problems.at(
                        demoted[bill_to_id],
                        "kind",
                        f"account {code} in the store is billed to it, so it must stay a reseller",
                    )

    def _check_sales(self) -> None:
        for entry in (*self.data.subscriptions, *self.data.assets):
            code = entry.get("account")
            account = self.account(code) if code is not None else None
            if code is not None and account is None:
                self.problems.at(entry, "account", f"no account {code!r} in the file or the store")
            is_subscription = entry.path.startswith("subscriptions")
            product = self._check_sold_in(entry, unit_key="unit" if is_subscription else None)
            section = "subscription" if is_subscription else "asset"
            stored = (self.store_subscriptions if is_subscription else self.store_assets).get(
                entry.get("code")
            )
            if stored is not None:
                for key, before in (("account", stored.account_code), ("sku", stored.sku)):
                    if entry.get(key) not in (None, before):
                        self.problems.at(
                            entry,
                            key,
                            f"{section} {stored.code} is for {before} in the "
                            f"store; its {key} cannot change (cancel it and "
                            "add a new one)",
                        )
            if not is_subscription:
                continue
            currency = entry.get("currency")
            if (
                currency is not None
                and account is not None
                and account["currency"]
                and currency != account["currency"]
            ):
                self.problems.at(
                    entry,
                    "currency",
                    f"a subscription is in its account's currency: {code} is "
                    f"billed in {account['currency']}, not {currency}",
                )
            for add_on in entry.get("add_ons", []):
                child = self._check_sold_in(add_on, unit_key=None)
                if (
                    child is not None
                    and product is not None
                    and entry.has("sku")
                    and child["add_on_of"] != entry.values["sku"]
                ):
                    self.problems.at(
                        add_on,
                        "sku",
                        f"{add_on.values['sku']} is not an add-on of {entry.values['sku']}",
                    )

    # -- plans: what differs from the store --

    def _plan_organisation(self) -> str:
        entry = self.data.organisation
        wanted = {
            k: entry.values[k]
            for k in ("name", "currency", "country", "language", "timezone", "date_format")
        }
        self.org_wanted = wanted
        if self.org is None:
            return "created"
        if any(getattr(self.org, k) != v for k, v in wanted.items()):
            return "updated"
        return "unchanged"

    def _product_extra(self, entry: Entry) -> dict:
        return {
            "product_type": entry.values["type"],
            "description": entry.values["description"],
            "category": entry.values["category"],
        }

    def _plan_products(self) -> _Plan:
        plan = _Plan()
        for sku, entry in self.products.items():
            stored = self.store_products.get(sku)
            if stored is None:
                plan.create.append(entry)
                continue
            units = {unit for unit, _, _ in entry.values["units"]}
            same = (
                stored.name == entry.values["name"]
                and stored.add_on_of == entry.values["add_on_of"]
                and units <= self.store_units.get(sku, set())
                and {k: getattr(stored, k) for k in ("product_type", "description", "category")}
                == self._product_extra(entry)
            )
            if same:
                plan.unchanged += 1
            else:
                plan.update.append((entry, stored.id))
        return plan

    def _price_items(self, entry: Entry) -> dict[tuple[str, str], PriceRow]:
        items = {}
        for item in entry.values["items"]:
            sku, unit = item.values["sku"], item.values["unit"]
            product = self.product(sku)
            items[(sku, unit)] = PriceRow(
                sku,
                product["name"],
                product["platform"],
                unit,
                item.values["price"],
                line=item.line,
            )
        return items

    def _plan_price_lists(self) -> _Plan:
        plan = _Plan()
        for name, entry in self.price_lists.items():
            self.items_wanted[name] = self._price_items(entry)
            self.diffs[name] = diff_items(self.store_items.get(name, {}), self.items_wanted[name])
            stored = self.store_price_lists.get(name)
            if stored is None:
                plan.create.append(entry)
            elif not self.diffs[name].empty:
                plan.update.append((entry, stored.id))
            else:
                plan.unchanged += 1
        return plan

    def _account_wanted(self, entry: Entry) -> dict:
        v = entry.values
        return {
            "name": v["name"],
            "kind": v["kind"],
            "bill_to": v["bill_to"],
            "ordering_enabled": v["ordering_enabled"],
            "currency": v["currency"],
            "country": v["country"],
            "accounting_number": v["accounting_number"],
            "email": v["email"],
            "billing_address": v["billing_address"],
            "price_list": v["pricing.price_list"],
            "billing_day": v["pricing.billing_day"],
            "payment_method": v["pricing.payment_method"],
            "credit_limit": v["pricing.credit_limit"],
            "invoicing_options": v["pricing.invoicing_options"],
            "separate_invoices": v["pricing.separate_invoices"],
        }

    @staticmethod
    def _account_stored(row) -> dict:
        return {
            "name": row.name,
            "kind": row.kind,
            "bill_to": row.bill_to_code,
            "ordering_enabled": row.ordering_enabled,
            "currency": row.currency,
            "country": row.country,
            "accounting_number": row.accounting_number,
            "email": row.email,
            "billing_address": row.billing_address,
            "price_list": row.price_list_name,
            "billing_day": row.billing_day,
            "payment_method": row.payment_method,
            "credit_limit": row.credit_limit,
            "invoicing_options": row.invoicing_options,
            "separate_invoices": row.separate_invoices,
        }

    @staticmethod
    def _contacts_wanted(entry: Entry) -> list[tuple]:
        return [
            (c.values["name"], c.values["email"], c.values["phone"], c.values["role"])
            for c in entry.values["contacts"]
        ]

    @staticmethod
    def _sync_wanted(entry: Entry) -> list[tuple]:
        return sorted(
            (s.values["platform"], s.values["status"], s.values["external_id"])
            for s in entry.values["sync"]
        )

    def _plan_accounts(self) -> _Plan:
        plan = _Plan()
        stored_ids = {self.store_accounts[c].id for c in self.accounts if c in self.store_accounts}
        contacts: dict[int, list[tuple]] = {}
        c = Contact.__table__
        stmt = select(c.c.account_id, c.c.name, c.c.email, c.c.phone, c.c.role).order_by(c.c.id)
        for account_id, *values in rows_in(self.session, stmt, c.c.account_id, stored_ids):
            contacts.setdefault(account_id, []).append(tuple(values))
        syncs: dict[int, list[tuple]] = {}
        s = SyncRecord.__table__
        stmt = select(s.c.account_id, s.c.platform, s.c.status, s.c.external_id)
        for account_id, *values in rows_in(self.session, stmt, s.c.account_id, stored_ids):
            syncs.setdefault(account_id, []).append(tuple(values))
        for code, entry in self.accounts.items():
            stored = self.store_accounts.get(code)
            if stored is None:
                plan.create.append(entry)
                self.contacts_to_replace.add(code)
                self.sync_to_replace.add(code)
                continue
            same = self._account_wanted(entry) == self._account_stored(stored)
            if self._contacts_wanted(entry) != contacts.get(stored.id, []):
                self.contacts_to_replace.add(code)
                same = False
            if self._sync_wanted(entry) != sorted(syncs.get(stored.id, [])):
                self.sync_to_replace.add(code)
                same = False
            if same:
                plan.unchanged += 1
                continue
            plan.update.append((entry, stored.id))
            if stored.managed_by_org_id is not None:
                self.problems.at(
                    entry,
                    "code",
                    f"account {code} is managed by its tenant reseller (a "
                    "back-ordering record); change it in the tenant, not here",
                )
        return plan

    def _subscription_wanted(self, entry: Entry) -> dict:
        v = entry.values
        account = self.account(v["account"])
        return {
            "account": v["account"],
            "sku": v["sku"],
            "unit": v["unit"],
            "quantity": v["quantity"],
            "unit_price": v["price"],
            "currency": account["currency"],
            "status": v["status"],
            "start_date": v["start_date"],
            "auto_renew": v["auto_renew"],
            "paid": not v["trial"],
            "billing_day": account["billing_day"],
            "characteristics": v["characteristics"],
        }

    @staticmethod
    def _add_ons_wanted(entry: Entry) -> list[tuple]:
        return sorted((a.values["sku"], a.values["quantity"]) for a in entry.values["add_ons"])

    def _plan_sales(
        self,
        entries: dict[str, Entry],
        stored_rows: dict,
        wanted: Callable,
        what: str,
        add_ons: dict[int, list] | None = None,
    ) -> _Plan:
        """Plan subscriptions (with ADD_ONS, stored ones by subscription id) or assets."""
        plan = _Plan()
        for code, entry in entries.items():
            stored = stored_rows.get(code)
            if stored is None:
                plan.create.append(entry)
                if add_ons is not None:
                    self.add_ons_to_replace.add(code)
                same = False
            else:
                want = wanted(entry)
                # the stored row names its account and product by the joined codes
                same = all(
                    getattr(stored, "account_code" if key == "account" else key) == value
                    for key, value in want.items()
                )
                if add_ons is not None and self._add_ons_wanted(entry) != sorted(
                    add_ons.get(stored.id, [])
                ):
                    self.add_ons_to_replace.add(code)
                    same = False
                if same:
                    plan.unchanged += 1
                else:
                    plan.update.append((entry, stored.id))
            if not same and (self.account(entry.values["account"]) or {}).get("managed"):
                self.problems.at(
                    entry,
                    "account",
                    f"account {entry.values['account']} is managed by its tenant "
                    f"reseller: its {what}s are back-ordering records and change "
                    "only in the tenant",
                )
        return plan

    def _plan_subscriptions(self) -> _Plan:
        stored_ids = [r.id for r in self.store_subscriptions.values()]
        add_ons: dict[int, list] = {}
        sa, p = SubscriptionAddon.__table__, Product.__table__
        stmt = select(sa.c.subscription_id, p.c.sku, sa.c.quantity).join(
            p, p.c.id == sa.c.product_id
        )
        for subscription_id, sku, quantity in rows_in(
            self.session, stmt, sa.c.subscription_id, stored_ids
        ):
            add_ons.setdefault(subscription_id, []).append((sku, quantity))
        return self._plan_sales(
            self.subscriptions,
            self.store_subscriptions,
            self._subscription_wanted,
            "subscription",
            add_ons,
        )

    def _asset_wanted(self, entry: Entry) -> dict:
        v = entry.values
        return {
            "account": v["account"],
            "sku": v["sku"],
            "kind": v["kind"],
            "quantity": v["quantity"],
            "purchase_date": v["purchase_date"],
            "status": v["status"],
            "characteristics": v["characteristics"],
        }

    def _plan_assets(self) -> _Plan:
        return self._plan_sales(self.assets, self.store_assets, self._asset_wanted, "asset")

    # -- the whole load --

    def run(self, *, dry_run: bool) -> LoadResult:
        """Check everything, plan, and (unless DRY_RUN) write; BadInput lists every problem."""
        self._read_store()
        self._check_organisation()
        self._check_products()
        self._check_price_lists()
        self._check_accounts()
        self._check_sales()
        # plans compare complete entries only, so they wait for a file without problems
        self.problems.raise_if_any()
        org_state = self._plan_organisation()
        plans = {
            "products": self._plan_products(),
            "price lists": self._plan_price_lists(),
            "accounts": self._plan_accounts(),
            "subscriptions": self._plan_subscriptions(),
            "assets": self._plan_assets(),
        }
        self.problems.raise_if_any()  # the plans refuse changes to back-ordering records
        if not self.replace_price_lists:
            self._refuse_rolling_back_price_lists()
        counts = [EntityCounts("organisation", **{org_state: 1})]
        counts += [plan.counts(entity) for entity, plan in plans.items()]
        revisions = {}
        for name, diff in self.diffs.items():
            if not diff.empty:
                stored = self.store_price_lists.get(name)
                previous = latest_revision(self.session, stored.id) if stored else None
                revisions[name] = (previous or 0) + 1
        if not dry_run:
            self._write_organisation(org_state)
            self._write_products(plans["products"])
            revisions = self._write_price_lists(plans["price lists"])
            self._write_accounts(plans["accounts"])
            self._write_subscriptions(plans["subscriptions"])
            self._write_assets(plans["assets"])
        changed = any(c.created or c.updated for c in counts)
        return LoadResult(self.label, self.org_wanted["name"], dry_run, changed, counts, revisions)

    # -- writing --

    def _write_organisation(self, state: str) -> None:
        if state == "created":
            self.org = Organisation(kind="root", **self.org_wanted)
            self.session.add(self.org)
            self.session.flush()
        elif state == "updated":
            for key, value in self.org_wanted.items():
                setattr(self.org, key, value)
            self.session.flush()
        self.org_id = self.org.id

    def _write_products(self, plan: _Plan) -> None:
        changed = plan.create + [entry for entry, _ in plan.update]
        if changed:
            rows = [
                PriceRow(
                    e.values["sku"],
                    e.values["name"],
                    e.values["platform"],
                    unit,
                    Decimal(0),
                    e.values["add_on_of"],
                    e.values["type"],
                    e.line,
                )
                for e in changed
                for unit, _, _ in e.values["units"]
            ]
            ensure_products(self.session, self.org, rows, self.label)
        self.product_ids = ids_by(
            self.session, Product.__table__, "sku", self.org_id, self._skus_referenced()
        )
        # ensure_products keeps names, units and add-ons; the other fields are the loader's
        extra = []
        for entry in changed:
            stored = self.store_products.get(entry.values["sku"])
            before = (
                {k: getattr(stored, k) for k in ("product_type", "description", "category")}
                if stored is not None
                else {"product_type": entry.values["type"], "description": None, "category": None}
            )
            if before != self._product_extra(entry):
                extra.append(
                    {"id": self.product_ids[entry.values["sku"]], **self._product_extra(entry)}
                )
        update_by_id(self.session, Product.__table__, extra)

    def _skus_referenced(self) -> set[str]:
        skus = set(self.products)
        for items in self.items_wanted.values():
            skus.update(sku for sku, _ in items)
        for entry in (*self.data.subscriptions, *self.data.assets):
            skus.add(entry.values["sku"])
            skus.update(a.values["sku"] for a in entry.get("add_ons", []))
        return skus

    replace_price_lists = False

    def _refuse_rolling_back_price_lists(self) -> None:
        """A load would undo a newer revision made by `pricelist import` or `set-price`."""
        newer = []
        for name, diff in sorted(self.diffs.items()):
            stored = self.store_price_lists.get(name)
            if diff.empty or stored is None:
                continue
            source = self.session.execute(
                select(PriceListRevision.source)
                .where(PriceListRevision.price_list_id == stored.id)
                .order_by(PriceListRevision.number.desc())
                .limit(1)
            ).scalar()
            if source is not None and not source.endswith((".yaml", ".yml")):
                newer.append(f"{name!r} (its current revision came from {source})")
        if newer:
            raise Refused(
                f"{self.label}: loading it would revise back {', '.join(newer)}; "
                "nothing was loaded (--replace-price-lists replaces them with "
                "the file's)"
            )

    def _write_price_lists(self, plan: _Plan) -> dict[str, int]:
        revisions = {}
        created = [
            {
                "org_id": self.org_id,
                "name": e.values["name"],
                "currency": e.values["currency"],
                "created_at": utcnow(),
            }
            for e in plan.create
        ]
        insert_batched(self.session, PriceList.__table__, created)
        changed = [e for e in plan.create if not self.diffs[e.values["name"]].empty]
        changed += [e for e, _ in plan.update]
        if changed:
            lists = {
                pl.name: pl
                for pl in self.session.execute(
                    select(PriceList).where(
                        PriceList.org_id == self.org_id,
                        PriceList.name.in_([e.values["name"] for e in changed]),
                    )
                ).scalars()
            }
            for entry in changed:
                name = entry.values["name"]
                _, number, _ = record_revision(
                    self.session,
                    lists[name],
                    self.items_wanted[name],
                    self.product_ids,
                    source=Path(self.label).name,
                )
                if number is not None:
                    revisions[name] = number
        self.price_list_ids = ids_by(
            self.session,
            PriceList.__table__,
            "name",
            self.org_id,
            {
                e.values["pricing.price_list"]
                for e in self.data.accounts
                if e.values["pricing.price_list"]
            },
        )
        return revisions

    def _account_row(self, entry: Entry) -> dict:
        want = self._account_wanted(entry)
        price_list = want.pop("price_list")
        want.pop("bill_to")
        return {**want, "price_list_id": self.price_list_ids[price_list] if price_list else None}

    def _write_accounts(self, plan: _Plan) -> None:
        a = Account.__table__
        now = utcnow()
        insert_batched(
            self.session,
            a,
            [
                {
                    "org_id": self.org_id,
                    "code": e.values["code"],
                    "bill_to_id": None,
                    "created_at": now,
                    **self._account_row(e),
                }
                for e in plan.create
            ],
        )
        codes = set(self.accounts)
        codes.update(e.values["account"] for e in (*self.data.subscriptions, *self.data.assets))
        codes.update(e.values["bill_to"] for e in self.accounts.values() if e.values["bill_to"])
        self.account_ids = ids_by(self.session, a, "code", self.org_id, codes)

        def bill_to_id(entry: Entry) -> int | None:
            target = entry.values["bill_to"]
            return self.account_ids[target] if target else None

        # new accounts get their bill_to once every account of the file has an id
        update_by_id(
            self.session,
            a,
            [
                {"id": self.account_ids[e.values["code"]], "bill_to_id": bill_to_id(e)}
                for e in plan.create
                if e.values["bill_to"]
            ],
        )
        update_by_id(
            self.session,
            a,
            [
                {"id": account_id, "bill_to_id": bill_to_id(e), **self._account_row(e)}
                for e, account_id in plan.update
            ],
        )
        self._replace_children(
            Contact.__table__,
            self.contacts_to_replace,
            lambda e: [
                {"name": n, "email": m, "phone": p, "role": r}
                for n, m, p, r in self._contacts_wanted(e)
            ],
        )
        self._replace_children(
            SyncRecord.__table__,
            self.sync_to_replace,
            lambda e: [
                {"platform": p, "status": s, "external_id": x} for p, s, x in self._sync_wanted(e)
            ],
        )

    def _replace_children(self, table, codes: set[str], rows_of: Callable) -> None:
        ids = [self.account_ids[code] for code in codes]
        for chunk in chunks(ids):
            self.session.execute(delete(table).where(table.c.account_id.in_(chunk)))
        insert_batched(
            self.session,
            table,
            [
                {"account_id": self.account_ids[code], **row}
                for code in sorted(codes)
                for row in rows_of(self.accounts[code])
            ],
        )

    def _sale_row(self, want: dict) -> dict:
        """A subscription's or an asset's columns: what its entry wants, with the ids of
        its account and product for their codes."""
        return {
            **{k: v for k, v in want.items() if k not in ("account", "sku")},
            "account_id": self.account_ids[want["account"]],
            "product_id": self.product_ids[want["sku"]],
        }

    def _write_sales(self, table, plan: _Plan, row: Callable[[Entry], dict]) -> None:
        """Insert PLAN's new rows of TABLE (subscriptions or assets) and update its changed
        ones; ROW gives an entry's columns."""
        now = utcnow()
        insert_batched(
            self.session,
            table,
            [
                {"org_id": self.org_id, "code": e.values["code"], "created_at": now, **row(e)}
                for e in plan.create
            ],
        )
        update_by_id(self.session, table, [{"id": i, **row(e)} for e, i in plan.update])

    def _write_subscriptions(self, plan: _Plan) -> None:
        s = Subscription.__table__
        self._write_sales(s, plan, lambda e: self._sale_row(self._subscription_wanted(e)))
        entries = self.subscriptions
        ids = ids_by(self.session, s, "code", self.org_id, self.add_ons_to_replace)
        sa = SubscriptionAddon.__table__
        for chunk in chunks(list(ids.values())):
            self.session.execute(delete(sa).where(sa.c.subscription_id.in_(chunk)))
        insert_batched(
            self.session,
            sa,
            [
                {
                    "subscription_id": ids[code],
                    "product_id": self.product_ids[sku],
                    "quantity": quantity,
                }
                for code in sorted(self.add_ons_to_replace)
                for sku, quantity in self._add_ons_wanted(entries[code])
            ],
        )

    def _write_assets(self, plan: _Plan) -> None:
        self._write_sales(Asset.__table__, plan, lambda e: self._sale_row(self._asset_wanted(e)))


def _first_by(entries: Iterable[Entry], key: str) -> dict[Any, Entry]:
    first: dict[Any, Entry] = {}
    for entry in entries:
        if key in entry.values:
            first.setdefault(entry.values[key], entry)
    return first

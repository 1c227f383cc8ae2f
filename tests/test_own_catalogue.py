"""The reseller's own catalogue (SPEC section 9): inside a tenant (`--org`), and equally in
the root, `product create`, `pricelist create`, `pricelist import` and `pricelist
set-price` on the org's own price lists, `account create --price-list`; own products are
sold, changed and deleted, never mirrored up and never touched by `tenant update`; the
product policy still protects inherited products. And `subscription set` on a copied
subscription in the tenant and on its mirror in the parent.

The store is the live world (tests/backorder_world.py): LITECLOUD upgraded and live
(back-ordering on), ACME never lite.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tenantctl.domain import policy
from tenantctl.domain.policy import Rule
from tenantctl.store.engine import read_session
from tenantctl.store.models import BackorderEvent, Product, Subscription
from tests.conftest import table_counts

OWN = "LC-HELPDESK"
INHERITED = "MS-EXO-P1"  # on "Resellers EUR": every tenant of the world holds a copy
HEADER = "sku,name,platform,unit,price,add_on_of,type\n"


@pytest.fixture
def world(live_world):
    return live_world


def create_own(world, client_id: str | None, sku: str = OWN, *extra: str) -> dict:
    args = ["product", "create", sku, "--name", "Help desk", "--platform", "other"]
    args += ["--unit", "monthly=4.00", "--unit", "annual", *extra]
    if client_id is None:
        return world.cli.json(*args)
    return world.at_json(client_id, *args)


def own_list(world, client_id: str, name: str = "Own EUR", currency: str = "EUR") -> dict:
    return world.at_json(client_id, "pricelist", "create", name, "--currency", currency)


def product_rows(world, client_id: str) -> list[dict]:
    return world.at_json(client_id, "product", "list")


def events_of(world, client_id: str) -> int:
    tenant_id, _, _ = world.ids(client_id)
    engine = world.engine()
    try:
        with read_session(engine) as session:
            return session.execute(
                select(func.count())
                .select_from(BackorderEvent)
                .where(BackorderEvent.tenant_id == tenant_id)
            ).scalar_one()
    finally:
        engine.dispose()


def source_of(world, client_id: str, sku: str) -> int | None:
    """The store's `source_product_id` of the tenant's product SKU."""
    _, org_id, _ = world.ids(client_id)
    engine = world.engine()
    try:
        with read_session(engine) as session:
            return session.execute(
                select(Product.source_product_id).where(
                    Product.org_id == org_id, Product.sku == sku
                )
            ).scalar_one()
    finally:
        engine.dispose()


def write_csv(tmp_path, text: str, name: str = "own.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- product create ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["tenant", "root"])
def test_product_create_makes_an_own_product(world, where):
    client = world.lite if where == "tenant" else None
    parent = create_own(world, client, "OWN-BASE")
    created = create_own(
        world, client, OWN, "--type", "support", "--add-on-of", "OWN-BASE", "--unit", "one-time"
    )
    assert (created["sku"], created["name"], created["platform"], created["type"]) == (
        OWN,
        "Help desk",
        "other",
        "support",
    )
    assert created["add_on_of"] == "OWN-BASE" and created["source_sku"] is None
    assert [(u["unit"], u["status"], u["cost_price"]) for u in created["units"]] == [
        ("annual", "active", None),
        ("monthly", "active", "4.00"),
        ("one-time", "active", None),
    ]
    assert parent["add_ons"] == [] and created["price_lists"] == []
    show = ["product", "show", OWN]
    shown = world.at_json(client, *show) if client else world.cli.json(*show)
    assert shown == created
    if client:
        # A product of the tenant's own: no source, invisible from the root.
        assert source_of(world, client, OWN) is None
        world.cli("product", "show", OWN, expect=1)
        assert OWN in [p["sku"] for p in product_rows(world, client)]
    args = ["product", "create", "OWN-TEXT", "--name", "Text", "--platform", "oss"]
    args += ["--unit", "monthly"]
    text = world.at(client, *args) if client else world.cli(*args)
    assert text.stdout == ""
    assert "Created product OWN-TEXT (Text), sold monthly" in text.stderr


BAD_PRODUCT = [  # (options after the SKU, words of the error)
    (["--name", "X", "--platform", "other"], "Missing option '--unit'"),
    (["--name", "X", "--platform", "other", "--unit", "weekly"], "--unit: 'weekly' is not one of"),
    (["--name", "X", "--platform", "other", "--unit", "monthly=lots"], "--unit:"),
    (["--name", "X", "--platform", "other", "--unit", "monthly=-1"], "--unit:"),
    (["--name", "X", "--platform", "other", "--unit", "monthly="], "UNIT=COST"),
    (
        ["--name", "X", "--platform", "other", "--unit", "monthly", "--unit", "monthly=2"],
        "monthly is given twice",
    ),
    (["--name", " ", "--platform", "other", "--unit", "monthly"], "--name: is empty"),
    (["--name", "X" * 301, "--platform", "other", "--unit", "monthly"], "longer than 300"),
    (["--name", "X", "--platform", "nowhere", "--unit", "monthly"], "--platform"),
    (
        ["--name", "X", "--platform", "other", "--unit", "monthly", "--add-on-of", "NEW-1"],
        "add-on of itself",
    ),
]


@pytest.mark.parametrize(
    ("options", "words"), BAD_PRODUCT, ids=[w.split(":")[0] for _, w in BAD_PRODUCT]
)
def test_product_create_bad_input_exits_2_and_creates_nothing(world, options, words):
    before = table_counts(world.db_url)
    result = world.at(world.lite, "product", "create", "NEW-1", *options, expect=2)
    assert words in result.stderr and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert table_counts(world.db_url) == before


def test_product_create_refuses_a_sku_in_use_and_an_unknown_add_on_parent(world):
    before = table_counts(world.db_url)
    taken = world.at(
        world.lite,
        "product",
        "create",
        INHERITED,
        "--name",
        "Mine",
        "--platform",
        "microsoft",
        "--unit",
        "monthly",
        expect=1,
    )
    assert f"product {INHERITED} already exists" in taken.stderr
    unknown = world.at(
        world.lite,
        "product",
        "create",
        "NEW-1",
        "--name",
        "X",
        "--platform",
        "other",
        "--unit",
        "monthly",
        "--add-on-of",
        "NO-SUCH",
        expect=1,
    )
    assert "--add-on-of" in unknown.stderr and "NO-SUCH" in unknown.stderr
    assert table_counts(world.db_url) == before


# --- pricelist create and set-price ------------------------------------------------------


def test_pricelist_create_in_any_currency_then_set_price(world):
    create_own(world, world.lite)
    created = own_list(world, world.lite, "Own USD", "usd")
    assert (created["name"], created["currency"], created["revision"], created["item_count"]) == (
        "Own USD",
        "USD",
        None,
        0,
    )
    names = [p["name"] for p in world.at_json(world.lite, "pricelist", "list")]
    assert "Own USD" in names
    assert "Own USD" not in [p["name"] for p in world.cli.json("pricelist", "list")]
    price = world.at_json(
        world.lite, "pricelist", "set-price", "Own USD", OWN, "--unit", "monthly", "12.00"
    )
    assert (price["revision"], price["price"], price["currency"]) == (1, "12.00", "USD")
    # An inherited product may be priced in the tenant's own list (the policy allows it).
    world.at_json(
        world.lite, "pricelist", "set-price", "Own USD", INHERITED, "--unit", "monthly", "5"
    )
    shown = world.at_json(world.lite, "pricelist", "show", "Own USD")
    assert [(i["sku"], i["unit"], Decimal(i["price"])) for i in shown["items"]] == [
        (OWN, "monthly", Decimal("12.00")),
        (INHERITED, "monthly", Decimal("5")),
    ]
    # In the root as well.
    root = world.cli.json("pricelist", "create", "Direct GBP", "--currency", "GBP")
    assert (root["name"], root["currency"]) == ("Direct GBP", "GBP")


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["Own EUR", "--currency", "XYZ"], 2, "--currency"),
        (["Own EUR", "--currency", "EURO"], 2, "--currency"),
        (["  ", "--currency", "EUR"], 2, "NAME: is empty"),
        (["Retail EUR", "--currency", "EUR"], 1, "already exists"),
    ],
)
def test_pricelist_create_refuses_bad_input_and_a_name_in_use(world, args, code, words):
    before = table_counts(world.db_url)
    result = world.at(world.lite, "pricelist", "create", *args, expect=code)
    assert words in result.stderr
    assert table_counts(world.db_url) == before


# --- pricelist import inside a tenant ----------------------------------------------------


def test_import_inside_a_tenant_creates_own_products_and_prices_inherited_ones(world, tmp_path):
    root_before = world.cli.json("pricelist", "show", "Resellers EUR")
    root_products = world.cli.json("product", "list")
    inherited_before = world.at_json(world.lite, "product", "show", INHERITED)
    csv = write_csv(
        tmp_path,
        HEADER
        + "LC-BACKUP,Backup service,other,monthly,9.50,,service\n"
        + "LC-BACKUP,Backup service,other,annual,99.00,,service\n"
        + "LC-BACKUP-EXTRA,Extra storage,other,monthly,2.00,LC-BACKUP,storage\n"
        + f"{INHERITED},{inherited_before['name']},microsoft,monthly,4.90,,\n",
    )
    dry = world.at_json(
        world.lite, "pricelist", "import", "Own EUR", str(csv), "--currency", "EUR", "--dry-run"
    )
    assert dry["dry_run"] is True and dry["revision"] == 1
    world.at(world.lite, "pricelist", "show", "Own EUR", expect=1)  # nothing was written

    result = world.at_json(
        world.lite, "pricelist", "import", "Own EUR", str(csv), "--currency", "EUR"
    )
    assert (result["created"], result["revision"], result["item_count"]) == (True, 1, 4)
    assert (result["products_created"], result["units_created"]) == (2, 3)
    assert result["products_renamed"] == 0
    for sku in ("LC-BACKUP", "LC-BACKUP-EXTRA"):
        assert source_of(world, world.lite, sku) is None
    extra = world.at_json(world.lite, "product", "show", "LC-BACKUP-EXTRA")
    assert (extra["add_on_of"], extra["type"]) == ("LC-BACKUP", "storage")
    # The inherited product is priced in the tenant's own list and otherwise as it was.
    after = world.at_json(world.lite, "product", "show", INHERITED)
    assert {k: v for k, v in after.items() if k != "price_lists"} == {
        k: v for k, v in inherited_before.items() if k != "price_lists"
    }
    assert {"price_list": "Own EUR", "unit": "monthly", "price": "4.90", "currency": "EUR"} in (
        after["price_lists"]
    )
    # The same file again: no new revision. A changed file: only the differences.
    again = world.at_json(world.lite, "pricelist", "import", "Own EUR", str(csv))
    assert again["revision"] is None and again["previous_revision"] == 1
    csv.write_text(
        HEADER
        + "LC-BACKUP,Backup service plus,other,monthly,10.50,,service\n"
        + f"{INHERITED},{inherited_before['name']},microsoft,monthly,4.90,,\n",
        encoding="utf-8",
    )
    second = world.at_json(world.lite, "pricelist", "import", "Own EUR", str(csv))
    assert second["revision"] == 2 and second["products_renamed"] == 1
    assert second["diff"]["changed"] == [
        {
            "sku": "LC-BACKUP",
            "unit": "monthly",
            "name": "Backup service plus",
            "old_price": "9.50",
            "new_price": "10.50",
        }
    ]
    assert {(c["sku"], c["unit"]) for c in second["diff"]["discontinued"]} == {
        ("LC-BACKUP", "annual"),
        ("LC-BACKUP-EXTRA", "monthly"),
    }
    # The root saw none of it.
    assert world.cli.json("pricelist", "show", "Resellers EUR") == root_before
    assert world.cli.json("product", "list") == root_products


BAD_CSV = [  # (file text, the file:line: field the error names)
    ("sku,name,platform,unit\nLC-1,One,other,monthly\n", "own.csv:1: header: missing column"),
    (HEADER + "LC-1,One,other,monthly,lots,,\n", "own.csv:2: price:"),
    (HEADER + "LC-1,One,other,monthly,1.00,,\nLC-2,Two,nowhere,monthly,1.00,,\n", "own.csv:3:"),
    (HEADER + "LC-1,One,other,weekly,1.00,,\n", "own.csv:2: unit:"),
    (HEADER + "LC-1,One,other,monthly,1.00,,\nLC-1,One,other,monthly,2.00,,\n", "listed twice"),
    (HEADER + "LC-1,One,other,monthly,1.00,NOPE,\n", "own.csv:2: add_on_of:"),
    # An inherited SKU keeps its platform.
    (HEADER + f"{INHERITED},Exchange,other,monthly,1.00,,\n", "own.csv:2: platform:"),
    (b"sku,name,platform,unit,price\nLC-1,Caf\xe9,other,monthly,1.00\n", "own.csv:2: encoding"),
]


@pytest.mark.parametrize(("text", "words"), BAD_CSV, ids=[w for _, w in BAD_CSV])
def test_import_bad_csv_inside_a_tenant_exits_2_and_leaves_the_store_untouched(
    world, tmp_path, text, words
):
    path = tmp_path / "own.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    own_list(world, world.lite)
    before = table_counts(world.db_url)
    products = product_rows(world, world.lite)
    result = world.at(world.lite, "pricelist", "import", "Own EUR", str(path), expect=2)
    assert words in result.stderr and result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert table_counts(world.db_url) == before
    assert product_rows(world, world.lite) == products


def test_import_names_each_refused_change_to_an_inherited_product(world, tmp_path):
    create_own(world, world.lite)
    before = table_counts(world.db_url)
    inherited = world.at_json(world.lite, "product", "show", INHERITED)
    csv = write_csv(
        tmp_path,
        HEADER
        + f"{OWN},Help desk,other,monthly,9.00,,\n"
        + f"{INHERITED},{inherited['name']},microsoft,quarterly,4.00,{OWN},\n"
        + f"{INHERITED},{inherited['name']},microsoft,monthly,4.00,{OWN},\n",
    )
    result = world.at(
        world.lite, "pricelist", "import", "Own EUR", str(csv), "--currency", "EUR", expect=1
    )
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "Error: own.csv: 2 changes to inherited products refused; nothing was imported"
    )
    assert lines[1].strip() == (
        f"own.csv:3: add_on_of: product {INHERITED}: changing its add_on_of is refused by "
        "the product policy (rule 'add_on_of' in config/policy.yaml: "
        f"{policy.rules()['add_on_of'].reason})"
    )
    assert (
        lines[2]
        .strip()
        .startswith(f"own.csv:3: unit: product {INHERITED}: changing its units is refused")
    )
    assert table_counts(world.db_url) == before
    assert world.at_json(world.lite, "product", "show", INHERITED) == inherited


def test_a_stricter_policy_stops_renaming_and_repricing_inherited_products(
    world, tmp_path, monkeypatch
):
    """Names and sell prices are allowed by config/policy.yaml; a policy that forbids them
    is obeyed by the import and by set-price (the tenant's own products stay free)."""
    strict = {
        **policy.rules(),
        "name": Rule("name", False, "names are the parent's"),
        "sell_price": Rule("sell_price", False, "prices are the parent's"),
    }
    monkeypatch.setattr(policy, "rules", lambda: strict)
    create_own(world, world.lite)
    own_list(world, world.lite)
    before = table_counts(world.db_url)
    inherited = world.at_json(world.lite, "product", "show", INHERITED)
    csv = write_csv(tmp_path, HEADER + f"{INHERITED},Our Exchange,microsoft,monthly,4.00,,\n")
    result = world.at(world.lite, "pricelist", "import", "Own EUR", str(csv), expect=1)
    assert "own.csv:2: name: product MS-EXO-P1: changing its name is refused" in result.stderr
    assert "own.csv:2: price: product MS-EXO-P1: setting its sell price is refused" in (
        result.stderr
    )
    priced = world.at(
        world.lite,
        "pricelist",
        "set-price",
        "Own EUR",
        INHERITED,
        "--unit",
        "monthly",
        "4",
        expect=1,
    )
    assert "rule 'sell_price'" in priced.stderr and "prices are the parent's" in priced.stderr
    assert table_counts(world.db_url) == before
    assert world.at_json(world.lite, "product", "show", INHERITED) == inherited
    # The tenant's own product: renamed and priced freely.
    csv.write_text(HEADER + f"{OWN},Help desk 24/7,other,monthly,9.00,,\n", encoding="utf-8")
    done = world.at_json(world.lite, "pricelist", "import", "Own EUR", str(csv))
    assert done["revision"] == 1 and done["products_renamed"] == 1


# --- accounts priced from an own list ----------------------------------------------------


def test_account_create_with_a_price_list_can_buy_at_once(world):
    create_own(world, world.lite)
    own_list(world, world.lite)
    world.at(world.lite, "pricelist", "set-price", "Own EUR", OWN, "--unit", "monthly", "15.00")
    account = world.at_json(
        world.lite, "account", "create", "BUYER", "--name", "Buyer", "--price-list", "Own EUR"
    )
    assert account["price_list"] == "Own EUR"
    sub = world.at_json(
        world.lite, "subscription", "create", "BUYER", OWN, "--unit", "monthly", "--quantity", "2"
    )
    assert (sub["price"], sub["orders"][0]["total"]) == ("15.00", "30.00")
    # account set --price-list moves it to another list.
    own_list(world, world.lite, "Own EUR 2")
    world.at(world.lite, "pricelist", "set-price", "Own EUR 2", OWN, "--unit", "monthly", "14")
    changed = world.at_json(world.lite, "account", "set", "BUYER", "--price-list", "Own EUR 2")
    assert changed["price_list"] == "Own EUR 2" and changed["changed"] == ["price_list"]
    # In the root as well.
    root = world.cli.json(
        "account", "create", "DIRECT", "--name", "Direct", "--price-list", "Resellers EUR"
    )
    assert root["price_list"] == "Resellers EUR"


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--price-list", "No such list"], 1, "price list 'No such list' not found"),
        (["--price-list", "Own USD"], 2, "'Own USD' is in USD, but account BUYER is billed in EUR"),
        (["--price-list", "Own USD", "--currency", "nope"], 2, "--currency"),
    ],
)
def test_account_create_refuses_a_wrong_price_list_and_creates_nothing(world, args, code, words):
    own_list(world, world.lite, "Own USD", "USD")
    before = table_counts(world.db_url)
    result = world.at(
        world.lite, "account", "create", "BUYER", "--name", "Buyer", *args, expect=code
    )
    assert words in result.stderr
    assert table_counts(world.db_url) == before


# --- selling, changing and deleting an own product ---------------------------------------


def test_a_sale_of_an_own_product_is_never_mirrored_even_with_back_ordering_on(world):
    assert world.cli.json("backorder", "status", "LITECLOUD")["state"] == "on"
    create_own(world, world.lite)
    own_list(world, world.lite)
    world.at(world.lite, "pricelist", "set-price", "Own EUR", OWN, "--unit", "monthly", "20.00")
    world.at(world.lite, "pricelist", "set-price", "Own EUR", OWN, "--unit", "annual", "200.00")
    events, orders = events_of(world, world.lite), world.cli.json("order", "list")
    world.at(
        world.lite, "account", "create", "OWNCO", "--name", "Own Co", "--price-list", "Own EUR"
    )
    sub = world.at_json(
        world.lite, "subscription", "create", "OWNCO", OWN, "--unit", "monthly", "--quantity", "3"
    )
    assert sub["paid"] is True and sub["orders"][0]["total"] == "60.00"
    world.at_json(world.lite, "subscription", "update", sub["code"], "--quantity", "5")
    world.at_json(world.lite, "subscription", "set", sub["code"], "--price", "18.00")
    world.at_json(world.lite, "subscription", "cancel", sub["code"])
    world.at_json(
        world.lite, "subscription", "create", "OWNCO", OWN, "--unit", "annual", "--quantity", "1"
    )
    # Nothing reached the parent: no event, no customer, no mirror, no order.
    assert events_of(world, world.lite) == events
    assert world.root_account("OWNCO") is None
    assert world.cli.json("order", "list") == orders
    engine = world.engine()
    try:
        with read_session(engine) as session:
            _, org_id, root_id = world.ids(world.lite)
            own_subs = (
                select(Subscription.id)
                .join(Product)
                .where(Subscription.org_id == org_id, Product.sku == OWN)
            )
            assert len(session.execute(own_subs).all()) == 2
            mirrored = session.execute(
                select(func.count())
                .select_from(Subscription)
                .where(Subscription.source_subscription_id.in_(own_subs))
            ).scalar_one()
            assert mirrored == 0
    finally:
        engine.dispose()
    world.cli("reconcile", "LITECLOUD")  # exit 0: the parent misses nothing


def test_an_own_add_on_of_an_inherited_subscription_stays_in_the_tenant(world):
    create_own(world, world.lite, "LC-ARCHIVE", "--add-on-of", INHERITED)
    world.at(
        world.lite, "pricelist", "set-price", "Retail EUR", "LC-ARCHIVE", "--unit", "monthly", "2"
    )
    world.at(
        world.lite, "account", "create", "MIXCO", "--name", "Mix Co", "--price-list", "Retail EUR"
    )
    sub = world.at_json(
        world.lite,
        "subscription",
        "create",
        "MIXCO",
        INHERITED,
        "--unit",
        "monthly",
        "--quantity",
        "2",
        "--add-on",
        "LC-ARCHIVE=4",
    )
    assert [a["sku"] for a in sub["add_ons"]] == ["LC-ARCHIVE"]
    mirror = [s for s in world.cli.json("subscription", "list", "--account", "MIXCO")]
    assert len(mirror) == 1 and mirror[0]["sku"] == INHERITED and mirror[0]["add_ons"] == []
    world.cli("reconcile", "LITECLOUD")


def test_own_product_changed_then_deleted_through_the_cli(world):
    create_own(world, world.lite)
    changed = world.at_json(
        world.lite,
        "product",
        "set",
        OWN,
        "--name",
        "Help desk, 24/7",
        "--new-sku",
        "LC-HELP-247",
        "--remove-unit",
        "annual",
        "--purchase-price",
        "monthly=4.50",
    )
    assert (changed["sku"], changed["name"]) == ("LC-HELP-247", "Help desk, 24/7")
    assert [(u["unit"], u["status"], u["cost_price"]) for u in changed["units"]] == [
        ("annual", "discontinued", None),
        ("monthly", "active", "4.50"),
    ]
    gone = world.at_json(world.lite, "product", "delete", "LC-HELP-247")
    assert gone == {"sku": "LC-HELP-247", "deleted": True}
    world.at(world.lite, "product", "show", "LC-HELP-247", expect=1)
    assert "LC-HELP-247" not in [p["sku"] for p in product_rows(world, world.lite)]


# --- tenant update -----------------------------------------------------------------------


def test_tenant_update_never_touches_own_products(world):
    """A catalogue update with every flag (sell prices, names) brings the inherited
    products in step and leaves the tenant's own products, their units, add-on link and
    prices exactly as they were."""
    create_own(world, world.acme, "ACME-CARE", "--add-on-of", INHERITED)
    create_own(world, world.acme, "ACME-SETUP")
    own_list(world, world.acme)
    for name in ("Own EUR", "Retail EUR"):
        for sku in ("ACME-CARE", "ACME-SETUP"):
            world.at(world.acme, "pricelist", "set-price", name, sku, "--unit", "monthly", "7.00")
    before = {
        sku: world.at_json(world.acme, "product", "show", sku)
        for sku in ("ACME-CARE", "ACME-SETUP")
    }
    own_before = world.at_json(world.acme, "pricelist", "show", "Own EUR")["items"]
    # The root changes a price and a name of the parent product the own add-on hangs on.
    world.cli("pricelist", "set-price", "Resellers EUR", INHERITED, "--unit", "monthly", "3.99")
    world.cli("product", "set", INHERITED, "--name", "Exchange Online Plan 1 (new name)")
    out = world.cli.json("tenant", "update", "ACME", "--sell-prices", "--names")
    (outcome,) = out["tenants"]
    assert outcome["status"] == "succeeded", outcome
    touched = {c["sku"] for c in world.cli.json("tenant", "log", "ACME")}
    assert INHERITED in touched and not touched & {"ACME-CARE", "ACME-SETUP"}
    inherited = world.at_json(world.acme, "product", "show", INHERITED)
    assert inherited["name"] == "Exchange Online Plan 1 (new name)"
    assert "ACME-CARE" in inherited["add_ons"]
    for sku, shown in before.items():
        assert world.at_json(world.acme, "product", "show", sku) == shown
    assert world.at_json(world.acme, "pricelist", "show", "Own EUR")["items"] == own_before


# --- subscription set on copied subscriptions and their mirrors --------------------------


def test_subscription_set_amends_a_copied_subscription_and_only_the_billing_day_of_its_mirror(
    world,
):
    (copied, *_) = world.at_json(
        world.lite, "subscription", "list", "--account", "LC-ATHENS-DENTAL"
    )
    _, org_id, root_id = world.ids(world.lite)
    engine = world.engine()
    try:
        with read_session(engine) as session:
            # Copied down at the upgrade: the root's subscription it came from is its mirror.
            source = select(Subscription.source_subscription_id).where(
                Subscription.org_id == org_id, Subscription.code == copied["code"]
            )
            mirror_code = session.execute(
                select(Subscription.code).where(
                    Subscription.org_id == root_id, Subscription.id == source.scalar_subquery()
                )
            ).scalar_one()
    finally:
        engine.dispose()
    mirror = world.cli.json("subscription", "show", mirror_code)
    new_price = str(Decimal(copied["price"]) + Decimal("1.25"))
    amended = world.at_json(
        world.lite,
        "subscription",
        "set",
        copied["code"],
        "--price",
        new_price,
        "--billing-day",
        "15",
    )
    assert (Decimal(amended["price"]), amended["billing_day"]) == (Decimal(new_price), 15)
    assert amended["orders"] == []
    # What the parent bills is unchanged.
    assert world.cli.json("subscription", "show", mirror_code) == mirror
    # In the parent only the mirror's billing day may change.
    refused = world.cli("subscription", "set", mirror_code, "--price", "1.00", expect=1)
    assert "only its billing day" in refused.stderr
    assert world.cli.json("subscription", "show", mirror_code) == mirror
    day = world.cli.json("subscription", "set", mirror_code, "--billing-day", "20")
    assert day["billing_day"] == 20 and day["price"] == mirror["price"]
    assert world.at_json(world.lite, "subscription", "show", copied["code"])["billing_day"] == 15
    bad = world.at(
        world.lite, "subscription", "set", copied["code"], "--billing-day", "31", expect=2
    )
    assert "--billing-day" in bad.stderr


def test_a_parent_product_added_with_a_sku_the_reseller_uses_is_reported_not_copied(world):
    """The reseller made OTH-SUPPORT-PREM its own before the root listed a product with
    that SKU: the update copies every other new product, keeps the reseller's product as it
    is, and reports (and logs) the clash instead of failing on the SKU."""
    from tests.conftest import FIXTURES

    create_own(world, world.acme, "OTH-SUPPORT-PREM")
    world.cli("pricelist", "import", "Resellers EUR", str(FIXTURES / "resellers-eur-v2.csv"))
    dry = world.cli.json("tenant", "update", "ACME", "--dry-run")["tenants"][0]
    assert ("sku-in-use", "OTH-SUPPORT-PREM") in {(c["change"], c["sku"]) for c in dry["changes"]}
    (outcome,) = world.cli.json("tenant", "update", "ACME")["tenants"]
    assert outcome["status"] == "succeeded", outcome
    assert outcome["counts"]["sku-in-use"] == 1 and outcome["counts"]["added"] >= 1
    own = world.at_json(world.acme, "product", "show", "OTH-SUPPORT-PREM")
    assert (own["name"], own["source_sku"]) == ("Help desk", None)
    assert {u["unit"]: u["cost_price"] for u in own["units"]} == {"monthly": "4.00", "annual": None}
    # The other new products of the revision were copied.
    assert world.at_json(world.acme, "product", "show", "PANDA-WG-EDR")["units"]
    log = world.cli.json("tenant", "log", "ACME")
    assert [(e["change"], e["unit"]) for e in log if e["sku"] == "OTH-SUPPORT-PREM"] == [
        ("sku-in-use", "monthly")
    ]
    (again,) = world.cli.json("tenant", "update", "ACME")["tenants"]
    assert again["status"] == "up-to-date"

"""One home for each field rule (issue 10 item 1; issue 11 items 4 to 6): the same bad value
is refused with the same words by every entry point that reads it: the data-set loader,
the price-list CSV import, `account create | set`, `tenant create`, `product set`,
`pricelist set-price` and the sales commands. Each refusal exits 2 and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import table_counts

ORG = "Cloudway Distribution S.A."
PASSWORD = {"TENANTCTL_ADMIN_PASSWORD": "Sturdy-Passphrase-2024"}


def _yaml(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"organisation:\n  name: {ORG}\n" + body, encoding="utf-8")
    return path


def _csv(folder: Path, name: str, row: str) -> Path:
    path = folder / f"{name}.csv"
    path.write_text("sku,name,platform,unit,price\n" + row + "\n", encoding="utf-8")
    return path


def _account(**values: str) -> str:
    fields = {"code": "NEW-1", "name": "New customer", **values}
    return "accounts:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items()) + "\n"


def _subscription(**values: str) -> str:
    fields = {
        "code": "S-NEW-1",
        "account": "LC-OLIVE-TRADE",
        "sku": "MS-M365-E3",
        "unit": "monthly",
        "quantity": "1",
        "price": "20.60",
        "start_date": "2024-01-15",
        **values,
    }
    return "subscriptions:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items()) + "\n"


SUB = ["subscription", "create", "LC-OLIVE-TRADE", "MS-M365-E3", "--unit", "monthly"]
TENANT = ["tenant", "create", "ACME", "--price-list", "Resellers EUR", "--admin-username", "admin"]

# (name, the reason every entry point gives, entry points: (what, args or a file maker,
# the field or option named before the reason))
CASES = [
    (
        "code",
        "'AC ME/1' is not a code: 1-64 letters, digits, dots, dashes or underscores, "
        "starting with a letter or digit",
        [
            ("load", lambda d: _yaml(d, "code", _account(code="AC ME/1")), "accounts[0].code"),
            ("cli", ["account", "create", "AC ME/1", "--name", "X"], "CODE"),
        ],
    ),
    (
        "email",
        "'someone-at-example.com' is not an e-mail address",
        [
            (
                "load",
                lambda d: _yaml(d, "email", _account(email="someone-at-example.com")),
                "accounts[0].email",
            ),
            (
                "load",
                lambda d: _yaml(
                    d, "contact", _account(contacts="[{name: N, email: someone-at-example.com}]")
                ),
                "accounts[0].contacts[0].email",
            ),
            (
                "cli",
                ["account", "create", "NEW-1", "--name", "X", "--email", "someone-at-example.com"],
                "--email",
            ),
            ("cli", ["account", "set", "ACME", "--email", "someone-at-example.com"], "--email"),
            (
                "cli",
                ["account", "set", "ACME", "--add-contact", "N <someone-at-example.com>"],
                "--add-contact",
            ),
            ("cli", [*TENANT, "--admin-email", "someone-at-example.com"], "--admin-email"),
        ],
    ),
    (
        "amount-underscore",
        "'1_5' is not a number written with the digits 0-9 and at most "
        "one decimal point (such as 20.60)",
        [
            (
                "load",
                lambda d: _yaml(d, "price", _subscription(price="1_5")),
                "subscriptions[0].price",
            ),
            (
                "load",
                lambda d: _yaml(d, "credit", _account(pricing="{credit_limit: 1_5}")),
                "accounts[0].pricing.credit_limit",
            ),
            ("csv", lambda d: _csv(d, "price", "NEW,New,other,monthly,1_5"), "price"),
            (
                "cli",
                [
                    "pricelist",
                    "set-price",
                    "Resellers EUR",
                    "MS-M365-E3",
                    "1_5",
                    "--unit",
                    "monthly",
                ],
                "PRICE",
            ),
            ("cli", ["account", "set", "ACME", "--credit-limit", "1_5"], "--credit-limit"),
            (
                "cli",
                ["product", "set", "MS-M365-E3", "--purchase-price", "monthly=1_5"],
                "--purchase-price",
            ),
        ],
    ),
    (
        "amount-full-width",
        "'\uff11\uff12' is not a number written with the digits 0-9 and at "
        "most one decimal point (such as 20.60)",
        [
            (
                "load",
                lambda d: _yaml(d, "wide", _subscription(price="\uff11\uff12")),
                "subscriptions[0].price",
            ),
            ("csv", lambda d: _csv(d, "wide", "NEW,New,other,monthly,\uff11\uff12"), "price"),
            (
                "cli",
                [
                    "pricelist",
                    "set-price",
                    "Resellers EUR",
                    "MS-M365-E3",
                    "\uff11\uff12",
                    "--unit",
                    "monthly",
                ],
                "PRICE",
            ),
            ("cli", ["account", "set", "ACME", "--credit-limit", "\uff11\uff12"], "--credit-limit"),
        ],
    ),
    (
        "quantity",
        "3000000000 is not a quantity from 1 to 1000000000",
        [
            (
                "load",
                lambda d: _yaml(d, "quantity", _subscription(quantity="3000000000")),
                "subscriptions[0].quantity",
            ),
            ("cli", [*SUB, "--quantity", "3000000000"], "--quantity"),
            ("cli", [*SUB, "--quantity", "1", "--add-on", "MS-TEAMS-PHONE=3000000000"], "--add-on"),
            (
                "cli",
                [
                    "asset",
                    "create",
                    "LC-OLIVE-TRADE",
                    "MS-AZURE-RI-D2SV5",
                    "--kind",
                    "azure-reservation",
                    "--quantity",
                    "3000000000",
                ],
                "--quantity",
            ),
        ],
    ),
    (
        "quantity-digits",
        "must be a quantity from 1 to 1000000000, not the text '\uff11\uff12'",
        [
            (
                "load",
                lambda d: _yaml(d, "wide-quantity", _subscription(quantity="\uff11\uff12")),
                "subscriptions[0].quantity",
            ),
            ("cli", [*SUB, "--quantity", "\uff11\uff12"], "--quantity"),
            (
                "cli",
                [*SUB, "--quantity", "1", "--add-on", "MS-TEAMS-PHONE=\uff11\uff12"],
                "--add-on",
            ),
            (
                "cli",
                [
                    "asset",
                    "create",
                    "LC-OLIVE-TRADE",
                    "MS-AZURE-RI-D2SV5",
                    "--kind",
                    "azure-reservation",
                    "--quantity",
                    "\uff11\uff12",
                ],
                "--quantity",
            ),
        ],
    ),
    (
        "billing-day-digits",
        "must be a billing day from 1 to 28, not the text '1_0'",
        [
            (
                "load",
                lambda d: _yaml(d, "day-digits", _account(pricing="{billing_day: '1_0'}")),
                "accounts[0].pricing.billing_day",
            ),
            ("cli", ["account", "set", "ACME", "--billing-day", "1_0"], "--billing-day"),
        ],
    ),
    (
        "control-character",
        "'Acme\\x1b[31m Ltd' holds the control character '\\x1b'",
        [
            (
                "load",
                lambda d: _yaml(d, "escape", _account(name='"Acme\\e[31m Ltd"')),
                "accounts[0].name",
            ),
            ("csv", lambda d: _csv(d, "escape", "NEW,Acme\x1b[31m Ltd,other,monthly,1"), "name"),
            ("cli", ["account", "create", "NEW-1", "--name", "Acme\x1b[31m Ltd"], "--name"),
            ("cli", ["account", "set", "ACME", "--name", "Acme\x1b[31m Ltd"], "--name"),
            ("cli", ["product", "set", "MS-M365-E3", "--name", "Acme\x1b[31m Ltd"], "--name"),
        ],
    ),
    (
        "date",
        "'2024-13-01' is not a day of the calendar (month must be in 1..12)",
        [
            (
                "load",
                lambda d: _yaml(d, "date", _subscription(start_date="2024-13-01")),
                "subscriptions[0].start_date",
            ),
            ("cli", [*SUB, "--quantity", "1", "--start", "2024-13-01"], "--start"),
            (
                "cli",
                [
                    "asset",
                    "create",
                    "LC-OLIVE-TRADE",
                    "MS-AZURE-RI-D2SV5",
                    "--kind",
                    "azure-reservation",
                    "--quantity",
                    "1",
                    "--purchase-date",
                    "2024-13-01",
                ],
                "--purchase-date",
            ),
            (
                "csv-effective",
                lambda d: _csv(d, "effective", "NEW,New,other,monthly,1"),
                "--effective",
            ),
            ("cli", ["tenant", "update", "--all", "--as-of", "2024-13-01"], "--as-of"),
        ],
    ),
    (
        "billing-day",
        "31 is not a billing day from 1 to 28",
        [
            (
                "load",
                lambda d: _yaml(d, "day", _account(pricing="{billing_day: 31}")),
                "accounts[0].pricing.billing_day",
            ),
            ("cli", ["account", "set", "ACME", "--billing-day", "31"], "--billing-day"),
        ],
    ),
    (
        "time-zone",
        "'Mars/Olympus' is not a time zone (such as Europe/Athens)",
        [
            (
                "load",
                lambda d: _yaml(d, "zone", "  timezone: Mars/Olympus\n"),
                "organisation.timezone",
            ),
            (
                "cli",
                [*TENANT, "--admin-email", "a@example.com", "--timezone", "Mars/Olympus"],
                "--timezone",
            ),
        ],
    ),
    (
        "currency",
        "'EURO' is not an ISO 4217 currency code",
        [
            (
                "load",
                lambda d: _yaml(d, "currency", _account(currency="EURO")),
                "accounts[0].currency",
            ),
            (
                "csv-currency",
                lambda d: _csv(d, "currency", "NEW,New,other,monthly,1"),
                "--currency",
            ),
            (
                "cli",
                ["account", "create", "NEW-1", "--name", "X", "--currency", "EURO"],
                "--currency",
            ),
        ],
    ),
]


@pytest.mark.parametrize(
    ("reason", "entry_points"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_entry_point_refuses_a_bad_value_in_the_same_words(
    distributor_store, reason, entry_points
):
    before = table_counts(distributor_store.db_url)
    for kind, what, where in entry_points:
        if kind == "load":
            args = ["load", what(distributor_store.folder)]
        elif kind == "csv":
            args = ["pricelist", "import", "Resellers EUR", what(distributor_store.folder)]
        elif kind == "csv-effective":
            args = [
                "pricelist",
                "import",
                "Resellers EUR",
                what(distributor_store.folder),
                "--effective",
                "2024-13-01",
            ]
        elif kind == "csv-currency":
            args = [
                "pricelist",
                "import",
                "New list",
                what(distributor_store.folder),
                "--currency",
                "EURO",
            ]
        else:
            args = what
        result = distributor_store(*args, env=PASSWORD, expect=None)
        shown = " ".join(map(str, args))
        assert result.exit_code == 2, f"{shown}: exit {result.exit_code}\n{result.stderr}"
        assert result.stdout == ""
        assert result.stderr.startswith("Error: ")
        assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
        lines = [line.strip() for line in result.stderr.splitlines()]
        assert any(line.endswith(f"{where}: {reason}") for line in lines), (
            f"{shown}: expected '{where}: {reason}' in\n{result.stderr}"
        )
    assert table_counts(distributor_store.db_url) == before


def test_the_control_characters_are_unicodes_categories_cc_and_cs():
    """check_controls refuses exactly the characters of categories Cc and Cs (a note may
    hold a line break and a tab), naming the first, for every code point."""
    import unicodedata

    from tenantctl.domain import fields

    for cp in range(0x110000):
        char = chr(cp)
        for note in (False, True):
            refused = unicodedata.category(char) in ("Cc", "Cs") and not (note and char in "\n\t")
            try:
                fields.check_controls(f"a{char}b{char}", note=note)
            except ValueError as exc:
                assert refused, (hex(cp), note)
                assert (
                    str(exc) == f"{'a' + char + 'b' + char!r} holds the control character {char!r}"
                )
            else:
                assert not refused, (hex(cp), note)


def test_the_language_codes_are_pycountrys_iso_639_1_codes():
    """`tenant create --language` checks a written-out set (issue 13: pycountry's look-up
    loads every ISO 639-3 language); it stays the set pycountry knows."""
    import pycountry

    from tenantctl.domain.languages import ISO_639_1

    known = {lang.alpha_2.lower() for lang in pycountry.languages if hasattr(lang, "alpha_2")}
    assert known == ISO_639_1

"""Passwords (issue 11 items 11 and 12): argon2id with OWASP's parameters, a weaker stored
hash replaced at the next successful login, and a password that is not text refused."""

from __future__ import annotations

import base64
import hashlib

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from tenantctl.domain.users import hash_password, needs_rehash, verify_password
from tenantctl.store.engine import write_session
from tenantctl.store.models import Organisation, User, UserGroup
from tests.conftest import FIXTURES

PASSWORD = "Sturdy-Passphrase-2024"
NOT_UTF8 = "Bad-\udcff\udcfe-password-1"  # what os.environ holds for bytes ff fe


def scrypt_hash(password: str, n: int = 2**14) -> str:
    """A hash as tenantctl stored it before argon2id."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    return "$".join(
        [
            "scrypt",
            str(n),
            "8",
            "1",
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def test_a_new_hash_is_argon2id_with_owasp_parameters():
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "x", stored)
    assert not needs_rehash(stored)
    assert hash_password(PASSWORD) != stored  # salted


@pytest.mark.parametrize(
    "stored",
    [
        scrypt_hash(PASSWORD),
        PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD),
    ],
    ids=["scrypt-2^14", "argon2id-8MiB"],
)
def test_a_weaker_hash_still_verifies_and_asks_to_be_replaced(stored):
    assert verify_password(PASSWORD, stored)
    assert not verify_password("wrong-" + PASSWORD, stored)
    assert needs_rehash(stored)


def test_a_password_that_is_not_utf8_never_verifies():
    assert not verify_password(NOT_UTF8, hash_password(PASSWORD))
    assert not verify_password(NOT_UTF8, scrypt_hash(PASSWORD))


@pytest.fixture
def tenant_user(engine):
    """A tenant org with one user whose password is stored as an old scrypt hash."""
    with write_session(engine) as session:
        org = Organisation(
            name="Acme BSS",
            kind="tenant",
            currency="EUR",
            country="GR",
            client_id="acme-client",
            status="active",
        )
        session.add(org)
        session.flush()
        group = UserGroup(org_id=org.id, name="Administrators", modules=["accounts"])
        session.add(group)
        session.flush()
        session.add(
            User(
                org_id=org.id,
                username="admin",
                email="a@acme.example",
                password_hash=scrypt_hash(PASSWORD),
                group_id=group.id,
            )
        )
    return "acme-client"


def stored_hash(engine) -> str:
    with write_session(engine) as session:
        return session.execute(select(User.password_hash)).scalar_one()


def test_a_weak_hash_is_replaced_at_the_next_successful_login_only(cli, engine, tenant_user):
    before = stored_hash(engine)
    wrong = {"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": PASSWORD + "-typo"}
    cli("--org", tenant_user, "account", "list", env=wrong, expect=1)
    assert stored_hash(engine) == before  # a failed login changes nothing

    right = {"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": PASSWORD}
    cli("--org", tenant_user, "account", "list", env=right)
    after = stored_hash(engine)
    assert after.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(PASSWORD, after)
    cli("--org", tenant_user, "account", "list", env=right)
    assert stored_hash(engine) == after  # a current hash is left as it is


def test_a_login_password_that_is_not_utf8_is_bad_input(cli, tenant_user):
    result = cli(
        "--org",
        tenant_user,
        "account",
        "list",
        expect=2,
        env={"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": NOT_UTF8},
    )
    assert result.stderr == "Error: --org: TENANTCTL_PASSWORD is not valid UTF-8 text\n"


def test_an_admin_password_that_is_not_utf8_is_bad_input(cli):
    cli("load", FIXTURES / "distributor.yaml")
    result = cli(
        "tenant",
        "create",
        "ACME",
        "--price-list",
        "Resellers EUR",
        "--admin-username",
        "admin",
        "--admin-email",
        "a@acme.example",
        expect=2,
        env={"TENANTCTL_ADMIN_PASSWORD": NOT_UTF8},
    )
    assert result.stderr.startswith("Error: password: is not valid UTF-8 text")
    assert len(result.stderr.strip().splitlines()) == 1
    assert cli.json("process", "list") == []

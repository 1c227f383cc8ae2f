"""Users of a tenant org: passwords hashed with argon2id (slow, salted, memory-hard),
never kept in clear; a hash made with weaker parameters is replaced at the next login."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlmodel import Session

from tenantctl import config
from tenantctl.errors import BadInput, Refused
from tenantctl.store.models import Organisation, User, UserGroup

# OWASP's argon2id recommendation (Password Storage Cheat Sheet): 19 MiB, 2 iterations, 1
# lane. The parameters are stored in each hash, so they can be raised later: a hash made
# with weaker ones (or with the scrypt of earlier versions) is replaced at the next login.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def check_password_strength(password: str) -> None:
    """Refuse a password too short to protect a whole BSS organisation, or not text."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(
            "password: is not valid UTF-8 text (check the terminal's or the environment's encoding)"
        ) from None
    minimum = int(config.tenants().get("min_password_length", 10))
    if len(password) < minimum:
        raise BadInput(f"password: must be at least {minimum} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of PASSWORD in PHC form (`$argon2id$v=19$m=...`)."""
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """True when PASSWORD matches the stored hash (argon2id, or an earlier scrypt one)."""
    try:
        if stored.startswith("scrypt$"):
            return _verify_scrypt(password, stored)
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when STORED was made with weaker parameters than a new hash gets."""
    if stored.startswith("scrypt$"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


def _verify_scrypt(password: str, stored: str) -> bool:
    """`scrypt$N$r$p$salt$hash` (salt and hash in base64), as versions before 0.2 stored."""
    _, n, r, p, salt, digest = stored.split("$")
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(expected),
    )
    return hmac.compare_digest(actual, expected)


def rehash_password(session: Session, user_id: int, password: str) -> bool:
    """Replace the hash of USER_ID with a hash of today's parameters when it is weaker and
    PASSWORD matches it (the caller has just logged in with it); True if replaced."""
    stored = session.execute(select(User.password_hash).where(User.id == user_id)).scalar()
    if stored is None or not needs_rehash(stored) or not verify_password(password, stored):
        return False
    # only if no other login replaced it meanwhile
    session.execute(
        update(User)
        .where(User.id == user_id, User.password_hash == stored)
        .values(password_hash=hash_password(password))
        .execution_options(synchronize_session=False)
    )
    return True


@dataclass(frozen=True)
class Principal:
    """Who a tenant context runs as: a user of one organisation."""

    org_id: int
    org_name: str
    client_id: str
    user_id: int
    username: str
    modules: tuple[str, ...]
    weak_hash: bool = False  # the stored hash is to be replaced (see rehash_password)


def login(session: Session, client_id: str, username: str, password: str) -> Principal:
    """Log in to a tenant org; one message for every failure, so nothing can be probed."""
    refused = Refused("login refused: wrong client id, user name or password")
    org = (
        session.execute(
            select(Organisation).where(
                Organisation.client_id == client_id, Organisation.kind == "tenant"
            )
        )
        .scalars()
        .first()
    )
    user = None
    if org is not None:
        user = (
            session.execute(select(User).where(User.org_id == org.id, User.username == username))
            .scalars()
            .first()
        )
    # Hash even when there is no such user, so the time taken tells nothing.
    stored = user.password_hash if user is not None else _dummy_hash()
    if not verify_password(password, stored) or user is None or org is None:
        raise refused
    if org.status == "setup":
        raise Refused(
            f"organisation {org.name} is still being set up: nobody can log in "
            "to it before its creation has finished"
        )
    if org.status != "active":
        raise Refused(f"organisation {org.name} is {org.status}: nobody can log in to it")
    group = session.get(UserGroup, user.group_id) if user.group_id else None
    return Principal(
        org.id,
        org.name,
        org.client_id,
        user.id,
        user.username,
        tuple(group.modules) if group else (),
        needs_rehash(stored),
    )


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(16))

"""Users of a tenant org: passwords hashed with scrypt (slow, salted), never kept in clear."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlmodel import Session

from tenantctl import config
from tenantctl.errors import BadInput, Refused
from tenantctl.store.models import Organisation, User, UserGroup

# scrypt cost: ~50 ms and 16 MiB per hash on these machines; stored with the hash so it
# can be raised later without breaking existing passwords.
_N, _R, _P = 2**14, 8, 1


def check_password_strength(password: str) -> None:
    """Refuse a password too short to protect a whole BSS organisation."""
    minimum = int(config.tenants().get("min_password_length", 10))
    if len(password) < minimum:
        raise BadInput(f"password: must be at least {minimum} characters")


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash`, salt and hash in base64."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    """True when PASSWORD matches the stored hash (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class Principal:
    """Who a tenant context runs as: a user of one organisation."""

    org_id: int
    org_name: str
    client_id: str
    user_id: int
    username: str
    modules: tuple[str, ...]


def login(session: Session, client_id: str, username: str, password: str) -> Principal:
    """Log in to a tenant org; one message for every failure, so nothing can be probed."""
    refused = Refused("login refused: wrong client id, user name or password")
    org = session.execute(select(Organisation).where(
        Organisation.client_id == client_id, Organisation.kind == "tenant")).scalars().first()
    user = None
    if org is not None:
        user = session.execute(select(User).where(
            User.org_id == org.id, User.username == username)).scalars().first()
    # Hash even when there is no such user, so the time taken tells nothing.
    stored = user.password_hash if user is not None else _dummy_hash()
    if not verify_password(password, stored) or user is None or org is None:
        raise refused
    if org.status == "setup":
        raise Refused(f"organisation {org.name} is still being set up: nobody can log in "
                      "to it before its creation has finished")
    if org.status != "active":
        raise Refused(f"organisation {org.name} is {org.status}: nobody can log in to it")
    group = session.get(UserGroup, user.group_id) if user.group_id else None
    return Principal(org.id, org.name, org.client_id, user.id, user.username,
                     tuple(group.modules) if group else ())


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(16))

"""Configuration from the YAML files in `config/`, read once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Where the bundled `config/` or `fixtures/` folder is (installed wheel or checkout)."""
    for candidate in (PACKAGE_DIR / "_data" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the bundled {name}/ folder")


def config_dir() -> Path:
    override = os.environ.get("TENANTCTL_CONFIG_DIR")
    return Path(override) if override else data_dir("config")


@dataclass(frozen=True)
class Platform:
    code: str
    label: str
    needs_sync: bool
    fix: str


@cache
def _read(name: str) -> dict:
    import yaml  # here, not at the top: `tenantctl --help` reads no configuration

    path = config_dir() / name
    with path.open(encoding="utf-8") as fh:
        # libyaml's parser when PyYAML has it (the same safe loading, a twentieth of the time)
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def platforms() -> dict[str, Platform]:
    """The provisioning platforms by code, with their sync requirement."""
    raw = _read("platforms.yaml")["platforms"]
    return {
        code: Platform(
            code=code,
            label=spec.get("label", code),
            needs_sync=bool(spec.get("needs_sync", False)),
            fix=spec.get("fix", f"sync the account with {code}"),
        )
        for code, spec in raw.items()
    }


def cancellation_days() -> dict[str, int]:
    """Per platform, the days after a term's first day in which a decrease or a cancellation
    is credited (SPEC section 8; a platform that names none: 0)."""
    return {
        code: int(spec.get("cancellation_days", 0) or 0)
        for code, spec in _read("platforms.yaml")["platforms"].items()
    }


def units() -> tuple[str, ...]:
    """The billing units a product may be sold in."""
    return tuple(_read("platforms.yaml")["units"])


def tenants() -> dict:
    """What a new tenant starts with: admin group, provisioning settings, storefront, rules."""
    return _read("tenants.yaml")


def copy_batch(default: int) -> int:
    """Rows per committed batch of a bulk copy (TENANTCTL_COPY_BATCH overrides, e.g. in tests
    that kill a worker mid-copy)."""
    value = os.environ.get("TENANTCTL_COPY_BATCH")
    return int(value) if value and value.isdigit() and int(value) > 0 else default


def policy() -> dict:
    """The reseller's product policy for inherited products."""
    return _read("policy.yaml")

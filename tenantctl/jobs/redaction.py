"""Keeping secrets out of the queue: refuse them in parameters, blank them out of messages.

A process's parameters and log are stored in plain text and shown by `process show` and
`process logs`, so a password must never reach them. Parameters are checked by key name
(the caller is expected to pass none; this is the backstop), and every log message and
error text is redacted on its way into the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tenantctl.errors import Refused

_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "credential",
    "private_key",
)
_SECRET_WORD_RE = "|".join(re.escape(w).replace("_", "[_-]?") for w in _SECRET_WORDS)

# `password=hunter2`, `"token": "abc"`, `api-key: abc` ... : keep the key, blank the value.
_KEY_VALUE = re.compile(
    rf"(?i)([\w.-]*(?:{_SECRET_WORD_RE})[\w.-]*)(\"?'?\s*[:=]\s*[\"']?)([^\s\"',;&}}\]]+)"
)
# `scheme://user:secret@host`: database and service URLs carry their password inline.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+):([^\s@/]+)@")

REDACTED = "***"


def is_secret_key(key: str) -> bool:
    """Whether a parameter named KEY would hold a secret.

    A key ending in `_hash` is allowed: a slow salted hash is what the store keeps of a
    password anyway, and a detached process may need to carry one to the worker.
    """
    name = key.lower().replace("-", "_")
    if name.endswith("_hash"):
        return False
    compact = name.replace("_", "")
    return any(word.replace("_", "") in compact for word in _SECRET_WORDS)


def refuse_secrets(params: Any, where: str = "params") -> None:
    """Refuse PARAMS if any key, at any depth, names a secret (password, token, ...)."""
    if isinstance(params, Mapping):
        for key, value in params.items():
            path = f"{where}.{key}"
            if is_secret_key(str(key)):
                raise Refused(
                    f"process parameters must not carry secrets: {path} looks like one "
                    "(pass a *_hash, or have the step read the secret where it runs)"
                )
            refuse_secrets(value, path)
    elif isinstance(params, list | tuple):
        for i, value in enumerate(params):
            refuse_secrets(value, f"{where}[{i}]")


def redact(message: str) -> str:
    """MESSAGE with every value that looks like a secret replaced by `***`."""
    message = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", message)
    return _KEY_VALUE.sub(rf"\1\2{REDACTED}", message)

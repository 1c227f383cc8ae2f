"""Imports deferred to first use, so that `tenantctl --version` and `--help` start without
SQLAlchemy, SQLModel or Alembic: the CLI modules name the domain modules they call through
these, and a module is imported when a command first reaches into it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class LazyModule:
    """Stands for the module NAME; the first attribute read imports it."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def _module(self):
        return importlib.import_module(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._module(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._module(), attr, value)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def module(name: str) -> Any:
    """The module NAME, imported on first use."""
    return LazyModule(name)


def function(module_name: str, name: str) -> Callable[..., Any]:
    """The function NAME of MODULE_NAME, imported on its first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module_name), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"{module_name}.{name}, imported on first call."
    return call

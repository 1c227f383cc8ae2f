"""The tables are mapped on first use, one submodule of tenantctl.store.models at a time
(issue 13): whatever a command maps, every foreign key of it names a mapped table, and
every table is found by its name in the package."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlmodel import SQLModel

from tenantctl.store import models

SUBMODULES = sorted(set(models._MODULE_OF.values()))

_PROBE = """
import importlib, json, sys
from sqlmodel import SQLModel
importlib.import_module("tenantctl.store.models." + sys.argv[1])
for table in SQLModel.metadata.tables.values():
    for fk in table.foreign_keys:
        fk.column  # NoReferencedTableError when the table it names is not mapped
print(json.dumps(sorted(SQLModel.metadata.tables)))
"""


@pytest.mark.parametrize("submodule", SUBMODULES)
def test_a_submodule_maps_the_tables_its_foreign_keys_name(submodule):
    """A fresh process (this one has every table mapped) imports one submodule alone."""
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, submodule],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    mapped = set(json.loads(run.stdout))
    own = {
        getattr(models, name).__tablename__
        for name, module in models._MODULE_OF.items()
        if module == submodule
    }
    assert own <= mapped


def test_every_table_is_named_in_the_package_by_its_submodule():
    metadata = models.load_all()
    tables = {
        cls.__name__: cls
        for cls in _subclasses(models.TableModel)
        if cls.__module__.startswith("tenantctl.store.models.")
    }
    assert set(tables) == set(models._MODULE_OF)
    for name, cls in tables.items():
        assert cls.__module__ == f"tenantctl.store.models.{models._MODULE_OF[name]}"
        assert getattr(models, name) is cls
        assert cls.__table__ is metadata.tables[cls.__tablename__]
    assert set(tables) <= set(models.__all__) and set(tables) <= set(dir(models))
    assert metadata is SQLModel.metadata


def test_a_name_that_is_no_table_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Tenant'"):
        models.Tenant  # noqa: B018
    with pytest.raises(ImportError):
        from tenantctl.store.models import Tenant  # noqa: F401


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_the_due_check_reads_columns_the_product_change_table_has():
    """`product_changes_due` names the columns it reads instead of mapping the catalogue."""
    from tenantctl.domain.schedule import PRODUCT_CHANGE

    mapped = models.ProductChange.__table__
    assert PRODUCT_CHANGE.name == mapped.name
    assert set(PRODUCT_CHANGE.c.keys()) <= set(mapped.c.keys())
    assert type(PRODUCT_CHANGE.c.effective_date.type) is type(mapped.c.effective_date.type)

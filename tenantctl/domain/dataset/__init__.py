"""The distributor's data set: one YAML file with the root organisation, its products,
price lists, accounts, subscriptions and assets, loaded idempotently by code.

The whole file is checked, and its references resolved against the file and the store,
before anything is written; every problem names the file, the line and the field, and
any problem means nothing is written. Loading then makes the store match what the file
names: new rows are created, changed rows updated, equal rows left alone (so a second
load of the same file changes nothing). What the file does not name is never touched.
The format is described in README.md ("The data set format").

By concern: `yamlfile` reads YAML with line numbers, `schema` says how each key is read,
`reading` turns a file into checked entries, `loader` checks them against the store and
writes them.
"""

from tenantctl.domain.dataset.loader import EntityCounts, LoadResult, load_dataset
from tenantctl.domain.dataset.reading import DataSet, Entry, Problems, parse_dataset, read_dataset
from tenantctl.domain.dataset.schema import schemas
from tenantctl.domain.dataset.yamlfile import LineLoader, YamlInt, YamlList, YamlMap, load_yaml

__all__ = [
    "DataSet",
    "EntityCounts",
    "Entry",
    "LineLoader",
    "LoadResult",
    "Problems",
    "YamlInt",
    "YamlList",
    "YamlMap",
    "load_dataset",
    "load_yaml",
    "parse_dataset",
    "read_dataset",
    "schemas",
]

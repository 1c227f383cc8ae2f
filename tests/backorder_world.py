"""The store the back-ordering tests share: tests/world.py's (the data set, ACME and
LITECLOUD as tenants) with LITECLOUD upgraded and live: back-ordering on, the root's
subscriptions of its customers the mirrors of their copies in the tenant. ACME was never
lite (back-ordering off)."""

from __future__ import annotations

from tests.conftest import Cli
from tests.world import PL, World, build_world, build_world_template, private_world

__all__ = ["PL", "World", "build", "private", "template"]


def build(db_url: str) -> tuple[str, str]:
    acme, lite = build_world(db_url)
    cli = Cli(db_url)
    cli.json("upgrade", "customers", "LITECLOUD")
    cli.json("upgrade", "subscriptions", "LITECLOUD")
    return acme, lite


def template(_template, tmp_path_factory):
    yield from build_world_template(_template, tmp_path_factory, build=build)


private = private_world

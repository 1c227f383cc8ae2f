"""A pytest plugin (loaded by conftest.py): a run in which a test was skipped fails unless
the test skipped only because of the store backend the run uses, or because optional data
that the repository may not ship was not given.

- on SQLite, a reason starting "PostgreSQL only" (the tests that need a server);
- on PostgreSQL (TENANTCTL_TEST_DATABASE_URL set), a reason starting "SQLite only";
- on either, a reason starting "optional data" (tests/realdata.py: data whose licence does
  not let it be vendored).

Anything else (missing data that should be vendored, a missing tool, a stale condition)
would quietly shrink the suite, so it fails the run and is listed at the end.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_ONLY = "PostgreSQL only"
SQLITE_ONLY = "SQLite only"
OPTIONAL_DATA = "optional data"
DATABASE_VARIABLE = "TENANTCTL_TEST_DATABASE_URL"
PLUGIN_NAME = "tenantctl-skipcheck"


def accepted_prefixes() -> tuple[str, ...]:
    backend_only = SQLITE_ONLY if os.environ.get(DATABASE_VARIABLE) else POSTGRES_ONLY
    return (backend_only, OPTIONAL_DATA)


def _reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


class SkipCheck:
    def __init__(self) -> None:
        self.refused: list[tuple[str, str]] = []

    def _check(self, report) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = _reason(report)
            if not reason.startswith(accepted_prefixes()):
                self.refused.append((report.nodeid, reason))

    def pytest_runtest_logreport(self, report) -> None:
        self._check(report)

    def pytest_collectreport(self, report) -> None:
        self._check(report)

    def pytest_sessionfinish(self, session) -> None:
        ended_well = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        if self.refused and session.exitstatus in ended_well:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.refused:
            return
        accepted = " or ".join(f'"{p}..."' for p in accepted_prefixes())
        terminalreporter.section("skipped for a reason this run does not accept", red=True)
        for nodeid, reason in self.refused:
            terminalreporter.write_line(f"{nodeid}: {reason}")
        terminalreporter.write_line(
            f"Only skips whose reason starts with {accepted} are "
            f"accepted here (tests/skipcheck.py): the run fails."
        )


def pytest_configure(config) -> None:
    """Registers the check (run with `-p tests.skipcheck`, or from conftest.py)."""
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(SkipCheck(), PLUGIN_NAME)

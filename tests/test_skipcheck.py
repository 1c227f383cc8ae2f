"""The suite fails a run in which a test skipped for any reason but the store backend or
optional unvendored data (tests/skipcheck.py), so it cannot shrink unnoticed."""

from __future__ import annotations

import pytest

from tests.skipcheck import DATABASE_VARIABLE

INNER = """
import pytest

@pytest.mark.skipif(True, reason={reason!r})
def test_marked():
    pass

def test_called():
    pytest.skip({reason!r})

def test_runs():
    pass
"""


@pytest.fixture(autouse=True)
def _bare_pytest(monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # seconds faster per run


def run_inner(pytester, monkeypatch, backend_url: str | None, reason: str):
    if backend_url:
        monkeypatch.setenv(DATABASE_VARIABLE, backend_url)
    else:
        monkeypatch.delenv(DATABASE_VARIABLE, raising=False)
    pytester.makepyfile(test_inner=INNER.format(reason=reason))
    return pytester.runpytest("-p", "tests.skipcheck", "-rs")


PG = "postgresql+psycopg://nobody@127.0.0.1:1/none"


@pytest.mark.parametrize(
    ("backend_url", "reason"),
    [
        (None, "PostgreSQL only: set it to run it"),
        (PG, "SQLite only: the suite runs on PostgreSQL"),
        (None, "optional data: a table we may not ship"),
        (PG, "optional data: a table we may not ship"),
    ],
)
def test_a_backend_or_optional_data_skip_passes(pytester, monkeypatch, backend_url, reason):
    result = run_inner(pytester, monkeypatch, backend_url, reason)
    result.assert_outcomes(passed=1, skipped=2)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize(
    ("backend_url", "reason"),
    [
        (None, "real data not found at ../shared/data"),
        (None, "SQLite only: the suite runs on PostgreSQL"),  # on SQLite it should have run
        (PG, "PostgreSQL only: set it to run it"),  # on PostgreSQL it should have run
        (PG, "needs Linux's /proc"),
    ],
)
def test_any_other_skip_fails_the_run_and_is_named(pytester, monkeypatch, backend_url, reason):
    result = run_inner(pytester, monkeypatch, backend_url, reason)
    result.assert_outcomes(passed=1, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*skipped for a reason this run does not accept*",
            f"test_inner.py::test_marked: {reason}",
            f"test_inner.py::test_called: {reason}",
            "Only skips whose reason starts with *the run fails.",
        ]
    )


def test_a_module_skipped_at_collection_fails_the_run(pytester, monkeypatch):
    monkeypatch.delenv(DATABASE_VARIABLE, raising=False)
    pytester.makepyfile(
        test_inner="""
import pytest
pytest.skip("data missing", allow_module_level=True)
"""
    )
    result = pytester.runpytest("-p", "tests.skipcheck")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*test_inner.py: data missing"])

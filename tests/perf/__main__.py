"""Run the benchmarks of issue 13 and print one table (or JSON with --json).

    python -m tests.perf [--json] [--size small|full] [--only NAME ...] [--postgresql-only]

Every figure is a ratio against a baseline measured in the same run, on the same machine,
so it holds on a busy one. The targets judge wall time; the CPU ratio (the processes' own
user + system time, blind to a PostgreSQL server's work) is shown beside it, steadier
when the machine is loaded. On SQLite always; on PostgreSQL too when
TENANTCTL_TEST_DATABASE_URL names a server. Exits 1 when a benchmark misses its target
(with --no-fail, always 0: CI's smoke only checks that every benchmark runs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tests.perf.bench import SIZES, run_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="full",
        help="small: a quick smoke (CI); full: the issue's sizes (default)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only the benchmarks whose name contains NAME",
    )
    parser.add_argument(
        "--no-fail", action="store_true", help="exit 0 even when a target is missed"
    )
    parser.add_argument(
        "--postgresql-only",
        action="store_true",
        help="skip the SQLite runs (needs TENANTCTL_TEST_DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    pg = os.environ.get("TENANTCTL_TEST_DATABASE_URL")
    results = run_all(
        args.size,
        pg,
        only=args.only,
        progress=None if args.json else lambda text: print(text, file=sys.stderr),
        sqlite=not args.postgresql_only,
    )
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print_table(results)
    return 0 if args.no_fail or all(r.passed for r in results) else 1


def print_table(results) -> None:
    header = (
        "benchmark",
        "database",
        "size",
        "measured",
        "baseline",
        "ratio",
        "cpu ratio",
        "target",
        "result",
        "peak MiB",
    )
    rows = [
        (
            r.name,
            r.backend,
            r.size,
            f"{r.seconds:.2f} {r.unit}",
            f"{r.baseline:.2f} {r.unit} ({r.baseline_name})",
            f"{r.ratio:.2f}x",
            "" if r.cpu_ratio is None else f"{r.cpu_ratio:.2f}x",
            f"<= {r.target:g}x",
            "pass" if r.passed else "FAIL",
            f"{r.peak_mib:.0f}" if r.peak_mib else "",
        )
        for r in results
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for i, row in enumerate([header, *rows]):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())

"""The benchmarks: each runs tenantctl as a user would (a fresh process) and its baseline in
the same run; see tests/perf/__main__.py for the command and the README for the table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.perf import data

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "distributor.yaml"
PYTHON = sys.executable
TENANTCTL = [PYTHON, "-m", "tenantctl"]
PASSWORD = "Bench-Passw0rd-Long!"
CODE, PRICE_LIST = "CLOUDUSA", "GCP Compute USD"


@dataclass(frozen=True)
class Size:
    items: int | None  # None: every item (51,618)
    fanout_tenants: int
    fanout_items: int
    repeat: int  # runs of a quick command; the best one counts


SIZES = {"small": Size(1_500, 3, 150, 3), "full": Size(None, 40, 500, 5)}


@dataclass
class Result:
    name: str
    backend: str
    size: str
    seconds: float
    baseline_name: str
    baseline: float
    target: float
    peak_mib: float | None = None

    @property
    def ratio(self) -> float:
        return self.seconds / self.baseline

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": round(self.ratio, 3), "passed": self.passed}


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mib: float


def run(args: list, *, env: dict | None = None, repeat: int = 1) -> Run:
    """Best wall time of REPEAT runs of ARGS, and the process's peak resident memory."""
    best = None
    for _ in range(repeat):
        with tempfile.TemporaryFile() as out:
            start = time.perf_counter()
            proc = subprocess.Popen(
                [str(a) for a in args],
                stdout=out,
                stderr=out,
                env={**os.environ, **(env or {})},
                cwd=ROOT,
            )
            # wait4 reports this child's own peak resident memory (KiB on Linux).
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                out.seek(0)
                raise RuntimeError(
                    f"{' '.join(map(str, args))} exited {proc.returncode}:\n"
                    f"{out.read().decode(errors='replace')[-2000:]}"
                )
        if best is None or seconds < best.seconds:
            best = Run(seconds, usage.ru_maxrss / 1024)
    return best


def tenantctl(url: str, *args, env: dict | None = None, repeat: int = 1) -> Run:
    return run([*TENANTCTL, "--db", url, *args], env=env, repeat=repeat)


# --- stores ------------------------------------------------------------------------------


class Stores:
    """Stores of one backend: new empty ones, and copies of a store (a file, a template)."""

    def __init__(self, workdir: Path, pg_server: str | None):
        self.workdir, self.pg = workdir, pg_server
        self.made: list[str] = []
        self.count = 0

    @property
    def backend(self) -> str:
        return "postgresql" if self.pg else "sqlite"

    def new(self, copy_of: str | None = None) -> str:
        self.count += 1
        if self.pg:
            from tests.conftest import create_pg_database

            template = copy_of.rsplit("/", 1)[1] if copy_of else None
            url = create_pg_database(template)
            self.made.append(url)
            return url
        path = self.workdir / f"store-{self.count}.db"
        if copy_of:
            shutil.copyfile(copy_of.removeprefix("sqlite:///"), path)
        return f"sqlite:///{path}"

    def drop_all(self) -> None:
        if self.pg:
            from tests.conftest import drop_pg_database

            for url in self.made:
                drop_pg_database(url)


def usd_data_set(resellers: int = 0) -> str:
    extra = "".join(
        f"""
  - code: R{i:02d}
    name: Reseller {i:02d} LLC
    kind: reseller
    ordering_enabled: true
    currency: USD
    country: US"""
        for i in range(1, resellers + 1)
    )
    return f"""\
organisation:
  name: Cloudway Americas Inc.
  currency: USD
  country: US
  timezone: America/New_York
accounts:
  - code: {CODE}
    name: Cloud USA Reseller LLC
    kind: reseller
    ordering_enabled: true
    currency: USD
    country: US{extra}
"""


def create_tenant(url: str, code: str, price_list: str) -> Run:
    return tenantctl(
        url,
        "tenant",
        "create",
        code,
        "--price-list",
        price_list,
        "--admin-username",
        "admin",
        "--admin-email",
        "admin@example.com",
        env={"TENANTCTL_ADMIN_PASSWORD": PASSWORD},
    )


# --- the benchmarks ----------------------------------------------------------------------


def startup(size: str, spec: Size, stores: Stores, say) -> list[Result]:
    """--version and --help against `import typer`; `tenant list` on the fixtures' store
    against `import sqlmodel`."""
    typer = run([PYTHON, "-c", "import typer"], repeat=spec.repeat)
    sqlmodel = run([PYTHON, "-c", "import sqlmodel"], repeat=spec.repeat)
    version = run([*TENANTCTL, "--version"], repeat=spec.repeat)
    help_ = run([*TENANTCTL, "--help"], repeat=spec.repeat)
    url = stores.new()
    tenantctl(url, "load", FIXTURES)
    listed = tenantctl(url, "tenant", "list", repeat=spec.repeat)
    b = stores.backend
    return [
        Result("tenantctl --version", b, size, version.seconds, "import typer", typer.seconds, 1.5),
        Result("tenantctl --help", b, size, help_.seconds, "import typer", typer.seconds, 2),
        Result(
            "tenant list, small store",
            b,
            size,
            listed.seconds,
            "import sqlmodel",
            sqlmodel.seconds,
            1.5,
        ),
    ]


def catalogue(size: str, spec: Size, stores: Stores, say) -> list[Result]:
    """pricelist import and tenant create of the GCP list against their floors, then
    tenant update of a 1% diff against `tenant list` on the same store."""
    work = stores.workdir
    rows = data.items(spec.items)
    first = data.write_csv(rows, work / "gcp.csv")
    second = data.write_csv(data.changed(rows), work / "gcp-1pct.csv")
    (work / "usd.yaml").write_text(usd_data_set(), encoding="utf-8")
    base = stores.new()
    tenantctl(base, "load", work / "usd.yaml")
    b, n = stores.backend, f"{size} ({len(rows):,} items)"
    out = []

    say(f"[{b}] pricelist import of {len(rows):,} items")
    imported = stores.new(copy_of=base)
    imp = tenantctl(imported, "pricelist", "import", PRICE_LIST, first, "--currency", "USD")
    floor = run(
        [
            PYTHON,
            "-m",
            "tests.perf.floor",
            "import",
            stores.new(copy_of=base),
            first,
            PRICE_LIST,
            "USD",
        ]
    )
    out.append(
        Result("pricelist import", b, n, imp.seconds, "floor", floor.seconds, 2, imp.peak_mib)
    )

    say(f"[{b}] tenant create from {len(rows):,} items")
    created = stores.new(copy_of=imported)
    create = create_tenant(created, CODE, PRICE_LIST)
    floor = run(
        [PYTHON, "-m", "tests.perf.floor", "create", stores.new(copy_of=imported), PRICE_LIST]
    )
    out.append(
        Result("tenant create", b, n, create.seconds, "floor", floor.seconds, 1.5, create.peak_mib)
    )

    say(f"[{b}] tenant update of a 1% diff")
    tenantctl(created, "pricelist", "import", PRICE_LIST, second)
    listed = tenantctl(created, "tenant", "list", repeat=spec.repeat)
    update = tenantctl(created, "tenant", "update", CODE)
    out.append(
        Result(
            "tenant update, 1% diff",
            b,
            n,
            update.seconds,
            "tenant list",
            listed.seconds,
            1.5,
            update.peak_mib,
        )
    )
    return out


def fanout(size: str, spec: Size, stores: Stores, say) -> list[Result]:
    """tenant update --all over many tenants against the same over one tenant."""
    work = stores.workdir
    rows = data.items(spec.fanout_items)
    first = data.write_csv(rows, work / "small.csv")
    second = data.write_csv(data.changed(rows), work / "small-1pct.csv")
    (work / "fanout.yaml").write_text(usd_data_set(spec.fanout_tenants), encoding="utf-8")
    b = stores.backend
    say(f"[{b}] {spec.fanout_tenants} tenants of {len(rows)} items")
    one, many = stores.new(), stores.new()
    for url, count in ((one, 1), (many, spec.fanout_tenants)):
        tenantctl(url, "load", work / "fanout.yaml")
        tenantctl(url, "pricelist", "import", PRICE_LIST, first, "--currency", "USD")
        for i in range(1, count + 1):
            create_tenant(url, f"R{i:02d}", PRICE_LIST)
        tenantctl(url, "pricelist", "import", PRICE_LIST, second)
    single = tenantctl(one, "tenant", "update", "--all")
    every = tenantctl(many, "tenant", "update", "--all")
    return [
        Result(
            f"tenant update --all, {spec.fanout_tenants} tenants",
            b,
            f"{size} ({len(rows)} items each)",
            every.seconds,
            "--all over 1 tenant",
            single.seconds,
            3,
        )
    ]


BENCHMARKS: dict[str, Callable] = {"startup": startup, "catalogue": catalogue, "fanout": fanout}


def run_all(
    size: str, pg_server: str | None, *, only: list[str] | None = None, progress=None
) -> list[Result]:
    say = progress or (lambda _text: None)
    spec = SIZES[size]
    results: list[Result] = []
    for server in (None, pg_server) if pg_server else (None,):
        with tempfile.TemporaryDirectory(prefix="tenantctl-perf-") as tmp:
            stores = Stores(Path(tmp), server)
            try:
                for name, bench in BENCHMARKS.items():
                    if only and not any(o in name for o in only):
                        continue
                    if server and name == "startup":
                        continue  # start-up does not depend on the database
                    results += bench(size, spec, stores, say)
            finally:
                stores.drop_all()
    return results

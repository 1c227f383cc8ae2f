"""Test-only process kinds for the queue, and a worker the crash tests run as a subprocess.

    python -m tests.jobs_worker_main DB_URL [--once] [--until-empty] [--lease S] ...

prints the worker's report as one JSON object on stdout when it ends.

`test.count` writes rows 0..n-1 of `jobs_test_row` for its process in batches, each batch
committed with its checkpoint. The table has no unique key on purpose: a duplicated
batch shows up as a duplicated row instead of being stopped by the database.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from tenantctl.errors import CheckFailed
from tenantctl.jobs import ProcessKind, QueueSettings, TaskContext, register, worker
from tenantctl.jobs.registry import unregister
from tenantctl.store.engine import open_engine, read_session

metadata = MetaData()
ROWS = Table(
    "jobs_test_row",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("process_id", Integer, nullable=False, index=True),
    Column("n", Integer, nullable=False),
    Column("writer", String(200), nullable=False),
)

# Set only in the environment of one worker subprocess: after this many committed
# batches it SIGSTOPs itself, i.e. it freezes right after a commit, outside any
# transaction (a frozen transaction would hold SQLite's write lock and block the test).
SELF_STOP_ENV = "JOBS_TEST_SELF_STOP_AFTER_BATCHES"
# Likewise: after this many committed batches it SIGKILLs itself, like a worker the
# machine kills (out of memory) at the same point of the same process every time.
SELF_KILL_ENV = "JOBS_TEST_SELF_KILL_AFTER_BATCHES"


def create_test_tables(engine) -> None:
    metadata.create_all(engine)


def prepare(ctx: TaskContext) -> None:
    if ctx.params.get("refuse"):
        raise CheckFailed(ctx.params["refuse"])
    if ctx.params.get("skip_prepare"):
        ctx.skip("nothing to prepare")
    ctx.log(f"preparing to count to {ctx.params['n']}")


def _should_fail(ctx: TaskContext, nxt: int) -> bool:
    fail_at = ctx.params.get("fail_at")
    if fail_at is None or nxt < fail_at:
        return False
    gate = ctx.params.get("fail_while_exists")
    if gate is not None and not os.path.exists(gate):
        return False
    return ctx.attempt <= ctx.params.get("fail_attempts", ctx.attempt)


def count_rows(ctx: TaskContext) -> None:
    """Insert rows checkpoint..n-1 in batches.

    On demand it fails on reaching row `fail_at`: while the file `fail_while_exists`
    exists, and in the first `fail_attempts` attempts (each when given).
    """
    n, batch = ctx.params["n"], ctx.params.get("batch", 10)
    delay = ctx.params.get("delay", 0)
    stop_after = int(os.environ.get(SELF_STOP_ENV, "0"))
    kill_after = int(os.environ.get(SELF_KILL_ENV, "0"))
    nxt = ctx.checkpoint.get("next", 0)
    ctx.log(f"counting from {nxt}")
    if ctx.total is None:
        ctx.set_total(n)
    batches = 0
    while nxt < n:
        if _should_fail(ctx, nxt):
            # The message carries a fake secret so the tests can see it blanked out.
            raise RuntimeError(f"simulated failure at {nxt}, password=hunter2")
        end = min(nxt + batch, n)
        with ctx.transaction() as session:
            session.execute(
                ROWS.insert(),
                [
                    {"process_id": ctx.process_id, "n": i, "writer": ctx.worker_id}
                    for i in range(nxt, end)
                ],
            )
            ctx.save(session, checkpoint={"next": end}, done=end)
        nxt = end
        batches += 1
        if stop_after and batches == stop_after:
            os.kill(os.getpid(), signal.SIGSTOP)
        if kill_after and batches == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if delay:
            time.sleep(delay)


def finish(ctx: TaskContext) -> None:
    with read_session(ctx.engine) as session:
        rows = session.execute(
            select(func.count()).select_from(ROWS).where(ROWS.c.process_id == ctx.process_id)
        ).scalar_one()
    ctx.result["rows"] = rows


COUNT = ProcessKind(
    kind="test.count",
    tasks=[("prepare", prepare), ("count rows", count_rows), ("finish", finish)],
)


def register_test_kinds() -> None:
    register(COUNT)


def unregister_test_kinds() -> None:
    unregister(COUNT.kind)


# -- helpers for the tests ------------------------------------------------------------

# Short leases and no backoff, so in-process tests never wait long.
FAST = QueueSettings(lease_seconds=2.0, backoff_seconds=0.0, poll_seconds=0.02)


def rows_of(engine, process_id: int) -> list[int]:
    """The `n` of every row written for PROCESS_ID, sorted (duplicates kept)."""
    with read_session(engine) as session:
        return sorted(
            session.execute(select(ROWS.c.n).where(ROWS.c.process_id == process_id)).scalars()
        )


def writers_of(engine, process_id: int) -> dict[str, int]:
    """How many rows each worker wrote for PROCESS_ID."""
    with read_session(engine) as session:
        return dict(
            session.execute(
                select(ROWS.c.writer, func.count())
                .where(ROWS.c.process_id == process_id)
                .group_by(ROWS.c.writer)
            ).all()
        )


def wait_until(predicate, what: str, timeout: float = 60.0, interval: float = 0.01):
    """Poll PREDICATE until it returns something truthy; fail the test after TIMEOUT.

    The timeout only keeps a broken test from hanging; nothing asserts on speed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.jobs_worker_main")
    parser.add_argument("db_url")
    parser.add_argument("--worker-id")
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--until-empty", action="store_true")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--backoff", type=float, default=0.0)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--max-takeovers", type=int, default=QueueSettings.max_takeovers)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    register_test_kinds()
    engine = open_engine(args.db_url)
    report = worker(
        engine,
        args.worker_id,
        once=args.once,
        until_empty=args.until_empty,
        settings=QueueSettings(
            lease_seconds=args.lease,
            backoff_seconds=args.backoff,
            poll_seconds=args.poll,
            max_takeovers=args.max_takeovers,
        ),
    )
    engine.dispose()
    print(
        json.dumps(
            {
                "worker_id": report.worker_id,
                "stopped": report.stopped,
                "processes": [{"id": p.id, "status": p.status} for p in report.processes],
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

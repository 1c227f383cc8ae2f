"""A tenant-creation worker the crash tests freeze on purpose, and helpers they share.

    python -m tests.tenant_worker_main DB_URL [--worker-id ID] [--lease S]
                                       [--freeze-after-copied N]

claims one process of any registered kind (it waits until one is claimable), runs it
like `tenantctl worker --once`, and prints `{"worker_id": ..., "id": ..., "status": ...}`
on stdout when it ends. With --freeze-after-copied N it SIGSTOPs itself as soon as the
"copy the catalogue" task has committed N products or more. It freezes in the progress
callback, which runs after a batch's transaction has committed: a worker frozen inside a
transaction would hold SQLite's write lock (and PostgreSQL's row locks) and block the
very take-over the test is about.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from contextlib import contextmanager

from tenantctl.domain.kinds import register_all
from tenantctl.jobs import QueueSettings, claim, default_worker_id, run_process
from tenantctl.store.engine import open_engine

COPY_TASK = "copy the catalogue"


class Hang(BaseException):
    """A test ran far past anything it needs: the code under test loops or waits forever.

    A BaseException, so that no `except Exception` in the code under test swallows it.
    """


@contextmanager
def hang_guard(seconds: int):
    """Turn a hang of the main thread into a failure (`Hang`) after SECONDS.

    Nothing asserts on speed: SECONDS is many times what the guarded code needs.
    """

    def expire(signum, frame):
        raise Hang(f"still running after {seconds} s: the code under test hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.tenant_worker_main")
    parser.add_argument("db_url")
    parser.add_argument("--worker-id")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--freeze-after-copied", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    register_all()
    engine = open_engine(args.db_url)
    settings = QueueSettings(lease_seconds=args.lease, backoff_seconds=0.0, poll_seconds=args.poll)
    worker_id = args.worker_id or default_worker_id()
    frozen = False

    def on_progress(task: str, done: int, total: int | None) -> None:
        nonlocal frozen
        if (
            args.freeze_after_copied
            and not frozen
            and task == COPY_TASK
            and done >= args.freeze_after_copied
        ):
            frozen = True
            os.kill(os.getpid(), signal.SIGSTOP)

    claimed = claim(engine, worker_id, settings=settings)
    while claimed is None:
        time.sleep(args.poll)
        claimed = claim(engine, worker_id, settings=settings)
    info = run_process(engine, claimed, on_progress=on_progress, settings=settings)
    engine.dispose()
    print(json.dumps({"worker_id": worker_id, "id": info.id, "status": info.status}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

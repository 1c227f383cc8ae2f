"""`tenantctl process ...` and `tenantctl worker`: the queue of long operations."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from tenantctl.cli import lazy, output
from tenantctl.cli.options import ProcessId
from tenantctl.cli.state import State, state
from tenantctl.cli.usage import choices, whole_number
from tenantctl.errors import ProcessFailed
from tenantctl.process_states import PROCESS_STATUSES, SKIPPED
from tenantctl.words import plural

jobs = lazy.module("tenantctl.jobs")
register_all = lazy.function("tenantctl.domain.kinds", "register_all")
Status = choices(PROCESS_STATUSES)

process_app = typer.Typer(
    help="Watch and steer queued processes (tenant creation, ...).", no_args_is_help=True
)


def follow_in_foreground(st: State, process_id: int, label: str | None = None) -> jobs.ProcessInfo:
    """Run (or follow) a process here with a progress bar per task, each named after LABEL
    when given (one process of several); error if it fails."""
    if jobs.get_process(st.engine(), process_id).kind not in jobs.registered_kinds():
        register_all()  # not only the kind this command queued: the others cost a start-up
    with output.progress(enabled=not st.json) as add_task:
        bars: dict[str, object] = {}

        def on_progress(name: str, done: int, total: int | None) -> None:
            if name not in bars:
                bars[name] = add_task(f"{label}: {name}" if label else name, total)
            bars[name](completed=done, total=total)

        info = jobs.run_in_foreground(st.engine(), process_id, on_progress)
        for task in info.tasks:
            if task.status == SKIPPED and task.name in bars:
                bars[task.name](
                    description=f"{label + ': ' if label else ''}{task.name}: skipped",
                    completed=0,
                    total=0,
                )
    if info.status != jobs.SUCCEEDED:
        raise ProcessFailed(process_id, info.status, info.error, info.exit_code)
    return info


def queued(st: State, process_id: int, then: str = "") -> None:
    """What a `--detach` run prints: the process it queued (THEN: the rest of the line)."""
    if st.json:
        output.print_json({"process_id": process_id, "status": "queued"})
    else:
        output.message(f"Queued process {process_id}{then}.")


def _progress(info: jobs.ProcessInfo) -> str:
    return f"{info.tasks_done}/{len(info.tasks)}"


@process_app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[Status | None, typer.Option(help="Only processes in this status.")] = None,
    limit: Annotated[
        int, typer.Option(parser=whole_number, help="At most this many, newest first.")
    ] = 50,
):
    """List processes: name, status, progress and when they were created."""
    st = state(ctx)
    rows = jobs.list_processes(
        st.engine(create=False), status, limit=limit, owner=st.tenant_owner()
    )
    if st.json:
        output.print_json([_process_json(p) for p in rows])
        return
    output.table(
        "Processes",
        ["ID", "Name", "Status", "Progress", "Attempt", "Created"],
        [
            [p.id, p.title, p.status, _progress(p), f"{p.attempt}/{p.max_attempts}", p.created_at]
            for p in rows
        ],
    )


@process_app.command("show")
def show(ctx: typer.Context, process_id: ProcessId):
    """Show a process and each of its tasks with status and done/total."""
    st = state(ctx)
    p = jobs.get_process(st.engine(create=False), process_id, st.tenant_owner())
    if st.json:
        output.print_json(_process_json(p))
        return
    output.record(
        f"Process {p.id}: {p.title}",
        {
            "kind": p.kind,
            "status": p.status,
            "attempt": f"{p.attempt}/{p.max_attempts}",
            **(
                {"taken over": f"{plural(p.takeovers, 'time')} in this attempt"}
                if p.takeovers
                else {}
            ),
            "worker": p.lease_owner,
            "created": p.created_at,
            "started": p.started_at,
            "finished": p.finished_at,
            "error": p.error,
            **{k: v for k, v in (p.result or {}).items()},
        },
    )
    output.table(
        "Tasks",
        ["#", "Task", "Status", "Done", "Total"],
        [[t.position + 1, t.name, t.status, t.done, t.total] for t in p.tasks],
    )


@process_app.command("logs")
def logs(
    ctx: typer.Context,
    process_id: ProcessId,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep printing until the process ends; with --json, one JSON "
            "object per entry and line (JSON Lines).",
        ),
    ] = False,
):
    """Print a process's log: each task's start, end, counts and errors."""
    st = state(ctx)
    engine = st.engine(create=False)
    owner = st.tenant_owner()
    if st.json and not follow:
        output.print_json(jobs.logs(engine, process_id, owner=owner))
        return
    last = None
    while True:
        finished = jobs.get_process(engine, process_id, owner).finished
        entries = jobs.logs(engine, process_id, after_id=last, owner=owner)
        for e in entries:
            if st.json:
                output.print_json_line(e)
            else:
                output.log_line(e.at, e.level, e.task_name, e.message)
            last = e.id
        if not follow or (finished and not entries):
            break
        time.sleep(0.5)


@process_app.command("retry")
def retry(ctx: typer.Context, process_id: ProcessId):
    """Queue a failed or cancelled process again; it resumes where it stopped."""
    st = state(ctx)
    register_all()  # a kind may refuse a retry (its subject is gone)
    p = jobs.retry(st.engine(), process_id, st.tenant_owner())
    if st.json:
        output.print_json(_process_json(p))
    else:
        output.message(
            f"Process {p.id} is queued again; it resumes at "
            f"{p.current_task.name if p.current_task else 'its end'}."
        )


@process_app.command("cancel")
def cancel(ctx: typer.Context, process_id: ProcessId):
    """Cancel a queued or running process (a running one stops at its next commit)."""
    st = state(ctx)
    engine = st.engine()
    owner = st.tenant_owner()
    already = jobs.get_process(engine, process_id, owner).status == jobs.CANCELLED
    p = jobs.cancel(engine, process_id, owner)
    if st.json:
        output.print_json(_process_json(p))
    else:
        output.message(
            f"Process {p.id} was already cancelled."
            if already
            else f"Process {p.id} is {p.status}."
        )


def worker(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Run at most one process, then return (at once when none is queued)."
        ),
    ] = False,
    until_empty: Annotated[
        bool,
        typer.Option(
            "--until-empty",
            help="Stop when nothing is left to claim (waiting for the retries "
            "of the processes it ran).",
        ),
    ] = False,
):
    """Run queued processes; any number of workers may share one store.

    Prints a line when it starts and one per process started and finished. Ctrl-C (or
    SIGTERM) stops it after the current batch, the process queued again, with exit 130.
    """
    st = state(ctx)
    st.distributor_only("worker")
    register_all()
    engine = st.engine()
    worker_id = jobs.default_worker_id()
    settings = jobs.QueueSettings.from_env()
    talk = not st.json

    def say(text: str) -> None:
        if talk:
            output.message(text)

    store = engine.url.render_as_string(hide_password=True)
    say(
        f"worker {worker_id} started on {store} (lease {settings.lease_seconds:g} s"
        + (
            "; at most one process)"
            if once
            else "; until the queue is empty)"
            if until_empty
            else ")"
        )
    )
    report = jobs.worker(
        engine,
        worker_id,
        once=once,
        until_empty=until_empty,
        settings=settings,
        on_start=lambda c: say(f"process {c.id} ({c.title}): started"),
        on_process=lambda info: say(
            f"process {info.id} ({info.title}): {info.status}"
            + (" again, for a retry" if info.status == "queued" else "")
        ),
        on_stopping=lambda: say("stopping after the current batch (Ctrl-C again to stop at once)"),
    )
    if st.json:
        output.print_json(
            {
                "worker_id": report.worker_id,
                "stopped": report.stopped,
                "delivered": report.swept,
                "processes": [_process_json(p) for p in report.processes],
            }
        )
    elif not report.processes and not report.stopped:
        say("nothing queued")
    if report.swept:
        say(f"{plural(report.swept, 'back-ordering event')} delivered")
    if report.stopped:
        say("worker stopped")
        raise typer.Exit(130)


def _process_json(p: jobs.ProcessInfo) -> dict:
    data = output.jsonable(p)
    data.pop("params", None)
    data["progress"] = _progress(p)
    return data

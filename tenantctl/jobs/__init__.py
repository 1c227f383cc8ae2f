"""The crash-safe process queue: processes, tasks, leases with fencing, and the worker.

Domain modules register a `ProcessKind` (its ordered tasks, each a step function taking a
`TaskContext`), queue processes with `enqueue`, and run them with `run_in_foreground` or
leave them to `worker`. The queue knows nothing of tenants.
"""

import importlib

from tenantctl.jobs.registry import (
    ProcessKind,
    get_kind,
    register,
    register_sweeper,
    registered_kinds,
    sweepers,
)
from tenantctl.process_states import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED

# The rest is imported on first use: a module that only registers a kind or a sweeper (the
# catalogue, at every `pricelist import`) loads no queue, worker or table code, nor the
# PostgreSQL dialect the process table's partial index names.
_LAZY = {
    "LogEntry": "manage",
    "ProcessInfo": "manage",
    "ProcessState": "manage",
    "TaskInfo": "manage",
    "cancel": "manage",
    "get_process": "manage",
    "list_processes": "manage",
    "lock_process": "manage",
    "logs": "manage",
    "retry": "manage",
    "Process": "models",
    "ProcessLog": "models",
    "ProcessTask": "models",
    "ClaimedProcess": "queue",
    "LeaseLost": "queue",
    "ProcessBusy": "queue",
    "QueueSettings": "queue",
    "add_log": "queue",
    "claim": "queue",
    "claim_process": "queue",
    "default_worker_id": "queue",
    "enqueue": "queue",
    "redact": "redaction",
    "ProgressFn": "runner",
    "TaskContext": "runner",
    "TaskSkipped": "runner",
    "WorkerReport": "runner",
    "WorkerStopping": "runner",
    "hand_over": "runner",
    "release": "runner",
    "run_in_foreground": "runner",
    "run_process": "runner",
    "worker": "runner",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CANCELLED",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "ClaimedProcess",
    "LeaseLost",
    "LogEntry",
    "Process",
    "ProcessBusy",
    "ProcessInfo",
    "ProcessKind",
    "ProcessState",
    "ProcessLog",
    "ProcessTask",
    "ProgressFn",
    "QueueSettings",
    "TaskContext",
    "TaskInfo",
    "TaskSkipped",
    "WorkerReport",
    "WorkerStopping",
    "add_log",
    "cancel",
    "claim",
    "claim_process",
    "default_worker_id",
    "enqueue",
    "get_kind",
    "get_process",
    "hand_over",
    "list_processes",
    "lock_process",
    "logs",
    "redact",
    "register",
    "register_sweeper",
    "registered_kinds",
    "release",
    "retry",
    "run_in_foreground",
    "run_process",
    "sweepers",
    "worker",
]

"""The crash-safe process queue: processes, tasks, leases with fencing, and the worker.

Domain modules register a `ProcessKind` (its ordered tasks, each a step function taking a
`TaskContext`), queue processes with `enqueue`, and run them with `run_in_foreground` or
leave them to `worker`. The queue knows nothing of tenants.
"""

from tenantctl.jobs.manage import (
    LogEntry,
    ProcessInfo,
    ProcessState,
    TaskInfo,
    cancel,
    get_process,
    list_processes,
    lock_process,
    logs,
    retry,
)
from tenantctl.jobs.models import Process, ProcessLog, ProcessTask
from tenantctl.jobs.queue import (
    ClaimedProcess,
    LeaseLost,
    ProcessBusy,
    QueueSettings,
    add_log,
    claim,
    claim_process,
    default_worker_id,
    enqueue,
)
from tenantctl.jobs.redaction import redact
from tenantctl.jobs.registry import (
    ProcessKind,
    get_kind,
    register,
    register_sweeper,
    registered_kinds,
    sweepers,
)
from tenantctl.jobs.worker import (
    ProgressFn,
    TaskContext,
    TaskSkipped,
    WorkerReport,
    WorkerStopping,
    release,
    run_in_foreground,
    run_process,
    worker,
)
from tenantctl.process_states import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED

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

"""The states of a process and of its tasks. A module of its own, importing nothing, so
that the CLI can list them in `--help` without loading the queue (`tenantctl.jobs`)."""

# Process status
QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
PROCESS_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE_STATUSES = (QUEUED, RUNNING)
FINAL_STATUSES = (SUCCEEDED, FAILED, CANCELLED)

# Task status
PENDING = "pending"
TASK_RUNNING = "running"
DONE = "done"
TASK_FAILED = "failed"
SKIPPED = "skipped"

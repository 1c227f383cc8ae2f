"""Process kinds: what domain modules register so the queue can run their processes.

The queue knows nothing of tenants: a domain module registers a kind ("tenant.create")
with its ordered tasks, each a name an operator reads and a step function that does the
work through a `TaskContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tenantctl.errors import NotFound

if TYPE_CHECKING:
    from tenantctl.jobs.runner import TaskContext

StepFn = Callable[["TaskContext"], Any]


@dataclass(frozen=True)
class ProcessKind:
    """A kind of process: its name and its tasks in the order they run.

    Every step must be idempotent: after a crash it runs again from the task's last
    committed checkpoint, so it must skip what that checkpoint says is done.
    """

    kind: str
    tasks: Sequence[tuple[str, StepFn]]
    max_attempts: int = 3
    # (session, process id, params) -> why the process cannot be retried, or None: asked
    # by `process retry` so a process whose subject is gone is refused at once.
    retry_refused: Callable[[Any, int, dict], str | None] | None = None
    task_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.kind:
            raise ValueError("a process kind needs a name")
        tasks = tuple((str(name), fn) for name, fn in self.tasks)
        if not tasks:
            raise ValueError(f"process kind {self.kind!r} has no tasks")
        names = tuple(name for name, _ in tasks)
        if len(set(names)) != len(names):
            raise ValueError(f"process kind {self.kind!r} repeats a task name: {names}")
        if not all(callable(fn) for _, fn in tasks):
            raise ValueError(f"process kind {self.kind!r}: every task needs a step function")
        if self.max_attempts < 1:
            raise ValueError(f"process kind {self.kind!r}: max_attempts must be at least 1")
        # Frozen: store the normalised forms through object.__setattr__.
        object.__setattr__(self, "tasks", tasks)
        object.__setattr__(self, "task_names", names)


_REGISTRY: dict[str, ProcessKind] = {}


def register(kind: ProcessKind, *, replace: bool = False) -> ProcessKind:
    """Make KIND runnable by this program's workers; returns it.

    Registering the same definition again is harmless (a module imported twice); a
    different definition under a taken name is a bug unless REPLACE says it is meant.
    """
    existing = _REGISTRY.get(kind.kind)
    if existing is not None and existing != kind and not replace:
        raise ValueError(f"process kind {kind.kind!r} is already registered")
    _REGISTRY[kind.kind] = kind
    return kind


def unregister(name: str) -> None:
    """Forget the kind NAME (tests that register throw-away kinds)."""
    _REGISTRY.pop(name, None)


def get_kind(name: str) -> ProcessKind:
    """The registered kind NAME; NotFound when this program has none by that name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFound(f"no process kind {name!r} is registered in this program") from None


def registered_kinds() -> list[str]:
    """The names of every registered kind, sorted."""
    return sorted(_REGISTRY)


# Sweepers: work a worker does besides processes, on every round (back-ordering delivers
# pending events this way). Each takes the engine and returns how much it did.
SweepFn = Callable[[Any], int]
_SWEEPERS: dict[str, SweepFn] = {}


def register_sweeper(name: str, fn: SweepFn) -> None:
    """Have every worker call FN(engine) on each round, before it claims a process."""
    _SWEEPERS[name] = fn


def sweepers() -> dict[str, SweepFn]:
    """The registered sweepers by name."""
    return dict(_SWEEPERS)

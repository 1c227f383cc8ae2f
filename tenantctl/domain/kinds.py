"""The process kinds of every capability, registered with the queue on import."""

from __future__ import annotations


def register_all() -> None:
    """Import the capability modules that register process kinds (workers need them all)."""
    import tenantctl.domain.backorder  # noqa: F401  (its sweeper delivers pending events)
    import tenantctl.domain.tenants.creation  # noqa: F401
    import tenantctl.domain.transfer  # noqa: F401
    import tenantctl.domain.updates  # noqa: F401

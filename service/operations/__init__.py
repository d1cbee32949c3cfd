"""Operator operations: in-process, or sent to the running service that owns the warehouse."""

from __future__ import annotations

from service.core.config import Settings
from service.operations.base import Operations
from service.operations.remote import RemoteOperations, running_service_url


def operations(settings: Settings) -> Operations:
    """The running service's operations when one owns the warehouse, else in-process ones."""
    url = running_service_url(settings)
    if url is not None:
        return RemoteOperations(settings, url)
    from service.operations.local import LocalOperations  # opens the store and the warehouse

    return LocalOperations.open(settings)


__all__ = ["Operations", "operations"]

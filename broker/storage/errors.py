"""Errors the storage layer raises for things a caller can act on."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of the storage layer's own errors."""


class NotFoundError(StorageError, LookupError):
    """A record the operation needs does not exist (for example the store of a new device)."""


class AlreadyExistsError(StorageError):
    """A record with the same key exists already."""

"""Bearer tokens of the HTTP API: the admin token (operators, the stores' POS)."""

# No `from __future__ import annotations`: FastAPI resolves parameter annotations at import.
import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Header, HTTPException

from broker.controller import Controller


def bearer(authorization: str | None) -> str:
    return (authorization or "").removeprefix("Bearer ").strip()


def is_admin(controller: Controller, token: str) -> bool:
    return bool(token) and bool(controller.admin_token) and hmac.compare_digest(
        token, controller.admin_token)


def admin_dependency(controller: Controller) -> Callable[..., None]:
    """A FastAPI dependency refusing (401) any caller without the admin token."""

    def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        if not is_admin(controller, bearer(authorization)):
            raise HTTPException(401, "admin token required (Authorization: Bearer …)")

    return admin

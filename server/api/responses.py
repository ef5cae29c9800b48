"""Error bodies in the OpenAPI document, so that clients and schemathesis know every response.

Routes pass responses=errors(401, 403, ...) to list the error statuses they
can return. The bodies are the ones server.errors and HTTPException produce.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["ErrorOut", "ValidationErrorOut", "errors"]


class ErrorOut(BaseModel):
    """An error: one or more plain sentences saying what failed and what to do next."""

    detail: str


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ValidationErrorOut(BaseModel):
    """Invalid input: detail names each field and the value received; errors lists them one by one."""

    detail: str
    errors: list[FieldErrorOut]


_DESCRIPTIONS = {
    401: "No valid credential: missing or invalid token, session or request signature.",
    403: "The caller is known but may not do this.",
    404: "The named object does not exist.",
    409: "The request conflicts with stored data.",
    413: "The request body or batch is too large.",
    422: "Invalid input.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI responses entry for the given error statuses; 422 is always included."""
    listed = dict.fromkeys((*statuses, 422))
    return {
        status: {"model": ValidationErrorOut if status == 422 else ErrorOut, "description": _DESCRIPTIONS[status]}
        for status in listed
    }

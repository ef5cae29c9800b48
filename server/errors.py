"""Error responses.

Every 4xx error body is JSON with "detail", one or more plain sentences.
Input errors (422) also carry "errors", a list of {"field", "message"}, and
the detail names each field and the value received, for example
`desil: Input should be less than or equal to 10 (got 11)`. Values of secret
fields (the enrolment code) are never echoed. An error that clients act on
also carries "code", a stable snake_case name, so that a client never has
to match words in the detail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

__all__ = ["CodedError", "FieldError", "install_error_handlers", "SECRET_FIELDS"]

SECRET_FIELDS = frozenset({"code"})
_MAX_VALUE_CHARS = 60
_REQUEST_PARTS = ("body", "query", "path", "header")


class FieldError(Exception):
    """An input value that passed type checks but breaks a rule; the route returns 422, with code when given."""

    def __init__(self, field: str, message: str, value: Any, code: str | None = None):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.value = value
        self.code = code


class CodedError(HTTPException):
    """An HTTP error whose body is {"detail", "code"}: code is the machine-readable name of the case."""

    def __init__(self, status_code: int, code: str, detail: str):
        super().__init__(status_code, detail=detail)
        self.code = code


def _show_value(field: str, value: Any) -> str:
    if field.rsplit(".", 1)[-1] in SECRET_FIELDS:
        return ""
    text = "null" if value is None else repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return f" (got {text})"


def _field_name(location: Iterable[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in _REQUEST_PARTS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        position = error.get("loc", ("body", "?"))[-1]
        return f"is not valid JSON: {error.get('ctx', {}).get('error', 'decode error')} at character {position}"
    if error.get("type") == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    return str(error.get("msg", "invalid value"))


def invalid_input_response(items: list[tuple[str, str, Any, bool]], code: str | None = None) -> JSONResponse:
    """Build the 422 body from (field, message, value, show_value) tuples, with "code" when one is given."""
    sentences = []
    for field, message, value, show_value in items:
        value_text = _show_value(field, value) if show_value else ""
        sentences.append(f"{field}: {message}{value_text}")
    content: dict[str, Any] = {
        "detail": "; ".join(sentences),
        "errors": [{"field": field, "message": message} for field, message, _, _ in items],
    }
    if code is not None:
        content["code"] = code
    return JSONResponse(status_code=422, content=content)


async def _request_validation_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    items = []
    for error in exc.errors():
        location = ("body",) if error.get("type") == "json_invalid" else error.get("loc", ())
        field = _field_name(location)
        show_value = error.get("type") not in ("missing", "json_invalid")
        items.append((field, _message(error), error.get("input"), show_value))
    return invalid_input_response(items)


async def _field_error_handler(_request: Request, exc: FieldError) -> JSONResponse:
    return invalid_input_response([(exc.field, exc.message, exc.value, True)], exc.code)


async def _coded_error_handler(_request: Request, exc: CodedError) -> JSONResponse:
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail, "code": exc.code},
                        headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_validation_handler)
    app.add_exception_handler(FieldError, _field_error_handler)
    app.add_exception_handler(CodedError, _coded_error_handler)

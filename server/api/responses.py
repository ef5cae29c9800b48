"""Error bodies in the OpenAPI document, so that clients and schemathesis know every response.

Routes pass responses=errors(403, 404, ...) to list the error statuses
particular to them. document_error_responses() then adds to every
operation the statuses that any route can return: 401 (every route checks
its caller), 422 in this API's own format, and for a request body 400
(unparsable body) and 413 (body over the size limit). The bodies are the
ones server.errors, server.limits and HTTPException produce.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["ErrorOut", "ValidationErrorOut", "errors", "document_error_responses"]


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
    400: "The request body could not be parsed.",
    401: "No valid credential: missing or invalid token, session or request signature.",
    403: "The caller is known but may not do this.",
    404: "The named object does not exist.",
    409: "The request conflicts with stored data.",
    413: "The request body or batch is too large.",
    422: "Invalid input.",
    429: "Too many failed attempts; the Retry-After header gives the seconds to wait.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI responses entry for the given error statuses; 422 is always included."""
    listed = dict.fromkeys((*statuses, 422))
    return {
        status: {"model": ValidationErrorOut if status == 422 else ErrorOut, "description": _DESCRIPTIONS[status]}
        for status in listed
    }


def _json_ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _add_components(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorOut, ValidationErrorOut):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components[model.__name__] = definition
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)


def _complete_operation(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    statuses = [401] + ([400, 413] if "requestBody" in operation else [])
    for status in statuses:
        responses.setdefault(str(status), {"description": _DESCRIPTIONS[status], "content": _json_ref(ErrorOut)})
    # FastAPI documents its own 422 body, which server.errors replaces. A route that declares its
    # own 422 model can still fail input validation, so it gets either body.
    default_422 = {"$ref": "#/components/schemas/HTTPValidationError"}
    validation = _json_ref(ValidationErrorOut)["application/json"]["schema"]
    current = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema")
    if current is None or current == default_422:
        responses["422"] = {"description": _DESCRIPTIONS[422], "content": _json_ref(ValidationErrorOut)}
    elif current != validation and "anyOf" not in current:
        responses["422"]["content"]["application/json"]["schema"] = {"anyOf": [current, validation]}


def document_error_responses(app: FastAPI) -> None:
    """Make app.openapi() list the error responses every route can return, in this API's format."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        if not schema.get("x-error-responses-complete"):
            _add_components(schema)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    _complete_operation(operation)
            schema["x-error-responses-complete"] = True
        return schema

    app.openapi = openapi

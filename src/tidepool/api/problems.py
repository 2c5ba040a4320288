"""Errors as ``application/problem+json`` (RFC 9457) with a detail a person can read.

``declared(404, 409)`` is what a route puts in its ``responses=`` so the OpenAPI schema says
which problems it answers, with their media type; ``add_problem_schemas`` puts the bodies'
schemas where those declarations point. The API fuzz test holds the schema to the truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from tidepool.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TidepoolError,
)

PROBLEM = "application/problem+json"
SCHEMAS = "#/components/schemas/"
STATUS_FOR: list[tuple[type[TidepoolError], int, str]] = [
    (InvalidInputError, 400, "Invalid input"),
    (ForbiddenError, 403, "Forbidden"),
    (NotFoundError, 404, "Not found"),
    (ConflictError, 409, "Conflict"),
]


class Problem(BaseModel):
    """The body of every error answer; RFC 9457 lets a problem carry more members."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str


class FieldProblem(BaseModel):
    field: str
    message: str


class InvalidRequest(Problem):
    """A 422: the request's shape broke the schema, field by field."""

    errors: list[FieldProblem]


#: When each declared problem happens (the schema's description of the answer).
WHEN: dict[int, str] = {
    400: "Invalid input: a rule the service checks itself (a workspace name, a token's "
    "scopes), or a body that is not JSON.",
    401: "Sign in required, or the credential is not (or no longer) valid.",
    403: "Forbidden: the credential does not allow this, a change came from another "
    "origin's page, or a session's change lacks its CSRF token.",
    404: "Not found (or not this caller's to see), or the feature is off here.",
    409: "Conflict: it exists already, or its state does not allow the action.",
    413: "The request body is too large.",
    422: "The request does not match the schema.",
    429: "Too many failed sign-ins: wait the Retry-After seconds.",
}


def declared(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` saying these statuses are answered as problems."""
    return {
        status: {
            "description": WHEN[status],
            "content": {
                PROBLEM: {
                    "schema": {
                        "$ref": SCHEMAS + (InvalidRequest if status == 422 else Problem).__name__
                    }
                }
            },
        }
        for status in statuses
    }


def add_problem_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the problem bodies' schemas to ``openapi`` (FastAPI lists only the models it
    serializes itself, and it serializes no problem)."""
    _, found = models_json_schema(
        [(Problem, "serialization"), (InvalidRequest, "serialization")],
        ref_template=SCHEMAS + "{model}",
    )
    openapi.setdefault("components", {}).setdefault("schemas", {}).update(found["$defs"])
    return openapi


def problem(
    status: int,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _validation_detail(error: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    messages, errors = [], []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        message = item.get("msg", "is invalid")
        if item.get("type") == "extra_forbidden":
            message = "is not a known field"
        if item.get("type") == "string_pattern_mismatch" and where.endswith("name"):
            message = (
                "must be a DNS-safe slug: a lowercase letter first, then lowercase "
                "letters, digits and hyphens"
            )
        messages.append(f"{where} {message}")
        errors.append({"field": where, "message": message})
    return "; ".join(messages), errors


def install(app: FastAPI) -> None:
    @app.exception_handler(TidepoolError)
    async def tidepool_error(_: Request, error: TidepoolError) -> JSONResponse:
        for kind, status, title in STATUS_FOR:
            if isinstance(error, kind):
                return problem(status, title, str(error))
        return problem(503, "Service unavailable", str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        detail, errors = _validation_detail(error)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = error.headers
        if error.status_code == 405:
            said = (headers or {}).get("Allow", "")
            headers = {**(headers or {}), "Allow": allowed_methods(request, said)}
        return problem(error.status_code, str(error.detail), str(error.detail), headers)


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def allowed_methods(request: Request, said: str) -> str:
    """Every method this path takes, for a 405's ``Allow``. Starlette's names only the
    methods of the first route whose path matched (``GET`` for ``/api/workspaces/x``, which
    takes ``DELETE`` too), so the schema's operations at this path are added to what it
    said (which covers the routes the schema leaves out)."""
    methods = {method.strip() for method in said.split(",") if method.strip()}
    for template, operations in request.app.openapi()["paths"].items():
        if compile_path(template)[0].match(request.url.path):
            methods |= {method.upper() for method in operations if method in HTTP_METHODS}
    return ", ".join(sorted(methods))

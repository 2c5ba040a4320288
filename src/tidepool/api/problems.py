"""Errors as ``application/problem+json`` (RFC 9457) with a detail a person can read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tidepool.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TidepoolError,
)

PROBLEM = "application/problem+json"
STATUS_FOR: list[tuple[type[TidepoolError], int, str]] = [
    (InvalidInputError, 400, "Invalid input"),
    (ForbiddenError, 403, "Forbidden"),
    (NotFoundError, 404, "Not found"),
    (ConflictError, 409, "Conflict"),
]


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
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), str(error.detail), error.headers)

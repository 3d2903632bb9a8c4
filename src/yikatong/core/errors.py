"""One error hierarchy for every domain.

Each error knows its HTTP status, a stable problem type slug and its CLI exit code, so the API
(RFC 9457 problem+json) and the CLI map it once. The message says what was wrong and what to do.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of all expected, user-facing errors."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    exit_code: ClassVar[int] = 1

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://yikatong.org/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidInput(DomainError):
    """The request is well-formed but a value breaks a rule (HTTP 422)."""

    status = 422
    slug = "invalid-input"
    title = "Invalid input"
    exit_code = 2

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        if field is not None:
            extra.setdefault("errors", [{"field": field, "reason": detail}])
        super().__init__(detail, **extra)
        self.field = field


class NotFound(DomainError):
    status = 404
    slug = "not-found"
    title = "Not found"
    exit_code = 3


class Conflict(DomainError):
    """The request clashes with the current state (duplicate, invalid transition…)."""

    status = 409
    slug = "conflict"
    title = "Conflict"
    exit_code = 4


class Unauthorized(DomainError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"
    exit_code = 5


class Forbidden(DomainError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"
    exit_code = 5


class Locked(DomainError):
    """Too many failed attempts; try again later (HTTP 423)."""

    status = 423
    slug = "locked"
    title = "Locked"
    exit_code = 6


class PolicyError(DomainError):
    """A policy file is missing, malformed or incomplete."""

    status = 422
    slug = "policy-invalid"
    title = "Policy file invalid"
    exit_code = 7


class CalendarUnavailable(DomainError):
    """No official working-day calendar for the year asked about."""

    status = 422
    slug = "calendar-unavailable"
    title = "Working-day calendar unavailable"
    exit_code = 7

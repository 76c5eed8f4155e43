"""Errors raised by the client.

The service answers every failure with an RFC 9457 ``application/problem+json`` document that
carries a stable ``code`` and a ``detail`` saying what to do; :class:`SimbenchError` keeps both.
"""

from __future__ import annotations

from typing import Any


class SimbenchError(Exception):
    """A request the service refused, or could not answer.

    Attributes:
        status: the HTTP status (``None`` when no answer arrived at all).
        code: the problem's stable machine-readable code, e.g. ``non_finite_value``.
        detail: what went wrong and what to do about it, in the service's words.
        problem: the whole problem document (extension members such as ``row`` and ``column``
            of a non-finite value included).

    """

    def __init__(
        self,
        status: int | None,
        code: str,
        detail: str,
        problem: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.problem = problem or {}
        prefix = f"{status} " if status is not None else ""
        super().__init__(f"{prefix}{code}: {detail}")


class NotFoundError(SimbenchError):
    """404: the resource does not exist."""


class ConflictError(SimbenchError):
    """409: the request collides with what is stored (another matrix for the same layer, a
    model of that name with other metadata, ...)."""


class InvalidInputError(SimbenchError):
    """400, 413, 415 or 422: the request itself is wrong (shape, dtype, NaN, body too large)."""


class AuthError(SimbenchError):
    """401 or 403: no usable token, or one whose scope is too low."""


class RateLimitedError(SimbenchError):
    """429 after the client's retries ran out."""


class ServerError(SimbenchError):
    """5xx after the client's retries ran out, or no answer at all."""


def error_for(status: int | None, problem: dict[str, Any], fallback_detail: str) -> SimbenchError:
    """The exception for a refused request, chosen by its status."""
    code = problem.get("code") if isinstance(problem.get("code"), str) else None
    detail = problem.get("detail") if isinstance(problem.get("detail"), str) else None
    kind: type[SimbenchError]
    if status == 404:
        kind = NotFoundError
    elif status == 409:
        kind = ConflictError
    elif status in (400, 413, 415, 422):
        kind = InvalidInputError
    elif status in (401, 403):
        kind = AuthError
    elif status == 429:
        kind = RateLimitedError
    elif status is None or status >= 500:
        kind = ServerError
    else:
        kind = SimbenchError
    return kind(status, code or f"http_{status}", detail or fallback_detail, problem)

"""Errors raised by the GridFlex platform clients.

Every client maps its transport and wire errors onto this one tree, so the
integration never needs to know which platform it talks to.
"""

from __future__ import annotations


class GridFlexError(Exception):
    """Base class for every error a platform client raises."""


class GridFlexConnectionError(GridFlexError):
    """The platform could not be reached (DNS, TCP, TLS, 5xx)."""


class GridFlexTimeoutError(GridFlexConnectionError):
    """The platform did not answer within the request timeout."""


class GridFlexAuthError(GridFlexError):
    """The credentials were refused, also after one re-authentication."""


class GridFlexRateLimitedError(GridFlexConnectionError):
    """The platform asked us to slow down (HTTP 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        """Keep the number of seconds the platform asked us to wait."""
        super().__init__(message)
        self.retry_after = retry_after


class GridFlexResponseError(GridFlexConnectionError):
    """The platform answered with a body we cannot read (malformed JSON)."""


class GridFlexRequestRejectedError(GridFlexError):
    """The platform rejected the request (4xx other than 401/404/429)."""

    def __init__(self, status: int, detail: str) -> None:
        """Keep the HTTP status and the platform's own explanation."""
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class GridFlexNotFoundError(GridFlexRequestRejectedError):
    """The requested object does not exist on the platform (HTTP 404)."""

    def __init__(self, detail: str = "not found") -> None:
        """Not found is always HTTP 404."""
        super().__init__(404, detail)

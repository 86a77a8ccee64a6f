"""Errors facepipe raises. Each message says what failed, with which value, and how to fix it."""

from __future__ import annotations


class FacepipeError(Exception):
    """Base class of facepipe's own errors."""


class ConfigurationError(FacepipeError):
    """A setting is missing or invalid; raised at start-up, not on the first request."""


class InvalidRequestError(FacepipeError):
    """The caller's input is unusable; maps to a 4xx reply and changes nothing.

    ``code`` is the stable machine-readable error code of the function URL's reply
    (docs/contracts.md, Request); ``status`` the HTTP status.
    """

    def __init__(self, code: str, message: str, status: int = 400, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id


class InvalidMessageError(FacepipeError):
    """A queue message can never be processed (bad schema, undecodable crop): dead-letter it."""


class ModelUnavailableError(FacepipeError):
    """Model weights are missing or fail their checksum."""


class VectorIndexError(FacepipeError):
    """The vector index rejected or failed a request."""

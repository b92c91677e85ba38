"""The one error hierarchy. HTTP maps it to `{"error": {"code", "message", "field"}}`;
consumers dead-letter domain errors and stop on infrastructure errors."""

from __future__ import annotations


class CercleError(Exception):
    """Base of every error Cercle raises on purpose."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        """The JSON body of this error, as the HTTP APIs answer it."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class ValidationError(CercleError):
    """Input that breaks the contract: a missing, mistyped or out-of-range field. The
    field is named by its dotted path (`data.network`)."""

    status = 422
    code = "invalid"


class MalformedRequest(CercleError):
    """A body that is not JSON or not UTF-8, or not an object where one is expected."""

    status = 400
    code = "malformed"


class PayloadTooLarge(CercleError):
    """A body or a message over the size limit."""

    status = 413
    code = "too_large"


class NotFound(CercleError):
    """The thing named does not exist (or was erased)."""

    status = 404
    code = "not_found"


class Conflict(CercleError):
    """The request contradicts what is stored, e.g. the same event id with other content."""

    status = 409
    code = "conflict"


class Forbidden(CercleError):
    """The caller may not do this."""

    status = 403
    code = "forbidden"


class Unauthorized(CercleError):
    """No valid credentials were given."""

    status = 401
    code = "unauthorized"


class InfrastructureError(CercleError):
    """A dependency (Kafka, MongoDB, Redis, another service) is unavailable. Not bad data:
    consumers retry with backoff and commit nothing; HTTP answers 503."""

    status = 503
    code = "unavailable"

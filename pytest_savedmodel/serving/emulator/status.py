"""TF Serving's status vocabulary: error codes, their HTTP statuses, and conversion from TF errors."""

from __future__ import annotations

from typing import Any

__all__ = ["HTTP_STATUS", "ServingError", "from_tf_error", "truncate_for_grpc"]

#: TF status code name -> HTTP status, as TF Serving's HTTP server maps them.
HTTP_STATUS = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501,
    "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}
#: TF error code numbers (tensorflow/core/protobuf/error_codes.proto).
CODE_NUMBERS = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
    "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14,
    "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}
CODE_NAMES = {v: k for k, v in CODE_NUMBERS.items()}
_GRPC_LIMIT = 1024


class ServingError(Exception):
    """A non-OK TF Serving status: ``code`` is the status name (``INVALID_ARGUMENT``...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def from_tf_error(exc: Any) -> ServingError:
    """A ``tf.errors.OpError`` as the status TF Serving would return (message kept as TF wrote it)."""
    code = CODE_NAMES.get(int(getattr(exc, "error_code", 2)), "UNKNOWN")
    message = getattr(exc, "message", None) or str(exc)
    return ServingError(code, message)


def truncate_for_grpc(message: str) -> str:
    """TF Serving cuts gRPC error messages longer than 1024 characters."""
    if len(message) <= _GRPC_LIMIT:
        return message
    return message[:_GRPC_LIMIT] + "...TRUNCATED"

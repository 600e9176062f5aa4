"""Protobuf messages the emulator needs that no installed package ships, declared here field by field.

* ``tensorflow.serving.MonitoringConfig`` / ``PrometheusConfig`` (``tensorflow_serving/config/
  monitoring_config.proto``: ``prometheus_config = 1``; ``enable = 1``, ``path = 2``);
* ``tensorflow.ProfileRequest`` and friends of the profiler service (``tsl/profiler/protobuf/
  profiler_service.proto``); ``ProfileRequest.opts`` (field 4, a ``ProfileOptions`` message) is declared as
  bytes, which is the same on the wire, and decoded with TensorFlow's own ``profiler_options_pb2``;
* ``grpc.health.v1.HealthCheckRequest`` / ``HealthCheckResponse`` (gRPC's ``health.proto``).

They live in a private descriptor pool, so they never clash with a package that does ship them.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["messages", "parse_text_file"]

_T = {"string": 9, "bool": 8, "uint64": 4, "int32": 5, "bytes": 12, "enum": 14, "message": 11}
_OPTIONAL, _REPEATED = 1, 3

# (package, message, [(field, number, type, label, type_name)])
_MESSAGES: list[tuple[str, str, list[tuple[str, int, str, int, str]]]] = [
    ("tensorflow.serving", "PrometheusConfig", [("enable", 1, "bool", _OPTIONAL, ""),
                                                ("path", 2, "string", _OPTIONAL, "")]),
    ("tensorflow.serving", "MonitoringConfig", [("prometheus_config", 1, "message", _OPTIONAL,
                                                 ".tensorflow.serving.PrometheusConfig")]),
    ("tensorflow", "ProfileRequest", [("duration_ms", 1, "uint64", _OPTIONAL, ""),
                                      ("max_events", 2, "uint64", _OPTIONAL, ""),
                                      ("tools", 3, "string", _REPEATED, ""),
                                      ("opts", 4, "bytes", _OPTIONAL, ""),
                                      ("repository_root", 5, "string", _OPTIONAL, ""),
                                      ("session_id", 6, "string", _OPTIONAL, ""),
                                      ("host_name", 7, "string", _OPTIONAL, "")]),
    ("tensorflow", "ProfileToolData", [("name", 1, "string", _OPTIONAL, ""), ("data", 2, "bytes", _OPTIONAL, "")]),
    ("tensorflow", "ProfileResponse", [("tool_data", 6, "message", _REPEATED, ".tensorflow.ProfileToolData"),
                                       ("empty_trace", 7, "bool", _OPTIONAL, "")]),
    ("tensorflow", "TerminateRequest", [("session_id", 1, "string", _OPTIONAL, "")]),
    ("tensorflow", "TerminateResponse", []),
    ("tensorflow", "MonitorRequest", [("duration_ms", 1, "uint64", _OPTIONAL, ""),
                                      ("monitoring_level", 2, "int32", _OPTIONAL, ""),
                                      ("timestamp", 3, "bool", _OPTIONAL, "")]),
    ("tensorflow", "MonitorResponse", [("data", 1, "string", _OPTIONAL, "")]),
    ("grpc.health.v1", "HealthCheckRequest", [("service", 1, "string", _OPTIONAL, "")]),
    ("grpc.health.v1", "HealthCheckResponse", [("status", 1, "int32", _OPTIONAL, "")]),
]


@functools.cache
def messages() -> dict[str, Any]:
    """Message classes by full name (``"tensorflow.ProfileRequest"``...)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    out: dict[str, Any] = {}
    by_package: dict[str, list[tuple[str, list[tuple[str, int, str, int, str]]]]] = {}
    for package, name, fields in _MESSAGES:
        by_package.setdefault(package, []).append((name, fields))
    for package, entries in by_package.items():
        file = descriptor_pb2.FileDescriptorProto(name=f"pytest_savedmodel/{package}.proto", package=package,
                                                  syntax="proto3")
        for name, fields in entries:
            msg = file.message_type.add(name=name)
            for fname, number, kind, label, type_name in fields:
                f = msg.field.add(name=fname, number=number, type=_T[kind], label=label)  # type: ignore[arg-type]
                if type_name:
                    f.type_name = type_name
        pool.Add(file)
        for name, _ in entries:
            full = f"{package}.{name}"
            out[full] = message_factory.GetMessageClass(pool.FindMessageTypeByName(full))
    return out


def parse_text_file(path: str, message: Any) -> Any:
    """Fill ``message`` from a text-format file as TF Serving's ParseProtoTextFile does (util/proto_util.h:27-40):
    NOT_FOUND for a file that cannot be read, INVALID_ARGUMENT "Invalid protobuf file: '<path>'" otherwise (the
    parser's own complaint goes to the log, as protobuf's does)."""
    import logging
    from pathlib import Path

    from google.protobuf import text_format

    from pytest_savedmodel.serving.emulator.status import ServingError

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ServingError("NOT_FOUND", f"{path}; {exc.strerror or exc}") from None
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as exc:
        logging.getLogger("tfs-emulator").error("Error parsing text-format %s: %s", message.DESCRIPTOR.full_name,
                                                exc)
        raise ServingError("INVALID_ARGUMENT", f"Invalid protobuf file: '{path}'") from None

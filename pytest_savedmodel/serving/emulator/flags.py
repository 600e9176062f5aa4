"""tensorflow_model_server's command-line flags, parsed with TensorFlow's flag syntax.

``--name=value``; booleans also ``--name`` and ``--name=true|false``. A value
that does not parse prints the usage and exits with status 255 (the server's
-1); an unknown argument is reported and ignored, as the real server does.
Flags marked "ours" do not exist in TF Serving.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Flags", "parse_flags", "usage"]


@dataclass
class Flags:
    """The flags the emulator honours, with TF Serving's defaults (ours where noted)."""

    port: int = 8500
    grpc_host: str = "127.0.0.1"  # ours: the real server binds 0.0.0.0; we stay on loopback by default
    rest_api_port: int = 0
    rest_api_host: str = "127.0.0.1"  # ours
    rest_api_timeout_in_ms: int = 30000
    rest_api_num_threads: int = 8
    rest_api_enable_cors_support: bool = False
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    file_system_poll_wait_seconds: int = 1
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    saved_model_tags: str = "serve"
    allow_version_labels_for_unavailable_models: bool = False
    enable_signature_method_name_check: bool = False
    enable_serialization_as_tensor_content: bool = False
    enable_batching: bool = False
    batching_parameters_file: str = ""
    enable_model_warmup: bool = True
    monitoring_config_file: str = ""
    grpc_channel_arguments: str = ""
    max_request_bytes: int = 64 * 1024 * 1024  # ours: bound on gRPC messages and REST bodies
    max_json_depth: int = 128  # ours: bound on REST JSON nesting
    parent_pid: int = 0  # ours: exit when this process is gone (no orphans when pytest dies)
    version: bool = False


_HELP = {
    "port": "Port to listen on for gRPC API",
    "grpc_host": "(emulator) address to bind gRPC to",
    "rest_api_port": "Port to listen on for HTTP/REST API. 0 disables REST.",
    "rest_api_host": "(emulator) address to bind REST to",
    "model_name": "name of model (ignored if --model_config_file flag is set)",
    "model_base_path": "path to export (ignored if --model_config_file flag is set, otherwise required)",
    "model_config_file": "If non-empty, read an ascii ModelServerConfig protobuf from the supplied file name",
    "parent_pid": "(emulator) exit when the process with this pid is gone",
    "max_request_bytes": "(emulator) largest gRPC message or REST body accepted",
}


def usage() -> str:
    lines = ["usage: python -m pytest_savedmodel.serving.emulator", "Flags:"]
    for f in fields(Flags):
        lines.append(f"\t--{f.name}={f.default!r}\t{f.type}\t{_HELP.get(f.name, '')}".rstrip())
    return "\n".join(lines)


def _convert(name: str, kind: Any, text: str | None) -> Any:
    if kind in (bool, "bool"):
        if text is None or text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
        raise ValueError(text)
    if text is None:
        raise ValueError("missing value")
    if kind in (int, "int"):
        return int(text)
    return text


def parse_flags(argv: list[str]) -> tuple[Flags, list[str]]:
    """Parse ``argv``; returns the flags and the unknown arguments. Exits 255 on a bad value."""
    flags = Flags()
    kinds = {f.name: f.type for f in fields(Flags)}
    unknown: list[str] = []
    for arg in argv:
        if not arg.startswith("-"):
            unknown.append(arg)
            continue
        name, sep, value = arg.lstrip("-").partition("=")
        if name not in kinds:
            unknown.append(arg)
            continue
        try:
            setattr(flags, name, _convert(name, kinds[name], value if sep else None))
        except ValueError:
            print(f"Illegal value '{value}' specified for flag '{name}'", file=sys.stdout)
            print(usage(), file=sys.stdout)
            raise SystemExit(255) from None
    return flags, unknown

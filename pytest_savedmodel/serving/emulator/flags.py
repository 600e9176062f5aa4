"""tensorflow_model_server's command-line flags, parsed with TensorFlow's flag syntax.

Every flag of ``tensorflow_serving/model_servers/main.cc`` (lines 87-315, defaults from ``server.h`` lines
43-109) is accepted. Each one is either acted on, or listed in :data:`IGNORED` with the reason it cannot change
an answer of the emulator; the two that would change the wire protocol (TLS) are refused at startup
(:data:`REFUSED`). Flags marked "ours" do not exist in TF Serving.

Syntax as TensorFlow's ``Flags::Parse``: ``--name=value``; booleans also ``--name`` and ``--name=true|false``.
A value that does not parse prints the usage and exits with status 255 (main.cc:317-320 returns -1), as does
``--help``. An argument that is no flag is reported as ``unknown argument: ...`` with the usage and the server
goes on starting (main.cc:333-335), as the real one does.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["IGNORED", "REFUSED", "Flags", "parse_flags", "usage"]

_CPUS = os.cpu_count() or 1


@dataclass
class Flags:
    """Every flag of tensorflow_model_server with TF Serving's defaults, and the emulator's own (marked ours)."""

    port: int = 8500
    grpc_socket_path: str = ""
    rest_api_port: int = 0
    rest_api_num_threads: int = 4 * _CPUS
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    enable_batching: bool = False
    allow_version_labels_for_unavailable_models: bool = False
    batching_parameters_file: str = ""
    enable_per_model_batching_parameters: bool = False
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    model_name: str = "default"
    model_base_path: str = ""
    num_load_threads: int = 0
    num_unload_threads: int = 0
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    file_system_poll_wait_seconds: int = 1
    flush_filesystem_caches: bool = True
    tensorflow_session_parallelism: int = 0
    tensorflow_session_config_file: str = ""
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    use_alts_credentials: bool = False
    ssl_config_file: str = ""
    platform_config_file: str = ""
    per_process_gpu_memory_fraction: float = 0.0
    saved_model_tags: str = "serve"
    grpc_channel_arguments: str = ""
    grpc_max_threads: int = 4 * _CPUS
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 0
    version: bool = False
    monitoring_config_file: str = ""
    remove_unused_fields_from_bundle_metagraph: bool = True
    prefer_tflite_model: bool = False
    num_tflite_pools: int = _CPUS
    num_tflite_interpreters_per_pool: int = 1
    enable_signature_method_name_check: bool = False
    xla_cpu_compilation_enabled: bool = False
    xla_gpu_compilation_enabled: bool = False
    enable_profiler: bool = True
    thread_pool_factory_config_file: str = ""
    mixed_precision: str = ""
    skip_initialize_tpu: bool = False
    enable_grpc_healthcheck_service: bool = False
    enable_serialization_as_tensor_content: bool = False
    # ours
    grpc_host: str = "127.0.0.1"  # the real server binds 0.0.0.0; we stay on loopback by default
    rest_api_host: str = "127.0.0.1"
    max_request_bytes: int = 64 * 1024 * 1024  # bound on gRPC messages and REST bodies
    max_json_depth: int = 128  # bound on REST JSON nesting
    parent_pid: int = 0  # exit when this process is gone (no orphans when pytest dies)


#: Flags accepted and not acted on, each with why it cannot change what a client sees.
IGNORED: dict[str, str] = {
    "rest_api_num_threads": "REST runs one thread per connection; threads change throughput, not answers",
    "enable_per_model_batching_parameters": "batching only groups requests; answers are the same unbatched",
    "num_load_threads": "models load one after another; the states a client sees are the same",
    "num_unload_threads": "as num_load_threads",
    "flush_filesystem_caches": "a memory optimisation of the C++ file system layer",
    "tensorflow_session_config_file": "session options (devices, threads, memory) of a CPU-only stand-in",
    "platform_config_file": "the emulator has the one TensorFlow platform (session and batching options)",
    "per_process_gpu_memory_fraction": "the emulator runs on CPU",
    "enable_model_warmup": "warm-up replays requests to fill caches; it changes first-request latency only",
    "num_request_iterations_for_warmup": "as enable_model_warmup",
    "remove_unused_fields_from_bundle_metagraph": "a memory optimisation; signatures are kept either way",
    "num_tflite_interpreters_per_pool": "it turns on TFLite batch scheduling, which splits and merges batches "
                                        "without changing outputs",
    "xla_cpu_compilation_enabled": "TensorFlow in the emulator process decides JIT compilation itself",
    "xla_gpu_compilation_enabled": "the emulator runs on CPU",
    "thread_pool_factory_config_file": "custom inter/intra-op thread pools change speed, not results",
    "mixed_precision": "a TPU/GPU precision mode; the emulator runs float models on CPU as exported",
    "skip_initialize_tpu": "no TPU",
}
#: Flags that change the wire protocol: the emulator refuses to start rather than answer in plaintext.
REFUSED: dict[str, str] = {
    "use_alts_credentials": "the emulator serves plaintext gRPC on loopback only; ALTS is not available",
    "ssl_config_file": "the emulator serves plaintext gRPC on loopback only; TLS is not available",
}

_HELP = {
    "port": "TCP port to listen on for gRPC/HTTP API. Disabled if port set to zero.",
    "grpc_socket_path": "If non-empty, listen to a UNIX socket for gRPC API on the given path.",
    "rest_api_port": "Port to listen on for HTTP/REST API. 0 disables REST.",
    "rest_api_timeout_in_ms": "Timeout for HTTP/REST API calls.",
    "model_name": "name of model (ignored if --model_config_file flag is set)",
    "model_base_path": "path to export (ignored if --model_config_file flag is set, otherwise required)",
    "model_config_file": "If non-empty, read an ascii ModelServerConfig protobuf from the supplied file name",
    "model_config_file_poll_wait_seconds": "Interval in seconds between each poll of the model_config_file",
    "monitoring_config_file": "If non-empty, read an ascii MonitoringConfig protobuf from the supplied file name",
    "prefer_tflite_model": "Serve model.tflite from a version directory instead of saved_model.pb if present",
    "enable_profiler": "Enable profiler service.",
    "grpc_host": "(emulator) address to bind gRPC to",
    "rest_api_host": "(emulator) address to bind REST to",
    "parent_pid": "(emulator) exit when the process with this pid is gone",
    "max_request_bytes": "(emulator) largest gRPC message or REST body accepted",
    "max_json_depth": "(emulator) deepest REST JSON nesting accepted",
}


def usage() -> str:
    lines = ["usage: python -m pytest_savedmodel.serving.emulator", "Flags:"]
    for f in fields(Flags):
        note = _HELP.get(f.name, "")
        if f.name in IGNORED:
            note = f"(emulator: accepted, ignored: {IGNORED[f.name]})"
        elif f.name in REFUSED:
            note = f"(emulator: refused: {REFUSED[f.name]})"
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        lines.append(f"\t--{f.name}={f.default!r}\t{kind}\t{note}".rstrip())
    return "\n".join(lines)


def _convert(kind: Any, text: str | None) -> Any:
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
    if kind in (float, "float"):
        return float(text)
    return text


def parse_flags(argv: list[str]) -> tuple[Flags, list[str]]:
    """Parse ``argv``; returns the flags and the unknown arguments. Exits 255 on a bad value and on ``--help``."""
    flags = Flags()
    kinds = {f.name: f.type for f in fields(Flags)}
    unknown: list[str] = []
    for arg in argv:
        if arg == "--help":
            print(usage(), file=sys.stdout, flush=True)
            raise SystemExit(255)
        if not arg.startswith("--"):
            unknown.append(arg)
            continue
        name, sep, value = arg[2:].partition("=")
        kind = kinds.get(name)
        if kind is None or (not sep and kind not in (bool, "bool")):
            unknown.append(arg)
            continue
        try:
            setattr(flags, name, _convert(kind, value if sep else None))
        except ValueError:
            # TensorFlow logs this to stderr (command_line_flags.cc), main.cc prints the usage and returns -1
            print(f"Couldn't interpret value {value} for flag {name}.", file=sys.stderr)
            print(usage(), file=sys.stdout, flush=True)
            raise SystemExit(255) from None
    return flags, unknown

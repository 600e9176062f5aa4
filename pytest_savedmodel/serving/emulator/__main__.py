"""``python -m pytest_savedmodel.serving.emulator``: start like tensorflow_model_server.

Order as in TF Serving: parse flags, load every configured model's aspired
versions (the ports open only once all are AVAILABLE, so "port open" means
"ready"), then gRPC, then REST. A model that cannot load ends the process with
"Failed to start server. Error: ..." on stdout and exit status 255.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pytest_savedmodel.serving.emulator.flags import REFUSED, Flags, parse_flags, usage
from pytest_savedmodel.serving.emulator.status import ServingError

log = logging.getLogger("tfs-emulator")


def _fail(message: str) -> int:
    print(f"Failed to start server. Error: {message}", file=sys.stdout, flush=True)
    return 255


def _configs(flags: Flags) -> list:  # type: ignore[type-arg]
    from pytest_savedmodel.serving.emulator.servables import ModelConfig, configs_from_file, validate_configs

    if flags.model_config_file:
        configs = configs_from_file(flags.model_config_file)
    else:
        if not flags.model_base_path:
            raise ServingError("INVALID_ARGUMENT", "Both server_options.model_base_path and "
                                                   "server_options.model_config_file are empty!")
        configs = [ModelConfig(flags.model_name, flags.model_base_path)]
    validate_configs(configs)
    return configs


def _watch_parent(pid: int, stop: threading.Event) -> None:
    # A parent killed with SIGKILL stays a zombie until its own parent reaps it, and kill(pid, 0) still
    # succeeds on a zombie; but its children are re-parented at once, so a changed getppid() says it too.
    direct = os.getppid() == pid
    while not stop.wait(0.5):
        try:
            os.kill(pid, 0)
            gone = direct and os.getppid() != pid
        except ProcessLookupError:
            gone = True
        except PermissionError:
            gone = False
        if gone:
            log.error("parent process %d is gone; shutting down", pid)
            _exit_now(0)


_CLEANUP: list[Callable[[], None]] = []


def _exit_now(code: int = 0) -> None:
    """os._exit after the cleanups that must not be skipped (the UNIX socket file)."""
    for fn in _CLEANUP:
        try:
            fn()
        except Exception:
            pass
    os._exit(code)


def _poll_config(path: str, manager: Any, every: int, stop: threading.Event) -> None:
    """Server::PollFilesystemAndReloadConfig (server.cc:165-180) every ``every`` seconds; errors are logged."""
    from pytest_savedmodel.serving.emulator.servables import configs_from_file

    while not stop.wait(every):
        try:
            configs = configs_from_file(path)
        except ServingError as exc:
            log.error("Failed to read ModelServerConfig file: %s", exc.message)
            continue
        try:
            manager.reload(configs)
        except ServingError as exc:
            log.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", exc.message)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, datefmt="%Y-%m-%d %H:%M:%S",
                        format="%(asctime)s.%(msecs)03d: %(levelname).1s emulator] %(message)s")
    flags, unknown = parse_flags(sys.argv[1:] if argv is None else argv)
    if flags.version:
        from pytest_savedmodel import __version__
        from pytest_savedmodel._lazy import tf_version

        print(f"TensorFlow ModelServer: pytest-savedmodel-{__version__}-emulator")
        print(f"TensorFlow Library: {tf_version()}")
        return 0
    if unknown:  # main.cc:333-335: reported with the usage, and the server starts anyway
        print(f"unknown argument: {unknown[0]}", file=sys.stdout)
        print(usage(), file=sys.stdout, flush=True)
    stop = threading.Event()
    if flags.parent_pid:
        threading.Thread(target=_watch_parent, args=(flags.parent_pid, stop), daemon=True).start()
    if flags.port == 0 and not flags.grpc_socket_path:
        return _fail("At least one of server_options.grpc_port or server_options.grpc_socket_path must be set.")
    if flags.use_alts_credentials and flags.ssl_config_file:
        return _fail("Either use_alts_credentials must be false or ssl_config_file must be empty.")
    for name, reason in REFUSED.items():
        if getattr(flags, name):
            return _fail(f"--{name} is not supported by the emulator: {reason}")
    if flags.batching_parameters_file and not flags.enable_batching:
        return _fail("Batching parameters file provided without enabling batching (--enable_batching)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        configs = _configs(flags)
    except ServingError as exc:
        return _fail(exc.message)
    from pytest_savedmodel.serving.emulator.core import ServerCore
    from pytest_savedmodel.serving.emulator.servables import AVAILABLE, ModelManager

    intra, inter, both = (flags.tensorflow_intra_op_parallelism, flags.tensorflow_inter_op_parallelism,
                          flags.tensorflow_session_parallelism)
    if intra > 0 and inter > 0 and both > 0:  # server.cc:256-263
        return _fail("Either configure server_options.tensorflow_session_parallelism or "
                     "(server_options.tensorflow_intra_op_parallelism, server_options.tensorflow_inter_op_parallelism) "
                     "separately. You cannot configure all.")
    threads = (intra, inter) if intra > 0 or inter > 0 else (both, both)
    manager = ModelManager(configs, tags=[t for t in flags.saved_model_tags.split(",") if t], threads=threads,
                           max_retries=flags.max_num_load_retries,
                           retry_interval_s=max(0, flags.load_retry_interval_micros) / 1e6,
                           prefer_tflite=flags.prefer_tflite_model, tflite_pools=flags.num_tflite_pools,
                           allow_unavailable_labels=flags.allow_version_labels_for_unavailable_models)
    core = ServerCore(manager, method_name_check=flags.enable_signature_method_name_check,
                      tensor_content=flags.enable_serialization_as_tensor_content)
    poll_every = max(flags.file_system_poll_wait_seconds, 1)
    while True:  # like ServerCore::Create, block until every aspired version is loaded or failed
        manager.poll()
        failed = manager.failures()
        if failed:
            detail = ", ".join(f"{{{{name: {n} version: {v}}} due to error: {e}}}" for n, v, e in failed)
            return _fail(f"{len(failed)} servable(s) did not become available: {{{detail}, }}")
        if manager.all_available():
            break
        time.sleep(poll_every)
    for config in configs:
        for version in config.labels.values():
            state = manager.states[config.name].get(version)
            if (state is None or state.state != AVAILABLE) and not flags.allow_version_labels_for_unavailable_models:
                return _fail(f"Request to assign label to version {version} of model {config.name}, which is not "
                             f"currently available for inference")
    if flags.model_config_file and flags.model_config_file_poll_wait_seconds > 0:  # server.cc:337-349
        threading.Thread(target=_poll_config, args=(flags.model_config_file, manager,
                                                    flags.model_config_file_poll_wait_seconds, stop),
                         name="Server_fs_model_config_poll_thread", daemon=True).start()
    from pytest_savedmodel.serving.emulator.grpc_service import start_grpc_server
    from pytest_savedmodel.serving.emulator.servables import configs_from_proto

    def reload(proto: Any) -> None:
        manager.reload(configs_from_proto(proto))

    try:
        grpc_server = start_grpc_server(core, host=flags.grpc_host, port=flags.port,
                                        max_message_bytes=flags.max_request_bytes,
                                        threads=min(flags.grpc_max_threads, 64), socket_path=flags.grpc_socket_path,
                                        channel_args=flags.grpc_channel_arguments, profiler=flags.enable_profiler,
                                        health=flags.enable_grpc_healthcheck_service, reload=reload)
    except (OSError, RuntimeError) as exc:
        return _fail(f"Failed to BuildAndStart gRPC server: {exc}")
    _CLEANUP.append(grpc_server.remove_socket)
    if flags.enable_profiler:
        log.info("Profiler service is enabled")
    if flags.port:
        print(f"Running gRPC ModelServer at {flags.grpc_host}:{flags.port} ...", file=sys.stderr, flush=True)
    if flags.grpc_socket_path:
        print(f"Running gRPC ModelServer at UNIX socket {flags.grpc_socket_path} ...", file=sys.stderr, flush=True)
    rest = None
    if flags.rest_api_port:
        if flags.rest_api_port == flags.port:
            log.error("--rest_api_port cannot be same as --port. Please use a different port for HTTP/REST API. "
                      "Skipped exporting HTTP/REST API.")
        else:
            from pytest_savedmodel.serving.emulator.metrics import monitoring_path
            from pytest_savedmodel.serving.emulator.rest_api import start_rest_server

            try:
                prometheus = monitoring_path(flags.monitoring_config_file)
                rest = start_rest_server(core, host=flags.rest_api_host, port=flags.rest_api_port,
                                         timeout_ms=flags.rest_api_timeout_in_ms,
                                         enable_cors=flags.rest_api_enable_cors_support,
                                         max_body_bytes=flags.max_request_bytes, max_depth=flags.max_json_depth,
                                         monitoring_path=prometheus)
            except ServingError as exc:  # server.cc:443: an unreadable monitoring config fails the start
                grpc_server.stop(0)
                return _fail(exc.message)
            except OSError as exc:
                grpc_server.stop(0)
                return _fail(f"Failed to start HTTP Server at localhost:{flags.rest_api_port}: {exc}")
            print(f"Exporting HTTP/REST API at:localhost:{flags.rest_api_port} ...", file=sys.stderr, flush=True)

    def shutdown(signum: int, frame: object) -> None:
        stop.set()
        # a graceful stop waits for runs in flight (up to their deadline): never longer than 10 s
        watchdog = threading.Timer(10.0, _exit_now, args=(0,))
        watchdog.daemon = True
        watchdog.start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        while not stop.wait(poll_every if flags.file_system_poll_wait_seconds > 0 else 3600):
            if flags.file_system_poll_wait_seconds > 0:
                manager.poll()
    finally:
        grpc_server.remove_socket()
    if rest is not None:
        rest.shutdown()
    grpc_server.stop(1)
    core.close()
    return 0


def prewarmed(argv: list[str]) -> int:
    """``--prewarm``: import TensorFlow and the server's modules now, then read one JSON line on stdin,
    ``{"argv": [...flags], "log": path}``, send stdout and stderr to ``log`` and start as :func:`main` with those
    flags. The launcher starts such a process before it knows the flags (the models come from collection), so
    that the import (seconds) overlaps pytest's own; an empty stdin (the session needed no server) ends it.
    The ``--parent_pid`` of the command line names the pytest process it belongs to (as every emulator's does)."""
    import json

    try:  # what main() imports; a failure here is met again by main(), which reports it in the log
        from pytest_savedmodel._lazy import import_tf

        import_tf()
        from pytest_savedmodel.serving.emulator import core, grpc_service, rest_api  # noqa: F401
    except Exception:
        pass
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0
    request = json.loads(line)
    fd = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return main([str(a) for a in request["argv"]])


if __name__ == "__main__":
    raise SystemExit(prewarmed(sys.argv[1:]) if sys.argv[1:2] == ["--prewarm"] else main())

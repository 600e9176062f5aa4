"""PredictionService and ModelService over real gRPC, on the tensorflow-serving-api generated stubs.

As ``model_servers/server.cc:373-430``: a TCP port (unless ``--port=0``) and/or a UNIX socket
(``--grpc_socket_path``, served as ``unix:<path>``), ``--grpc_channel_arguments`` passed to the server as
``key=value`` pairs (an int when the value parses as one, else a string; server.cc:101-111,398-409), the profiler
service unless ``--enable_profiler=false`` and the standard health service with
``--enable_grpc_healthcheck_service``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from pytest_savedmodel.serving.emulator.core import ServerCore
from pytest_savedmodel.serving.emulator.metrics import METRICS
from pytest_savedmodel.serving.emulator.servables import RUN_TIMEOUT_MS
from pytest_savedmodel.serving.emulator.status import CODE_NUMBERS, ServingError, truncate_for_grpc

__all__ = ["GrpcServer", "channel_arguments", "start_grpc_server"]


def _call(context: Any, fn: Callable[[Any], Any], request: Any, api: str = "") -> Any:
    """Run ``fn(request)``; errors become the gRPC status TF Serving gives. With ``api`` (Predict, Classify,
    Regress) the request is counted and, when it succeeds, timed (prediction_service_impl.cc:41-61)."""
    remaining = context.time_remaining()  # None, or about 2**63 ns, without a deadline
    # TF Serving bounds the session run by the client's deadline (DeadlineToTimeoutMillis)
    bounded = remaining is not None and remaining < 10**8
    token = RUN_TIMEOUT_MS.set(max(1, int(remaining * 1000)) if bounded else 0)
    start = time.monotonic()
    code = "OK"
    try:
        response = fn(request)
        if api:
            METRICS.request_latency(request.model_spec.name, api, "GRPC", (time.monotonic() - start) * 1e6)
        return response
    except ServingError as exc:
        code = exc.code
        context.abort(getattr(grpc.StatusCode, exc.code, grpc.StatusCode.UNKNOWN), truncate_for_grpc(exc.message))
    except MemoryError:  # TF Serving answers an allocation failure with TF's RESOURCE_EXHAUSTED
        code = "RESOURCE_EXHAUSTED"
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "OOM when allocating the request's tensors or outputs")
    except Exception as exc:  # never let a request kill the server; report it as TF Serving would
        code = "INTERNAL"
        context.abort(grpc.StatusCode.INTERNAL, truncate_for_grpc(f"{type(exc).__name__}: {exc}"))
    finally:
        RUN_TIMEOUT_MS.reset(token)
        if api:
            METRICS.request(request.model_spec.name, code)


class _Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):  # type: ignore[misc]
    def __init__(self, core: ServerCore) -> None:
        self.core = core

    def Predict(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.predict, request, "Predict")

    def Classify(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.classify, request, "Classify")

    def Regress(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.regress, request, "Regress")

    def MultiInference(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.multi_inference, request)

    def GetModelMetadata(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.get_model_metadata, request)


class _Model(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    def __init__(self, core: ServerCore, reload: Callable[[Any], None] | None) -> None:
        self.core = core
        self.reload = reload

    def GetModelStatus(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.get_model_status, request)

    def HandleReloadConfigRequest(self, request: Any, context: Any) -> Any:
        """model_service_impl.cc:43-85: only a model_config_list; the response's status mirrors the RPC's, and
        ``metric_names`` come back with their increase over the reload."""
        from tensorflow_serving.apis import model_management_pb2

        before = {n: METRICS.value(n) for n in request.metric_names}
        error: ServingError | None = None
        if request.config.WhichOneof("config") != "model_config_list":
            error = ServingError("INVALID_ARGUMENT", "ServerModelConfig type not supported by "
                                                     "HandleReloadConfigRequest. Only ModelConfigList is currently "
                                                     "supported")
        elif self.reload is None:
            error = ServingError("FAILED_PRECONDITION", "Cannot transition to requested config. It is only legal "
                                                        "to transition from one ModelConfigList to another.")
        else:
            try:
                self.reload(request.config)
            except ServingError as exc:
                error = exc
        response = model_management_pb2.ReloadConfigResponse()
        for name in request.metric_names:
            metric = response.metric.add()
            metric.name = name
            metric.int64_value_increase = METRICS.value(name) - before[name]
        if error is not None:
            response.status.error_code = CODE_NUMBERS.get(error.code, 2)
            response.status.error_message = error.message
            context.set_code(getattr(grpc.StatusCode, error.code, grpc.StatusCode.UNKNOWN))
            context.set_details(truncate_for_grpc(error.message))
        return response


def channel_arguments(text: str) -> list[tuple[str, Any]]:
    """``--grpc_channel_arguments``: ``k=v,k=v``; a value that parses as an int is passed as one."""
    out: list[tuple[str, Any]] = []
    for item in (text.split(",") if text else []):
        key, _, value = item.partition("=")
        try:
            out.append((key, int(value)))
        except ValueError:
            out.append((key, value))
    return out


def _health_handler() -> Any:
    """grpc.health.v1.Health/Check, as grpc::EnableDefaultHealthCheckService with "ModelService" and
    "PredictionService" set SERVING (server.cc:415-424): those and "" are SERVING (1), others NOT_FOUND."""
    from pytest_savedmodel.serving.emulator.protos import messages

    m = messages()
    req_cls, resp_cls = m["grpc.health.v1.HealthCheckRequest"], m["grpc.health.v1.HealthCheckResponse"]

    def check(request: Any, context: Any) -> Any:
        if request.service not in ("", "ModelService", "PredictionService"):
            context.abort(grpc.StatusCode.NOT_FOUND, "service name unknown")
        return resp_cls(status=1)

    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(check, request_deserializer=req_cls.FromString,
                                                     response_serializer=resp_cls.SerializeToString)})


class GrpcServer:
    """The running gRPC server: ``.stop()`` also removes the UNIX socket file it created (if still its own)."""

    def __init__(self, server: Any, socket_path: str) -> None:
        self.server = server
        self.socket_path = socket_path
        self._socket_id: tuple[int, int] | None = None
        if socket_path:
            try:
                st = os.stat(socket_path)
                self._socket_id = (st.st_dev, st.st_ino)
            except OSError:
                pass

    def remove_socket(self) -> None:
        """Unlink the socket file if it is the one this server bound (another server may have taken the path)."""
        if not self.socket_path or self._socket_id is None:
            return
        try:
            st = os.stat(self.socket_path)
            if (st.st_dev, st.st_ino) == self._socket_id:
                os.unlink(self.socket_path)
        except OSError:
            pass

    def stop(self, grace: float = 1.0) -> None:
        self.server.stop(grace).wait(grace + 1)
        self.remove_socket()


def start_grpc_server(core: ServerCore, *, host: str, port: int, max_message_bytes: int, threads: int = 8,
                      socket_path: str = "", channel_args: str = "", profiler: bool = False,
                      health: bool = False, reload: Callable[[Any], None] | None = None) -> GrpcServer:
    """Start the gRPC server on ``host:port`` (unless 0) and ``unix:socket_path`` (if given)."""
    options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", max_message_bytes),
                                      ("grpc.max_send_message_length", max_message_bytes)]
    options += channel_arguments(channel_args)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max(1, threads)), options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_Prediction(core), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(_Model(core, reload), server)
    if profiler:
        from pytest_savedmodel.serving.emulator.profiler import profiler_handler

        server.add_generic_rpc_handlers((profiler_handler(),))
    if health:
        server.add_generic_rpc_handlers((_health_handler(),))
    for address, failure in ((f"{host}:{port}" if port else "", f"{host}:{port} (address in use?)"),
                             (f"unix:{socket_path}" if socket_path else "", f"the UNIX socket {socket_path}")):
        if not address:
            continue
        try:  # grpcio returns 0 or raises RuntimeError, depending on version and address kind
            bound = server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        if bound == 0:
            server.stop(0)
            raise OSError(f"could not bind gRPC to {failure}")
    server.start()
    return GrpcServer(server, socket_path)

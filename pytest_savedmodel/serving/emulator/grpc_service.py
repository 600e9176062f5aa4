"""PredictionService and ModelService over real gRPC, on the tensorflow-serving-api generated stubs."""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from pytest_savedmodel.serving.emulator.core import ServerCore
from pytest_savedmodel.serving.emulator.servables import RUN_TIMEOUT_MS
from pytest_savedmodel.serving.emulator.status import ServingError, truncate_for_grpc

__all__ = ["start_grpc_server"]


def _call(context: Any, fn: Callable[[Any], Any], request: Any) -> Any:
    remaining = context.time_remaining()  # None, or about 2**63 ns, without a deadline
    # TF Serving bounds the session run by the client's deadline (DeadlineToTimeoutMillis)
    bounded = remaining is not None and remaining < 10**8
    token = RUN_TIMEOUT_MS.set(max(1, int(remaining * 1000)) if bounded else 0)
    try:
        return fn(request)
    except ServingError as exc:
        context.abort(getattr(grpc.StatusCode, exc.code, grpc.StatusCode.UNKNOWN), truncate_for_grpc(exc.message))
    except MemoryError:  # TF Serving answers an allocation failure with TF's RESOURCE_EXHAUSTED
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "OOM when allocating the request's tensors or outputs")
    except Exception as exc:  # never let a request kill the server; report it as TF Serving would
        context.abort(grpc.StatusCode.INTERNAL, truncate_for_grpc(f"{type(exc).__name__}: {exc}"))
    finally:
        RUN_TIMEOUT_MS.reset(token)


class _Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):  # type: ignore[misc]
    def __init__(self, core: ServerCore) -> None:
        self.core = core

    def Predict(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.predict, request)

    def Classify(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.classify, request)

    def Regress(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.regress, request)

    def MultiInference(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.multi_inference, request)

    def GetModelMetadata(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.get_model_metadata, request)


class _Model(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    def __init__(self, core: ServerCore) -> None:
        self.core = core

    def GetModelStatus(self, request: Any, context: Any) -> Any:
        return _call(context, self.core.get_model_status, request)

    def HandleReloadConfigRequest(self, request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "HandleReloadConfigRequest is not supported by the emulator")


def start_grpc_server(core: ServerCore, *, host: str, port: int, max_message_bytes: int, threads: int = 8) -> Any:
    """Start the gRPC server; returns the ``grpc.Server`` (already started)."""
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads), options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_Prediction(core), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(_Model(core), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind gRPC to {host}:{port} (address in use?)")
    server.start()
    return server

"""Small gRPC helpers shared by the launcher and the gRPC runner (imported lazily)."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_MESSAGE", "channel", "model_versions"]

MAX_MESSAGE = 256 * 1024 * 1024
_STATES = {0: "UNKNOWN", 10: "START", 20: "LOADING", 30: "AVAILABLE", 40: "UNLOADING", 50: "END"}


def channel(target: str) -> Any:
    """An insecure channel with TF Serving-sized message limits."""
    import grpc

    return grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                                  ("grpc.max_send_message_length", MAX_MESSAGE)])


def model_versions(target: str, name: str, *, timeout: float = 5.0) -> list[tuple[int, str, str]]:
    """GetModelStatus for ``name``: ``[(version, state name, error message)]``, newest first."""
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    with channel(target) as ch:
        stub = model_service_pb2_grpc.ModelServiceStub(ch)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        response = stub.GetModelStatus(request, timeout=timeout)
    return [(int(v.version), _STATES.get(int(v.state), str(v.state)), v.status.error_message)
            for v in response.model_version_status]

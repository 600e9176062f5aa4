"""The gRPC runner: TF Serving's PredictionService through the tensorflow-serving-api stubs.

Example:
    >>> with GrpcRunner(sig, target="127.0.0.1:8500", model_name="half") as r:
    ...     r.predict({"x": np.array([2.0, 3.0], np.float32)})["y"]
    array([3. , 3.5], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_savedmodel.deadline import call_timeout, timeout_finding
from pytest_savedmodel.errors import RunnerError, UsageError
from pytest_savedmodel.runners.base import Provider, Runner, Target, sendable_inputs
from pytest_savedmodel.spec import Features, Outputs, ParseSpec, SignatureSpec

__all__ = ["PROVIDER", "GrpcRunner"]

METHODS = ("predict", "classify", "regress")


class GrpcRunner(Runner):
    """Predict, Classify or Regress over real gRPC against any TF Serving, at ``host:port`` or, for a server started
    with ``--grpc_socket_path``, ``unix:/path/to.sock``.

    Classify and Regress outputs are TF Serving's answer as it is (see
    :mod:`pytest_savedmodel.serving.shape_rules`): ``outputs`` one float32 per example (``[N]``, whatever rank the
    signature declares), ``classes`` ``[N, num_classes]`` labels as bytes and ``scores`` ``[N, num_classes]``
    float32 (``scores`` alone when the signature has neither output named).
    """

    name = "grpc"

    def __init__(self, signature: SignatureSpec, *, target: str, model_name: str, version: int | None = None,
                 version_label: str | None = None, method: str = "predict", timeout: float | None = None,
                 parse_spec: ParseSpec | None = None, name: str | None = None) -> None:
        if method not in METHODS:
            raise UsageError(f"GrpcRunner(method={method!r}): use one of {', '.join(METHODS)}")
        self.signature = signature
        self.target, self.model_name = target, model_name
        self.version, self.version_label = version, version_label
        self.method, self.timeout = method, timeout
        self.parse_spec = parse_spec or signature.parse_spec
        if method != "predict" and self.parse_spec is None:
            raise UsageError(f"GrpcRunner(method={method!r}) needs the tf.Example parse spec of signature "
                             f"{signature.key!r} (none was recovered; pass parse_spec=)")
        self.name = name or (f"grpc-{method}" if method != "predict" else "grpc")
        self._channel: Any = None
        self._stub: Any = None

    @property
    def stub(self) -> Any:
        if self._stub is None:
            from tensorflow_serving.apis import prediction_service_pb2_grpc

            from pytest_savedmodel.serving.client import channel

            self._channel = channel(self.target)
            self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        return self._stub

    def _spec(self, target: Any) -> None:
        target.name = self.model_name
        target.signature_name = self.signature.key
        if self.version is not None:
            target.version.value = self.version
        elif self.version_label:
            target.version_label = self.version_label

    @property
    def deadline(self) -> float:
        """The gRPC deadline of a call: ``timeout=``, else ``--savedmodel-timeout``."""
        return self.timeout if self.timeout is not None else call_timeout()

    def _call(self, rpc: str, request: Any, features: Features | None = None) -> Any:
        import grpc

        try:
            return getattr(self.stub, rpc)(request, timeout=self.deadline)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            if code == grpc.StatusCode.DEADLINE_EXCEEDED and features is not None:
                # TF Serving turns the client's deadline into the session-run timeout: the model ran out of time
                raise timeout_finding(self.name, f"model {self.model_name!r} at {self.target}", self.signature.key,
                                      features, self.deadline) from None
            hint = ""
            if code == grpc.StatusCode.UNAVAILABLE:
                hint = " (the server is not answering: did it crash or stop? see its log)"
            elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
                hint = f" (no answer within {self.deadline:g} s: the server is busy or stalled)"
            raise RunnerError(
                f"{self.name} runner: {rpc} of model {self.model_name!r} signature {self.signature.key!r} at "
                f"{self.target} failed with {getattr(code, 'name', code)}: {details}{hint}",
                runner=self.name, signature=self.signature.key,
                reason=details if code == grpc.StatusCode.INVALID_ARGUMENT else "",
            ) from None

    def predict(self, features: Features) -> Outputs:
        if self.method == "predict":
            return self._predict(features)
        return self._examples(features)

    def _predict(self, features: Features) -> Outputs:
        from tensorflow_serving.apis import predict_pb2

        from pytest_savedmodel.serving.tensorproto import from_proto, to_proto

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec)
        for alias, value in features.items():
            spec = self.signature.inputs.get(alias)
            enum = spec.dtype.enum if spec is not None and spec.dtype.numpy is not None else None
            to_proto(value, dtype_enum=enum, out=request.inputs[alias])  # written in place: no copy
        response = self._call("Predict", request, features)
        return {alias: from_proto(t) for alias, t in response.outputs.items()}

    def _input(self, features: Features, target: Any) -> None:
        from tensorflow.core.example import example_pb2

        from pytest_savedmodel.tfexample import encode_examples

        for data in encode_examples(features, self.parse_spec):
            target.example_list.examples.append(example_pb2.Example.FromString(data))

    def _examples(self, features: Features) -> Outputs:
        from tensorflow_serving.apis import classification_pb2, regression_pb2

        if self.method == "classify":
            request = classification_pb2.ClassificationRequest()
            self._spec(request.model_spec)
            self._input(features, request.input)
            result = self._call("Classify", request, features).result
            out: Outputs = {}
            rows = list(result.classifications)
            if "classes" in self.signature.outputs:
                classes = np.empty((len(rows), len(rows[0].classes) if rows else 0), dtype=object)
                for i, c in enumerate(rows):
                    classes[i, :] = [cl.label.encode() for cl in c.classes]
                out["classes"] = classes
            if "scores" in self.signature.outputs or not out:
                scores = np.asarray([[cl.score for cl in c.classes] for c in rows], dtype=np.float32)
                out["scores"] = scores
            return out
        request = regression_pb2.RegressionRequest()
        self._spec(request.model_spec)
        self._input(features, request.input)
        result = self._call("Regress", request, features).result
        return {"outputs": np.asarray([r.value for r in result.regressions], dtype=np.float32)}

    def metadata(self) -> dict[str, Any]:
        """GetModelMetadata: ``{"model_spec": ..., "signature_def": {name: SignatureDef proto}}``."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = self.model_name
        if self.version is not None:
            request.model_spec.version.value = self.version
        response = self._call("GetModelMetadata", request)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return {"model_spec": response.model_spec, "signature_def": dict(sig_map.signature_def)}

    def status(self) -> list[tuple[int, str, str]]:
        """GetModelStatus: ``[(version, state, error message)]``."""
        from pytest_savedmodel.serving.client import model_versions

        return model_versions(self.target, self.model_name, timeout=self.deadline)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = self._stub = None


def _open(target: Target) -> GrpcRunner:
    return GrpcRunner(target.signature, target=target.server.grpc_target, model_name=target.model_name,
                      version=target.version, method=target.method)


PROVIDER = Provider("grpc", "server", _open, doc="TF Serving's gRPC PredictionService",
                    on_twins=True, golden=True, methods=("predict", "classify", "regress"), accepts=sendable_inputs,
                    enabled=lambda settings: settings.server.strip().lower() != "none")

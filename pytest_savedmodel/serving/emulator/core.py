"""The request handlers of TF Serving, at the protobuf level: gRPC calls them directly, REST via JSON.

Wording of every error follows TF Serving's source (``predict_util.cc``,
``classifier.cc``, ``regressor.cc``, ``util.cc``, ``multi_inference.cc``,
``get_model_metadata_impl.cc``, ``get_model_status_impl.cc`` and TensorFlow's
``cc/saved_model/util.cc``). Predict does not check dtypes or shapes against
the signature: the request tensor is fed as sent, and TensorFlow's own error
comes back, as from the real server.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pytest_savedmodel.serving.emulator.metrics import METRICS
from pytest_savedmodel.serving.emulator.servables import AVAILABLE, Loaded, ModelManager
from pytest_savedmodel.serving.emulator.status import ServingError
from pytest_savedmodel.serving.shape_rules import Rejection, classification_answer, regression_answer
from pytest_savedmodel.serving.tensorproto import from_proto, to_proto

__all__ = ["ServerCore", "ndarray_to_proto", "proto_to_ndarray"]

PREDICT, CLASSIFY, REGRESS = ("tensorflow/serving/predict", "tensorflow/serving/classify",
                              "tensorflow/serving/regress")
DEFAULT_SIGNATURE = "serving_default"


@functools.cache
def _pb() -> Any:
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        inference_pb2,
        predict_pb2,
        regression_pb2,
    )

    class Protos:
        predict, classification, regression = predict_pb2, classification_pb2, regression_pb2
        inference, metadata, status = inference_pb2, get_model_metadata_pb2, get_model_status_pb2

    return Protos


def proto_to_ndarray(alias: str, proto: Any) -> np.ndarray:
    """A request TensorProto as numpy, keeping the proto's dtype (TF's Tensor::FromProto)."""
    try:
        return from_proto(proto)
    except Exception:
        raise ServingError("INVALID_ARGUMENT", f"tensor parsing error: {alias}") from None


def ndarray_to_proto(value: Any, *, as_content: bool = False, out: Any = None) -> Any:
    """A fetched tensor as TF Serving writes it: typed fields (AsProtoField) or tensor_content (into ``out``)."""
    return to_proto(value, as_content=as_content, out=out)


#: dtypes whose arrays read back from a response proto unchanged (``from_proto``'s direct path)
_SAME_THROUGH_PROTO = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_))


def _model_spec(target: Any, name: str, version: int, signature: str | None) -> None:
    target.name = name
    target.version.value = version
    if signature is not None:
        target.signature_name = signature


def _serialized_examples(input_proto: Any) -> np.ndarray:
    """Input{example_list | example_list_with_context} -> 1-D string tensor (context bytes prepended)."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        items = [e.SerializeToString() for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        ctx = input_proto.example_list_with_context.context.SerializeToString()
        items = [ctx + e.SerializeToString() for e in input_proto.example_list_with_context.examples]
    else:
        items = []
    if not items:
        raise ServingError("INVALID_ARGUMENT", "Input is empty.")
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


class ServerCore:
    """Answers PredictionService and ModelService calls for the models a :class:`ModelManager` holds."""

    def __init__(self, manager: ModelManager, *, method_name_check: bool = False,
                 tensor_content: bool = False) -> None:
        self.manager = manager
        self.method_name_check = method_name_check
        self.tensor_content = tensor_content

    def resolve(self, request: Any) -> Loaded:
        return self.manager.resolve(request.model_spec, has_spec=request.HasField("model_spec"))

    # ------------------------------------------------------------------ Predict
    def predict(self, request: Any) -> Any:
        servable, name, aliases, values = self._predict(request, request.inputs)
        pb = _pb()
        response = pb.predict.PredictResponse()
        _model_spec(response.model_spec, request.model_spec.name, servable.version, name)
        for alias, value in zip(aliases, values, strict=True):  # written in place: no copy of each output
            ndarray_to_proto(value, as_content=self.tensor_content, out=response.outputs[alias])
        return response

    def predict_arrays(self, request: Any, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Predict for the REST API: ``inputs`` (TensorProtos or numpy arrays, e.g. from the JSON fast path)
        stand for ``request.inputs``; the outputs come back as the numpy arrays ``predict``'s response protos
        would be read as (float, double, int32, int64 and bool arrays directly; the others through the proto)."""
        _, _, aliases, values = self._predict(request, inputs)
        out: dict[str, np.ndarray] = {}
        for alias, value in zip(aliases, values, strict=True):
            arr = np.asarray(value)
            out[alias] = arr if arr.dtype in _SAME_THROUGH_PROTO else proto_to_ndarray(
                alias, ndarray_to_proto(arr, as_content=self.tensor_content))
        return out

    def _predict(self, request: Any, inputs: Mapping[str, Any]) -> tuple[Loaded, str, list[str], list[Any]]:
        """Check a Predict request against its signature and run it: (servable, signature, aliases, values)."""
        servable = self.resolve(request)
        name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        sig = servable.signature_def(name)
        if sig is None:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
        if self.method_name_check and sig.method_name not in (PREDICT, CLASSIFY, REGRESS):
            raise ServingError("INTERNAL", f"Expected prediction signature method_name to be one of {{{PREDICT}, "
                                           f"{CLASSIFY}, {REGRESS}}}. Was: {sig.method_name}")
        req_keys, sig_keys = set(inputs), set(sig.inputs)
        defaults = dict(sig.defaults) if hasattr(sig, "defaults") else {}
        if len(req_keys) > len(sig_keys) or (len(req_keys) < len(sig_keys) and not defaults):
            j = ",".join
            raise ServingError(
                "INVALID_ARGUMENT",
                f"input size does not match signature: {len(req_keys)}!={len(sig_keys)} len({{{j(sorted(req_keys))}}})"
                f" != len({{{j(sorted(sig_keys))}}}). Sent extra: {{{j(sorted(req_keys - sig_keys))}}}. "
                f"Missing but required: {{{j(sorted(sig_keys - req_keys))}}}.")
        feeds: dict[str, Any] = {}
        seen = set()
        for alias in sorted(sig.inputs):
            info = sig.inputs[alias]
            if alias in inputs:
                given = inputs[alias]
                feeds[info.name] = given if isinstance(given, np.ndarray) else proto_to_ndarray(alias, given)
                seen.add(alias)
            elif alias in defaults:
                feeds[info.name] = proto_to_ndarray(alias, defaults[alias])
            else:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"Signature input alias: {alias}(feed name: {info.name}) not found in request and no default "
                    f"value provided. Inputs expected to be in the request {{{','.join(sorted(req_keys))}}}, or "
                    f"default input alias set: {','.join(sorted(defaults))}")
        if req_keys and len(seen) != len(req_keys):
            used, sent = ",".join(sorted(seen)), ",".join(sorted(req_keys))
            raise ServingError("INVALID_ARGUMENT",
                               f"Inputs contains invalid name. Used request inputs: {used}, request input: {sent}")
        aliases: list[str] = []
        for alias in request.output_filter:
            if alias not in sig.outputs:
                known = ",".join(sorted(sig.outputs))
                raise ServingError("INVALID_ARGUMENT", f"output tensor alias not found in signature: {alias} Outputs "
                                                       f"expected to be in the set {{{known}}}.")
            if alias in aliases:
                raise ServingError("INVALID_ARGUMENT", f"duplicate output tensor alias: {alias}")
            aliases.append(alias)
        aliases = aliases or sorted(sig.outputs)
        start = time.monotonic()
        values = servable.run(feeds, [sig.outputs[a].name for a in aliases])
        METRICS.runtime_latency(request.model_spec.name, "Predict", (time.monotonic() - start) * 1e6)
        return servable, name, aliases, values

    # ------------------------------------------------------------------ Classify / Regress
    def _signature(self, servable: Loaded, spec: Any) -> tuple[str, Any]:
        name = spec.signature_name or DEFAULT_SIGNATURE
        sig = servable.signature_def(name)
        if sig is None:
            raise ServingError("INVALID_ARGUMENT", f"No signature was found with the name: {name}")
        return name, sig

    def _check_method(self, sig: Any, want: str, what: str) -> None:
        if self.method_name_check and sig.method_name != want:
            raise ServingError("INVALID_ARGUMENT", f"Expected {what} signature method_name to be {want}. Was: "
                                                   f"{sig.method_name}")

    def _classify_io(self, sig: Any) -> tuple[str, list[tuple[str, str]]]:
        self._check_method(sig, CLASSIFY, "classification")
        if len(sig.inputs) != 1:
            raise ServingError("INVALID_ARGUMENT", "Expected one input Tensor.")
        if len(sig.outputs) not in (1, 2):
            raise ServingError("INVALID_ARGUMENT", f"Expected one or two output Tensors, found {len(sig.outputs)}")
        if "inputs" not in sig.inputs:
            raise ServingError("INVALID_ARGUMENT", f"No classification inputs found in SignatureDef: {sig}")
        outs = [(k, sig.outputs[k].name) for k in ("classes", "scores") if k in sig.outputs]
        if not outs:
            raise ServingError("INVALID_ARGUMENT", 'Expected classification signature outputs to contain at least '
                                                   f'one of "classes" or "scores". Signature was: {sig}')
        return sig.inputs["inputs"].name, outs

    def _regress_io(self, sig: Any) -> tuple[str, list[tuple[str, str]]]:
        self._check_method(sig, REGRESS, "regression")
        if len(sig.inputs) != 1:
            raise ServingError("INVALID_ARGUMENT", "Expected one input Tensor.")
        if len(sig.outputs) != 1:
            raise ServingError("INVALID_ARGUMENT", "Expected one output Tensor.")
        if "inputs" not in sig.inputs:
            raise ServingError("INVALID_ARGUMENT", f"No regression inputs found in SignatureDef: {sig}")
        if "outputs" not in sig.outputs:
            raise ServingError("INVALID_ARGUMENT", f"No regression outputs found in SignatureDef: {sig}")
        return sig.inputs["inputs"].name, [("outputs", sig.outputs["outputs"].name)]

    @staticmethod
    def _classifications(result: Any, fetched: dict[str, np.ndarray], n: int) -> None:
        """classifier.cc PostProcessClassificationResult (rule and words: serving/shape_rules.py)."""
        try:
            labels, scores = classification_answer(fetched.get("classes"), fetched.get("scores"), n)
        except Rejection as exc:
            raise ServingError(exc.code, exc.message) from None
        width = (labels if labels is not None else scores).shape[1]  # type: ignore[union-attr]
        for i in range(n):
            cs = result.classifications.add()
            for c in range(width):
                cl = cs.classes.add()
                if labels is not None:
                    cl.label = labels[i, c].decode("utf-8", "replace")
                if scores is not None:
                    cl.score = float(scores[i, c])

    @staticmethod
    def _regressions(result: Any, out: np.ndarray, n: int) -> None:
        """regressor.cc PostProcessRegressionResult (rule and words: serving/shape_rules.py)."""
        try:
            values = regression_answer(out, n)
        except Rejection as exc:
            raise ServingError(exc.code, exc.message) from None
        for v in values:
            result.regressions.add().value = float(v)

    def _run_examples(self, servable: Loaded, request: Any, input_name: str,
                      outs: Iterable[tuple[str, str]], api: str) -> tuple[dict[str, np.ndarray], int]:
        examples = _serialized_examples(request.input)
        outs = list(outs)
        start = time.monotonic()
        values = servable.run({input_name: examples}, [t for _, t in outs])
        METRICS.runtime_latency(request.model_spec.name, api, (time.monotonic() - start) * 1e6)
        return {k: np.asarray(v) for (k, _), v in zip(outs, values, strict=True)}, len(examples)

    def classify(self, request: Any) -> Any:
        servable = self.resolve(request)
        name, sig = self._signature(servable, request.model_spec)
        input_name, outs = self._classify_io(sig)
        fetched, n = self._run_examples(servable, request, input_name, outs, "Classify")
        response = _pb().classification.ClassificationResponse()
        _model_spec(response.model_spec, request.model_spec.name, servable.version, name)
        self._classifications(response.result, fetched, n)
        return response

    def regress(self, request: Any) -> Any:
        servable = self.resolve(request)
        name, sig = self._signature(servable, request.model_spec)
        input_name, outs = self._regress_io(sig)
        fetched, n = self._run_examples(servable, request, input_name, outs, "Regress")
        response = _pb().regression.RegressionResponse()
        _model_spec(response.model_spec, request.model_spec.name, servable.version, name)
        self._regressions(response.result, fetched["outputs"], n)
        return response

    def multi_inference(self, request: Any) -> Any:
        model = ""
        signatures: list[str] = []
        for task in request.tasks:
            if not task.model_spec.name:
                raise ServingError("INVALID_ARGUMENT", "Found ModelSpec with an empty model name.")
            if model and task.model_spec.name != model:
                raise ServingError("INVALID_ARGUMENT", "All ModelSpecs in a MultiInferenceRequest must access the "
                                                       "same model name.")
            model = task.model_spec.name
            signatures.append(task.model_spec.signature_name or DEFAULT_SIGNATURE)
        if not request.tasks:
            raise ServingError("INVALID_ARGUMENT", "Found ModelSpec with an empty model name.")
        servable = self.manager.resolve(request.tasks[0].model_spec)
        plans: list[tuple[Any, str, Any, str, list[tuple[str, str]]]] = []
        for task, name in zip(request.tasks, signatures, strict=True):
            if name in [p[1] for p in plans]:
                raise ServingError("INVALID_ARGUMENT", f"Duplicate evaluation of signature: {name}")
            sig = servable.signature_def(name)
            if sig is None:
                raise ServingError("INVALID_ARGUMENT", f"Requested signature not found in model graph: {name}")
            if task.method_name == CLASSIFY:
                plans.append((task, name, sig, *self._classify_io(sig)))
            elif task.method_name == REGRESS:
                plans.append((task, name, sig, *self._regress_io(sig)))
            else:
                raise ServingError("UNIMPLEMENTED", f"Unsupported signature method_name: {task.method_name}")
        # one session run: the same serialized examples feed every task's input tensor
        examples = _serialized_examples(request.input)
        METRICS.examples(model, len(examples))
        all_outs = sorted({t for p in plans for _, t in p[4]})
        values = servable.run({p[3]: examples for p in plans}, all_outs)
        fetched_by_name = {t: np.asarray(v) for t, v in zip(all_outs, values, strict=True)}
        n = len(examples)
        response = _pb().inference.MultiInferenceResponse()
        for task, name, _sig, _inp, outs in plans:
            r = response.results.add()
            _model_spec(r.model_spec, task.model_spec.name, servable.version, name)
            fetched = {k: fetched_by_name[t] for k, t in outs}
            if task.method_name == CLASSIFY:
                self._classifications(r.classification_result, fetched, n)
            else:
                self._regressions(r.regression_result, fetched["outputs"], n)
        return response

    # ------------------------------------------------------------------ metadata & status
    def get_model_metadata(self, request: Any) -> Any:
        if not request.HasField("model_spec"):
            raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
        if not request.metadata_field:
            raise ServingError("INVALID_ARGUMENT", "GetModelMetadataRequest must specify at least one metadata_field")
        for f in request.metadata_field:
            if f != "signature_def":
                raise ServingError("INVALID_ARGUMENT", f"Metadata field {f} is not supported")
        servable = self.manager.resolve(request.model_spec)
        pb = _pb()
        sig_map = pb.metadata.SignatureDefMap()
        for k, v in servable.meta_graph_def.signature_def.items():
            sig_map.signature_def[k].CopyFrom(v)
        response = pb.metadata.GetModelMetadataResponse()
        _model_spec(response.model_spec, servable.name, servable.version, None)
        response.metadata["signature_def"].Pack(sig_map)
        return response

    def get_model_status(self, request: Any) -> Any:
        if not request.HasField("model_spec"):
            raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
        name = request.model_spec.name
        states = self.manager.states.get(name, {})
        pb = _pb()
        response = pb.status.GetModelStatusResponse()
        if request.model_spec.WhichOneof("version_choice") == "version":
            v = request.model_spec.version.value
            if v not in states:
                raise ServingError("NOT_FOUND", f"Could not find version {v} of model {name}")
            chosen = [states[v]]
        else:
            if not states:
                raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
            chosen = [states[v] for v in sorted(states, reverse=True)]
        for st in chosen:
            entry = response.model_version_status.add()
            entry.version = st.version
            entry.state = st.state
            entry.status.error_code = st.error_code
            entry.status.error_message = st.error_message
        return response

    def available(self) -> bool:
        """True once every configured model has its aspired versions AVAILABLE."""
        return self.manager.all_available() and all(
            any(s.state == AVAILABLE for s in vs.values()) for vs in self.manager.states.values())

    def close(self) -> None:
        self.manager.close()


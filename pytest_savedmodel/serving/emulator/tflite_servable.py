"""A version served from ``model.tflite`` (``--prefer_tflite_model``), as TF Serving's TfLiteSession does.

From ``servables/tensorflow/saved_model_bundle_factory.cc:55-88,132-176``: with the flag, a version directory
holding ``model.tflite`` is loaded from that file instead of ``saved_model.pb`` (a directory without it falls back
to the SavedModel). From ``servables/tensorflow/tflite_session.cc``:

* Signatures (Create, lines 424-505): the SignatureDefs stored in the flatbuffer's ``signature_defs_metadata``
  (a flexbuffer map name -> serialized SignatureDef, TFLite's ``signature_def_util.cc``); each tensor name is
  checked against the interpreter's tensors, trying it without its ``:0`` suffix too (FixTfLiteTensorName,
  lines 100-117); an unknown one fails the load with INTERNAL "Unknown tensor '<name>'." plus
  "Signature input <alias> references an unknown tensor". A model without that metadata gets one generated
  ``serving_default`` signature (method predict): every input and output tensor, aliased by its name without
  the ``:0`` suffix, with its dtype and dims. (TFLite's newer SignatureRunner signatures are not read, as there.)
* Run (lines 192-260): an input tensor whose dims or byte size differ from the interpreter's is resized to the
  request's dims and the tensors reallocated ("Failed to resize input tensor: ..." / "Failed to allocate
  tensors"), then invoked ("Failed to invoke TfLite interpreter"), all INTERNAL. Outputs keep the interpreter's
  dtype and dims. String inputs are fed as strings.
* Interpreters come from a pool of ``--num_tflite_pools`` (lines 507-509).

The real server copies the request's bytes without looking at their dtype (tflite_session.cc:226-235); here a
request tensor of another dtype than the model's input is refused with INVALID_ARGUMENT rather than fed as raw
memory (the emulator's own words, see :func:`TfLiteServable.run`).

The interpreter is the project's: LiteRT's when ``ai-edge-litert`` is importable, else ``tf.lite.Interpreter``
(:func:`pytest_savedmodel.runners._tflite.interpreter_class`).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np

from pytest_savedmodel.serving.emulator.status import ServingError

__all__ = ["TFLITE_FILE", "TfLiteServable", "has_tflite"]

TFLITE_FILE = "model.tflite"
_METADATA = b"signature_defs_metadata"


def has_tflite(path: Path) -> bool:
    return (path / TFLITE_FILE).is_file()


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        from tensorflow.lite.python import schema_py_generated  # type: ignore[no-redef]
    return schema_py_generated


def stored_signature_defs(content: bytes) -> dict[str, Any]:
    """The SignatureDefs in the flatbuffer's ``signature_defs_metadata``, by name ({} when there is none)."""
    from flatbuffers import flexbuffers
    from tensorflow.core.protobuf import meta_graph_pb2

    model = _schema().Model.GetRootAs(content, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() != _METADATA:
            continue
        raw = model.Buffers(entry.Buffer()).DataAsNumpy()
        data = raw.tobytes() if hasattr(raw, "tobytes") else b""
        out: dict[str, Any] = {}
        try:
            root = flexbuffers.GetRoot(data).AsMap
            for key, value in zip(root.Keys, root.Values, strict=True):
                blob = value.AsStringBytes if value.IsString else value.AsBlob
                out[key.AsKey] = meta_graph_pb2.SignatureDef.FromString(bytes(blob))
        except Exception:
            raise ServingError("INTERNAL", "Cannot parse signature def found in flatbuffer.") from None
        return out
    return {}


def _legacy(name: str) -> str:
    return name.split(":", 1)[0]


class TfLiteServable:
    """One version loaded from ``model.tflite``: the Servable interface core.py uses (signature_def, run,
    meta_graph_def, close)."""

    runtime = "TF1"  # predict_util.cc records a TFLite session's runs under the same runtime label

    def __init__(self, name: str, version: int, path: Path, pools: int = 1) -> None:
        from tensorflow.core.framework import tensor_shape_pb2, types_pb2
        from tensorflow.core.protobuf import meta_graph_pb2

        from pytest_savedmodel.runners._tflite import interpreter_class, is_flatbuffer

        self.name, self.version, self.path = name, version, path
        self.content = (path / TFLITE_FILE).read_bytes()
        if not is_flatbuffer(self.content):
            raise ServingError("INVALID_ARGUMENT", "Cannot build FlatBufferModel from buffer.")
        self._cls = interpreter_class()
        try:
            probe = self._new()
        except (ValueError, RuntimeError):
            raise ServingError("INTERNAL", "Cannot build Interpreter from buffer.") from None
        self.inputs = {d["name"]: d for d in probe.get_input_details()}
        self.outputs = {d["name"]: d for d in probe.get_output_details()}
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pool.put(probe)
        self._made, self._limit, self._made_lock = 1, max(1, pools), threading.Lock()
        self.lock = threading.Lock()
        self.meta_graph_def = meta_graph_pb2.MetaGraphDef()
        stored = stored_signature_defs(self.content)
        sigs = self.meta_graph_def.signature_def
        if stored:
            for key, sig in stored.items():
                sigs[key].CopyFrom(sig)
                for side, known, what in ((sigs[key].inputs, self.inputs, "input"),
                                          (sigs[key].outputs, self.outputs, "output")):
                    for alias, info in side.items():
                        info.name = self._fix(info.name, known, f"Signature {what} {alias} references an unknown "
                                                                f"tensor")
        else:
            sig = sigs["serving_default"]
            sig.method_name = "tensorflow/serving/predict"
            for side, details in ((sig.inputs, self.inputs), (sig.outputs, self.outputs)):
                for tname, d in details.items():
                    info = side[_legacy(tname)]
                    info.name = tname
                    info.dtype = types_pb2.DataType.Value(_tf_dtype(d["dtype"]))
                    info.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(
                        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(s)) for s in d["shape"]]))

    def _new(self) -> Any:
        interpreter = self._cls(model_content=self.content)
        interpreter.allocate_tensors()
        return interpreter

    @staticmethod
    def _fix(name: str, known: dict[str, Any], context: str) -> str:
        if name in known:
            return name
        if _legacy(name) in known:
            return _legacy(name)
        raise ServingError("INTERNAL", f"Unknown tensor '{name}'.\n\t{context}")

    def signature_def(self, name: str) -> Any | None:
        return self.meta_graph_def.signature_def[name] if name in self.meta_graph_def.signature_def else None

    def _take(self) -> Any:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            with self._made_lock:
                grow = self._made < self._limit
                if grow:
                    self._made += 1
            return self._new() if grow else self._pool.get()

    def run(self, feeds: dict[str, Any], fetches: list[str]) -> list[Any]:
        """TfLiteSession::Run: feeds and fetches by tensor name (with the ``:0`` fallback)."""
        inputs = {self._fix(n, self.inputs, f"Missing input TFLite tensor: {n}"): v for n, v in feeds.items()}
        outputs = [self._fix(n, self.outputs, f"Missing output TFLite tensor: {n}") for n in fetches]
        interpreter = self._take()
        try:
            for tname, value in inputs.items():
                self._feed(interpreter, self.inputs[tname], np.asarray(value))
            try:
                interpreter.invoke()
            except (ValueError, RuntimeError):
                raise ServingError("INTERNAL", "Failed to invoke TfLite interpreter") from None
            return [np.array(interpreter.get_tensor(self.outputs[o]["index"])) for o in outputs]
        finally:
            self._pool.put(interpreter)

    @staticmethod
    def _feed(interpreter: Any, detail: dict[str, Any], value: np.ndarray) -> None:
        index, name, want = detail["index"], detail["name"], np.dtype(detail["dtype"])
        if want.kind in "SUO":
            value = np.asarray([v if isinstance(v, bytes) else str(v).encode() for v in value.reshape(-1)],
                               dtype=object).reshape(value.shape)
        elif value.dtype != want:
            raise ServingError("INVALID_ARGUMENT", f"Input tensor {name} of the TFLite model is {want.name}, the "
                                                   f"request's is {value.dtype.name} (the emulator does not copy "
                                                   f"bytes across dtypes)")
        current = interpreter.get_input_details()
        shape = next((list(d["shape"]) for d in current if d["index"] == index), None)
        if shape != list(value.shape):
            try:
                interpreter.resize_tensor_input(index, list(value.shape), strict=False)
            except (ValueError, RuntimeError):
                size = int(np.prod(shape or [0])) * want.itemsize
                raise ServingError("INTERNAL", f"Failed to resize input tensor: {name} from {size} to "
                                               f"{value.nbytes} bytes.") from None
            try:
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError):
                raise ServingError("INTERNAL", "Failed to allocate tensors") from None
        interpreter.set_tensor(index, value)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait()
            except queue.Empty:
                return


_DTYPES = {"float32": "DT_FLOAT", "int32": "DT_INT32", "uint8": "DT_UINT8",
           "int64": "DT_INT64", "bool": "DT_BOOL", "int16": "DT_INT16", "complex64": "DT_COMPLEX64",
           "int8": "DT_INT8", "object": "DT_STRING"}


def _tf_dtype(dtype: Any) -> str:
    """TfLiteTypeToTfType (tflite_session.cc:52-88: no float64 or float16 there); another type fails the load, as
    there."""
    kind = np.dtype(dtype)
    key = "object" if kind.kind in "SUO" else kind.name
    if key not in _DTYPES:
        raise ServingError("INTERNAL", f"Unknown TfLite type: {kind.name}")
    return _DTYPES[key]

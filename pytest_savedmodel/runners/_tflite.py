"""What the TFLite paths share: the interpreter (LiteRT's, else ``tf.lite``'s with a note), a runner calling one
signature of a ``.tflite`` flatbuffer, and how far each conversion mode may move the outputs.

A runner binds the SavedModel signature it reproduces to the flatbuffer's signature runner of the same key (its
inputs and outputs by alias), or, for a flatbuffer without signatures (``from_session``, old converters), to its
input and output tensors by name. Each call resizes the inputs to the batch drawn; a flatbuffer whose batch is
fixed at 1 is called row by row. Quantized inputs and outputs (full-integer models) are quantized and
dequantized with the tensor's own scale and zero point, so a caller always sees the SavedModel's float values.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from pytest_savedmodel.deadline import TimedOut, abandoned_after, timeout_finding
from pytest_savedmodel.errors import ModelLoadError, RunnerError, Unrunnable
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.runners.raw import as_input_array, describe_features
from pytest_savedmodel.spec import Features, Outputs, SignatureSpec, TensorSpec

__all__ = ["MODES", "TOLERANCES", "LiteRunner", "interpreter_class", "is_flatbuffer", "mode_tolerance"]

#: The conversion modes, as ``--savedmodel-convert-tflite=MODE`` names them.
MODES = ("float", "float16", "dynamic", "int8")
#: ``(rtol, atol)`` per mode. Parity takes the looser of these and the run's ``--savedmodel-rtol/atol``, its
#: absolute part raised to ``rtol * max|output|`` per output (quantization error follows a tensor's range, not each
#: element); integer outputs of a quantized model (an argmax) are not compared: they flip where two scores tie
#: within that error. Measured on the Iris example: see the README, "TFLite".
TOLERANCES: dict[str, tuple[float, float]] = {
    "float": (0.0, 0.0),  # the run's own tolerance
    "float16": (5e-2, 1e-3),
    "dynamic": (0.1, 1e-3),
    "int8": (0.2, 0.02),
}
_QUANTIZED = ("int8", "uint8", "int16")
_NOTED: list[bool] = []


def interpreter_class() -> Any:
    """LiteRT's ``Interpreter`` (``ai-edge-litert``), else TensorFlow's deprecated ``tf.lite.Interpreter`` (with a
    one-line warning, once)."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        from pytest_savedmodel._lazy import import_tf

        tf = import_tf()
        if not _NOTED:
            _NOTED.append(True)
            warnings.warn("pytest-savedmodel: ai-edge-litert is not installed; .tflite models run on TensorFlow's "
                          "deprecated tf.lite.Interpreter (pip install 'pytest-savedmodel[tflite]')", stacklevel=2)
        return tf.lite.Interpreter


def is_flatbuffer(data: bytes) -> bool:
    """The TFLite file identifier (``TFL3`` at bytes 4..8)."""
    return data[4:8] == b"TFL3"


def mode_tolerance(mode: str, tolerance: Any, reference: Outputs,
                   table: Mapping[str, tuple[float, float]] | None = None) -> Any:
    """The tolerance parity uses for a ``mode`` conversion's outputs against ``reference`` (the other path's):
    one per output, None for an output not compared (see :data:`TOLERANCES`; ``table`` overrides it by mode,
    from ``--savedmodel-tflite-tolerance``)."""
    table = {**TOLERANCES, **(table or {})}
    rtol_m, atol_m = table.get(mode, table["int8"])
    rtol, atol = max(tolerance.rtol, rtol_m), max(tolerance.atol, atol_m)
    out: dict[str, Any] = {}
    for k, v in reference.items():
        arr = np.asarray(v)
        if arr.dtype.kind in "fc":
            finite = np.abs(arr[np.isfinite(arr)]) if arr.size else arr
            peak = float(finite.max()) if finite.size else 0.0
            out[k] = type(tolerance)(rtol, max(atol, rtol * peak))
        else:
            out[k] = tolerance if mode == "float" else None
    return out if any(v is not None for v in out.values()) else tolerance


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _norm(name: str) -> str:
    """A tensor name as converters write it, reduced to the alias it came from."""
    name = name.split(":")[0]
    for prefix in ("serving_default_",):
        name = name.removeprefix(prefix)
    return name


class LiteRunner(Runner):
    """One signature of a TFLite flatbuffer; subclasses give the flatbuffer (:meth:`bind`) and :attr:`source`."""

    name = "tflite"
    mode = "float"  # the conversion mode its tolerance follows

    def __init__(self, signature: SignatureSpec, *, name: str | None = None) -> None:
        self.signature = signature
        if name:
            self.name = name
        self.interpreter: Any = None
        self._call: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
        self._inputs: dict[str, dict[str, Any]] = {}  # alias -> tensor details
        self._outputs: dict[str, dict[str, Any]] = {}
        self._row_by_row = False
        self._lock = threading.Lock()
        self.tolerances: dict[str, tuple[float, float]] = {}  # by mode, from --savedmodel-tflite-tolerance
        self._stuck = ""  # a call past --savedmodel-timeout is still running: the interpreter is not reused

    @property
    def source(self) -> str:
        raise NotImplementedError

    def missing(self, what: str) -> Exception:
        """The error for a signature, input or output the flatbuffer lacks (a finding for a conversion)."""
        return RunnerError(f"{self.name} runner: {self.source} {what}", runner=self.name, signature=self.signature.key)

    # ------------------------------------------------------------------ binding
    def bind(self, content: bytes) -> None:
        """Load ``content`` and bind the signature's inputs and outputs to its tensors."""
        cls = interpreter_class()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tf.lite.Interpreter's own deprecation banner: noted once above
                interp = cls(model_content=content)
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{self.source}: the TFLite interpreter cannot load it: {_first_line(exc)}") from None
        try:
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{self.source}: the TFLite interpreter cannot allocate its tensors: "
                                 f"{_first_line(exc)}") from None
        sigs = interp.get_signature_list() or {}
        key = self.signature.key
        if key in sigs:
            runner = interp.get_signature_runner(key)
            ins, outs = runner.get_input_details(), runner.get_output_details()
            self._call = lambda feeds: runner(**feeds)
        elif sigs:
            raise self.missing(f"has no signature {key!r} (its signatures: {sorted(sigs)}); compare only the ones it "
                               f"has with --savedmodel-signature=KEY")
        else:
            ins = {d["name"]: d for d in interp.get_input_details()}
            outs = {d["name"]: d for d in interp.get_output_details()}
            self._call = lambda feeds: self._invoke_tensors(feeds)
        self._inputs = self._match(ins, self.signature.inputs, "input")
        self._outputs = self._match(outs, self.signature.outputs, "output")
        self._row_by_row = any(len(d["shape_signature"]) and d["shape_signature"][0] == 1
                               for d in self._inputs.values())
        self.interpreter = interp

    def _match(self, details: dict[str, dict[str, Any]], specs: dict[str, TensorSpec],
               kind: str) -> dict[str, dict[str, Any]]:
        """Alias -> the flatbuffer tensor's details (``key``: its name there), by alias or by tensor name."""
        by_name = {**{_norm(n): (n, d) for n, d in details.items()}, **{n: (n, d) for n, d in details.items()}}
        found = {}
        for alias, spec in specs.items():
            hit = by_name.get(alias) or by_name.get(_norm(spec.tensor_name or ""))
            if hit is not None:
                found[alias] = {**hit[1], "key": hit[0]}
        lost = sorted(set(specs) - set(found))
        if lost:
            raise self.missing(f"has no {kind}(s) {lost} of signature {self.signature.key!r} (its {kind}s: "
                               f"{sorted(details)})")
        return found

    def _invoke_tensors(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        interp = self.interpreter
        by_index = {d["index"]: d["key"] for d in self._inputs.values()}
        for index, alias in by_index.items():
            interp.resize_tensor_input(index, list(feeds[alias].shape), strict=False)
        interp.allocate_tensors()
        for index, alias in by_index.items():
            interp.set_tensor(index, feeds[alias])
        interp.invoke()
        return {d["key"]: interp.get_tensor(d["index"]) for d in self._outputs.values()}

    # ------------------------------------------------------------------ calling
    def load(self) -> None:
        pass  # bound when made: a load error is the load item's

    def predict(self, features: Features) -> Outputs:
        assert self._call is not None
        missing = sorted(set(self.signature.inputs) - set(features))
        if missing:
            raise RunnerError(f"{self.name} runner: missing input(s) {missing}; inputs are "
                              f"{sorted(self.signature.inputs)}", runner=self.name, signature=self.signature.key)
        arrays = {self._inputs[a]["key"]: _quantize(as_input_array(features[a], spec), self._inputs[a])
                  for a, spec in self.signature.inputs.items()}
        n = min((len(v) for v in arrays.values() if v.ndim), default=1)
        batches = [{k: v[i:i + 1] for k, v in arrays.items()} for i in range(n)] if self._row_by_row and n > 1 \
            else [arrays]
        if self._stuck:
            raise Unrunnable(self._stuck, signature=self.signature.key)
        call = self._call
        try:
            with self._lock:
                results = abandoned_after(lambda: [{k: np.array(v) for k, v in call(b).items()} for b in batches])
        except TimedOut:  # the interpreter cannot be cancelled: it is still busy, and is not called again
            finding = timeout_finding(self.name, self.source, self.signature.key, features, cancelled=False)
            self._stuck = str(finding).splitlines()[0]
            raise finding from None
        except (ValueError, RuntimeError) as exc:
            raise RunnerError(f"{self.name} runner ({self.source}) failed on inputs {describe_features(features)}: "
                              f"{_first_line(exc)}", runner=self.name, signature=self.signature.key,
                              reason=_first_line(exc)) from None
        out = {}
        for alias, d in self._outputs.items():
            parts = [r[d["key"]] for r in results]
            value = parts[0] if len(parts) == 1 else np.concatenate(parts)
            out[alias] = _dequantize(value, d, self.signature.outputs[alias])
        return out

    def parity_tolerance(self, reference: Outputs, tolerance: Any) -> Any:
        return mode_tolerance(self.mode, tolerance, reference, self.tolerances)

    def close(self) -> None:
        self._call = None
        self.interpreter = None


def _scale(d: dict[str, Any]) -> tuple[float, int] | None:
    q = d.get("quantization") or (0.0, 0)
    return (float(q[0]), int(q[1])) if np.dtype(d["dtype"]).name in _QUANTIZED and q[0] else None


def _quantize(value: np.ndarray, d: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(d["dtype"])
    sz = _scale(d)
    if sz is None or value.dtype.kind != "f":
        return value if value.dtype == dtype or value.dtype == object else value.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(value / sz[0] + sz[1]), info.min, info.max).astype(dtype)


def _dequantize(value: np.ndarray, d: dict[str, Any], spec: TensorSpec) -> np.ndarray:
    sz = _scale(d)
    if sz is None or not spec.dtype.is_float:
        return value
    return ((value.astype(np.float32) - sz[1]) * sz[0]).astype(spec.dtype.numpy or np.float32)

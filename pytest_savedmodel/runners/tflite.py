"""The tflite path: a ``.tflite`` flatbuffer you ship (to phones, to the edge), compared with the SavedModel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pytest_savedmodel.errors import ModelLoadError, ModelNotFound
from pytest_savedmodel.runners._tflite import LiteRunner, is_flatbuffer
from pytest_savedmodel.runners.base import Provider, Target, dense_inputs
from pytest_savedmodel.spec import SignatureSpec

__all__ = ["PROVIDER", "TFLiteRunner", "detect_mode"]


class TFLiteRunner(LiteRunner):
    """A ``.tflite`` flatbuffer's signature ``signature.key`` (or, without signatures, its tensors by name).

    Its tolerance follows the quantization found in the file (:func:`detect_mode`).

    Example:
        >>> TFLiteRunner("iris.tflite", open_model("export/iris").signature("serving_default")).predict(features)
    """

    name = "tflite"
    reproduce_imports = ("from pytest_savedmodel.runners.tflite import TFLiteRunner",)

    def __init__(self, path: str | Path, signature: SignatureSpec, *, name: str | None = None) -> None:
        super().__init__(signature, name=name)
        self.path = Path(path)
        if not self.path.is_file():
            what = "a directory" if self.path.is_dir() else "not found"
            raise ModelNotFound(f"TFLite model {self.path}: {what} (give the .tflite file itself)", path=self.path)
        data = self.path.read_bytes()
        if not is_flatbuffer(data):
            hint = " It looks like a SavedModel: give it with --savedmodel." if self.path.name.startswith(
                "saved_model") else ""
            raise ModelLoadError(f"{self.path} is not a TFLite flatbuffer (bytes 4..8 are {data[4:8]!r}, a .tflite "
                                 f"has b'TFL3').{hint}", path=self.path)
        self.bind(data)
        self.mode = detect_mode(self.interpreter, self._inputs)

    @property
    def source(self) -> str:
        return f"TFLite model {self.path}"

    def reproduce(self, var: str = "features") -> str | None:
        return (f"TFLiteRunner({str(self.path)!r}, open_model(SAVEDMODEL_DIR).signature("
                f"{self.signature.key!r})).predict({var})")


def detect_mode(interpreter: Any, inputs: dict[str, dict[str, Any]]) -> str:
    """The conversion mode a flatbuffer looks made with: ``int8`` (quantized activations: QUANTIZE ops or integer
    inputs), ``dynamic`` (integer weights, float activations), ``float16`` (float16 weights) or ``float``."""
    tensors = interpreter.get_tensor_details()
    kinds = {np.dtype(t["dtype"]).name for t in tensors if _quantized(t)}
    ops = {op.get("op_name", "") for op in getattr(interpreter, "_get_ops_details", list)()}
    if any(np.dtype(d["dtype"]).name in ("int8", "uint8") and _quantized(d) for d in inputs.values()):
        return "int8"
    if kinds & {"int8", "uint8", "int16"}:
        return "int8" if "QUANTIZE" in ops or not ops else "dynamic"
    if any(np.dtype(t["dtype"]).name == "float16" for t in tensors):
        return "float16"
    return "float"


def _quantized(t: dict[str, Any]) -> bool:
    scales = (t.get("quantization_parameters") or {}).get("scales")
    return bool(scales is not None and len(scales)) or bool((t.get("quantization") or (0.0, 0))[0])


def _open(target: Target) -> TFLiteRunner:
    assert target.artifact is not None
    runner = TFLiteRunner(target.artifact, target.signature, name=target.name)
    runner.tolerances = dict(getattr(target.settings, "tflite_tolerances", None) or {})
    return runner


PROVIDER = Provider(
    "tflite", "artifact", _open, doc="a .tflite flatbuffer (--savedmodel-tflite)", option="tflite",
    own_collector=True, load_item=True, accepts=dense_inputs,
)

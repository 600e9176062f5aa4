"""The convert-tflite path: the SavedModel converted to TFLite on the fly (``tf.lite.TFLiteConverter``), as a team
ships it to phones, compared with the SavedModel.

``--savedmodel-convert-tflite=MODE``: ``float`` (no optimization), ``float16`` (float16 weights), ``dynamic``
(dynamic-range: int8 weights, float activations) or ``int8`` (integer weights and activations, float inputs and
outputs, calibrated on :func:`calibration_rows`). Each signature is converted on its own
(``signature_keys=[KEY]``), so one that does not convert fails alone, quoting the converter.
"""

from __future__ import annotations

import difflib
import re
import threading
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.errors import ModelCheckFailure, UsageError
from pytest_savedmodel.runners._tflite import MODES, LiteRunner
from pytest_savedmodel.runners.base import Provider, Target, batches, dense_inputs
from pytest_savedmodel.spec import Domain, Features, ModelRef, SignatureSpec

__all__ = ["CALIBRATION_RANGE", "PROVIDER", "ConvertTFLiteRunner", "calibration_rows", "check_mode", "convert",
           "converter_message"]

#: int8: float inputs without a graph domain are calibrated over this range (the generated inputs' unit band).
CALIBRATION_RANGE = (-5.0, 5.0)
_CACHE: dict[tuple[str, tuple[str, ...], str, str], bytes | ModelCheckFailure] = {}
_LOCK = threading.Lock()


def check_mode(mode: str) -> str:
    """``mode`` if it is a conversion mode, else a usage error with a did-you-mean."""
    word = mode.strip().lower()
    if word not in MODES:
        close = difflib.get_close_matches(word, MODES, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise UsageError(f"--savedmodel-convert-tflite={mode!r}: unknown mode; use one of {', '.join(MODES)}.{hint}")
    return word


class ConvertTFLiteRunner(LiteRunner):
    """``signature`` of the SavedModel ``ref`` converted to TFLite in ``mode`` (the conversion is made when the
    runner is, and kept for the process).

    Example:
        >>> ConvertTFLiteRunner(find_model("export/iris"), spec.signature("serving_default"), mode="int8")
    """

    name = "convert-tflite"
    reproduce_imports = ("from pytest_savedmodel import find_model",
                         "from pytest_savedmodel.runners.convert_tflite import ConvertTFLiteRunner")

    def __init__(self, ref: ModelRef, signature: SignatureSpec, *, mode: str = "float",
                 name: str | None = None) -> None:
        super().__init__(signature, name=name)
        self.ref = ref
        self.mode = check_mode(mode)
        self.bind(convert(ref, signature, self.mode))

    @property
    def source(self) -> str:
        return f"{self.ref.label()} converted to TFLite ({self.mode})"

    def missing(self, what: str) -> Exception:
        return ModelCheckFailure(f"{self.source}: the converted model {what}: the conversion dropped it",
                                 signature=self.signature.key)

    def reproduce(self, var: str = "features") -> str | None:
        return (f"ConvertTFLiteRunner(find_model({str(self.ref.path)!r}), open_model({str(self.ref.path)!r})"
                f".signature({self.signature.key!r}), mode={self.mode!r}).predict({var})")


def convert(ref: ModelRef, sig: SignatureSpec, mode: str) -> bytes:
    """The flatbuffer of ``sig`` converted in ``mode`` (made once per process); a conversion the converter refuses
    is a :class:`ModelCheckFailure` quoting it."""
    key = (str(ref.path), tuple(sorted(ref.tags)), sig.key, mode)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _convert(ref, sig, mode)
        made = _CACHE[key]
    if isinstance(made, ModelCheckFailure):
        raise made
    return made


def _convert(ref: ModelRef, sig: SignatureSpec, mode: str) -> bytes | ModelCheckFailure:
    tf = import_tf()
    try:
        conv = tf.lite.TFLiteConverter.from_saved_model(str(ref.path), signature_keys=[sig.key], tags=set(ref.tags))
        if mode != "float":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            conv.target_spec.supported_types = [tf.float16]
        if mode == "int8":
            rows = calibration_rows(sig)
            conv.representative_dataset = _dataset(sig.key, rows)
        with warnings.catch_warnings():  # int8 calibration runs TF's own tf.lite.Interpreter: not the user's concern
            warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
            return bytes(conv.convert())
    except MemoryError:
        raise
    except Exception as exc:  # ConverterError, and the ValueError/RuntimeError of loading and calibrating
        return ModelCheckFailure(f"{ref.label()} signature {sig.key!r} does not convert to TFLite ({mode}); "
                                 f"tf.lite.TFLiteConverter says:\n{converter_message(exc)}", signature=sig.key)


def _dataset(key: str, rows: list[Features]) -> Callable[[], Iterator[tuple[str, Features]]]:
    return lambda: ((key, row) for row in rows)


_LOC = re.compile(r"^loc\((?:[^()]|\([^()]*\))*\):\s*")
_KEEP = ("Some ops are not supported", "TF Select ops:", "Flex ops:", "Custom ops:")


def converter_message(exc: BaseException, *, limit: int = 8) -> str:
    """The converter's own words, first useful lines (its errors and op lists, not the MLIR dump), indented."""
    lines: list[str] = []
    for raw in str(exc).splitlines():
        line = raw.strip()
        if "error:" in line:
            line = _LOC.sub("", line.split("error:", 1)[1].strip())
            if line.startswith("failed while converting"):
                continue
        elif not line.startswith(_KEEP):
            continue
        if line and line not in lines:
            lines.append(line)
    if not lines:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][:3] or [type(exc).__name__]
    return "\n".join(f"  {ln[:300]}" for ln in lines[:limit])


def calibration_rows(sig: SignatureSpec) -> list[Features]:
    """int8's representative dataset, deterministic: one-row samples of the sweep (float inputs over
    :data:`CALIBRATION_RANGE`, others over their graph domain), the golden inputs, and 128 seeded rows with float
    inputs uniform in the range or at its ends (so activations reach the range of the range's corners). A
    signature without a free batch dimension is calibrated on whole golden batches."""
    from pytest_savedmodel.golden import golden_inputs
    from pytest_savedmodel.sweep import sweep_inputs

    if not batches(sig):
        return golden_inputs(sig, count=32)
    lo, hi = CALIBRATION_RANGE
    band = Domain("float", min_value=lo, max_value=hi)  # type: ignore[arg-type]
    floats = [a for a, t in sig.inputs.items() if t.dtype.is_float and a not in sig.domains]
    rows: list[Features] = []
    for batch in [sweep_inputs(sig, domains={a: band for a in floats}), *golden_inputs(sig, count=16)]:
        if batch:
            rows += [{k: np.asarray(v)[i:i + 1] for k, v in batch.items()} for i in range(len(next(iter(
                batch.values()))))]
    rng = np.random.default_rng(0)
    for i in range(128):
        row = dict(rows[i % len(rows)])
        for a in floats:
            shape, dtype = row[a].shape, row[a].dtype
            pick = rng.uniform(lo, hi, shape) if i % 2 else rng.choice([lo, hi], shape)
            row[a] = np.asarray(pick, dtype=dtype)
        rows.append(row)
    return rows


def _open(target: Target) -> ConvertTFLiteRunner:
    assert target.ref is not None
    mode = target.artifact.name if target.artifact is not None else "float"  # [NAME=]MODE: the mode is the "path"
    runner = ConvertTFLiteRunner(target.ref, target.signature, mode=mode, name=target.name)
    runner.tolerances = dict(getattr(target.settings, "tflite_tolerances", None) or {})
    return runner


PROVIDER = Provider(
    "convert-tflite", "export", _open, doc="the SavedModel converted to TFLite on the fly "
    "(--savedmodel-convert-tflite=MODE)", option="convert_tflite", artifacts_from="convert_tflite",
    own_collector=True, load_item=True, accepts=dense_inputs,
)

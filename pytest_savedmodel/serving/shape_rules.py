"""TF Serving's rules for answering Classify and Regress from a signature's output tensors. Pure numpy, no TF.

Read from tensorflow/serving at 9d981c5c (``tensorflow_serving/servables/tensorflow/``):
``regressor.cc`` ``PostProcessRegressionResult`` (lines 208-266), ``classifier.cc``
``PostProcessClassificationResult`` (lines 224-323) and ``util.cc``
``InputToSerializedExampleTensor`` (lines 165-168). The server checks the tensors the
session run returns (their runtime shapes), never the shapes the SignatureDef declares:
an output of unknown rank is served whenever the tensor of that call passes. Both the
emulator (which answers with these words) and the parity comparison (which applies the
same rule to the in-process output before comparing it with a served answer) use them.

Regress, output ``outputs``, checked in this order (each an INVALID_ARGUMENT):

1. rank 1 ``[batch_size]``, or rank 2 with ``dim_size(1) == 1`` (``[batch_size, 1]``), else
   "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [3,2]"
   (regressor.cc:238-243; the shape is ``TensorShape::DebugString``: ``[3,2]``, a scalar ``[]``);
2. ``dim_size(0)`` is the number of examples sent, else
   "Input batch size did not match output batch size: 3 vs. 1" (regressor.cc:244-248);
3. DT_FLOAT, else "Expected output Tensor of DT_FLOAT.  Got: DT_DOUBLE" (two spaces; regressor.cc:249-253);
4. as many elements as examples, else "Expected output batch size to be 3.  Got: 6"
   (regressor.cc:255-259; unreachable once 1 and 2 hold).

The answer is one ``Regression{value}`` per example, the tensor read flat (regressor.cc:261-264):
``[N]`` and ``[N, 1]`` answer the same ``N`` values.

Classify, outputs ``classes`` and/or ``scores``; ``classes`` is checked fully first, then ``scores``:

* ``classes``: rank 2, else "Expected Tensor shape: [batch_size num_classes] but got [3]"; DT_STRING, else
  "Expected classes Tensor of DT_STRING. Got: DT_INT64"; ``dim_size(0)`` the number of examples, else
  "Expected classes output batch size of 3. Got: 1" (classifier.cc:256-272);
* ``scores``: the same with "Expected scores Tensor of DT_FLOAT. Got: ..." and
  "Expected scores output batch size of 3. Got: 1" (classifier.cc:274-290);
* both: "Tensors class and score should match in dim_size(1). Got 2 vs. 3" (classifier.cc:294-300).

The answer is, per example, ``num_classes`` (``dim_size(1)``) ``Class{label, score}``: label ``""``
without ``classes``, score ``0`` without ``scores`` (classifier.cc:309-321).

No examples at all: "Input is empty." (util.cc:166), before the model runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_savedmodel.spec import dtype_by_name

__all__ = ["Rejection", "classification_answer", "dtype_name", "regression_answer", "shape_text"]


class Rejection(ValueError):
    """TF Serving answers INVALID_ARGUMENT with ``message``; ``source`` names the file and lines of the rule,
    ``output`` the output alias it is about (``""`` when none)."""

    code = "INVALID_ARGUMENT"

    def __init__(self, message: str, source: str, output: str = "") -> None:
        super().__init__(message)
        self.message, self.source, self.output = message, source, output


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape as ``TensorShape::DebugString`` writes it: ``[3,2]``; a scalar ``[]``."""
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


def dtype_name(value: np.ndarray) -> str:
    """The ``DataType_Name`` of a fetched tensor: ``DT_FLOAT``, ``DT_DOUBLE``, ``DT_STRING``..."""
    if value.dtype.kind in "OSU":
        return "DT_STRING"
    try:
        return dtype_by_name(value.dtype).proto_name
    except (ValueError, KeyError):
        return f"DT_{value.dtype.name.upper()}"


def regression_answer(output: Any, num_examples: int) -> np.ndarray:
    """The ``[num_examples]`` float32 values Regress answers for the ``outputs`` tensor; :class:`Rejection` when
    TF Serving refuses it."""
    out = np.asarray(output)
    where = "regressor.cc PostProcessRegressionResult"
    if not (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)):
        raise Rejection("Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                        f"{shape_text(out.shape)}", f"{where}, lines 238-243", "outputs")
    if out.shape[0] != num_examples:
        raise Rejection(f"Input batch size did not match output batch size: {num_examples} vs. {out.shape[0]}",
                        f"{where}, lines 244-248", "outputs")
    if out.dtype != np.float32:
        raise Rejection(f"Expected output Tensor of DT_FLOAT.  Got: {dtype_name(out)}", f"{where}, lines 249-253",
                        "outputs")
    if out.size != num_examples:
        raise Rejection(f"Expected output batch size to be {num_examples}.  Got: {out.size}", f"{where}, lines 255-259",
                        "outputs")
    return out.reshape(-1)


def _classify_tensor(what: str, t: np.ndarray, num_examples: int) -> None:
    where = "classifier.cc PostProcessClassificationResult"
    lines = "256-272" if what == "classes" else "274-290"
    if t.ndim != 2:
        raise Rejection(f"Expected Tensor shape: [batch_size num_classes] but got {shape_text(t.shape)}",
                        f"{where}, lines {lines}", what)
    is_string = t.dtype.kind in "OSU"
    if (what == "classes" and not is_string) or (what == "scores" and t.dtype != np.float32):
        want = "DT_STRING" if what == "classes" else "DT_FLOAT"
        raise Rejection(f"Expected {what} Tensor of {want}. Got: {dtype_name(t)}", f"{where}, lines {lines}", what)
    if t.shape[0] != num_examples:
        raise Rejection(f"Expected {what} output batch size of {num_examples}. Got: {t.shape[0]}",
                        f"{where}, lines {lines}", what)


def classification_answer(classes: Any, scores: Any, num_examples: int) -> tuple[np.ndarray | None,
                                                                                   np.ndarray | None]:
    """``(labels, scores)`` as Classify answers them, each ``[num_examples, num_classes]`` (bytes objects,
    float32), None for an output the signature lacks; :class:`Rejection` when TF Serving refuses the tensors."""
    c = None if classes is None else np.asarray(classes)
    s = None if scores is None else np.asarray(scores)
    if c is None and s is None:
        raise Rejection('Expected classification signature outputs to contain at least one of "classes" or '
                        '"scores".', "classifier.cc PreProcessClassification, lines 206-212")
    if c is not None:
        _classify_tensor("classes", c, num_examples)
    if s is not None:
        _classify_tensor("scores", s, num_examples)
    if c is not None and s is not None and c.shape[1] != s.shape[1]:
        raise Rejection(f"Tensors class and score should match in dim_size(1). Got {c.shape[1]} vs. {s.shape[1]}",
                        "classifier.cc PostProcessClassificationResult, lines 294-300", "scores")
    labels: np.ndarray | None = None
    if c is not None:
        flat = np.empty(c.size, dtype=object)
        flat[:] = [v.encode() if isinstance(v, str) else bytes(v) for v in c.reshape(-1)]
        labels = flat.reshape(c.shape)
    return labels, s

"""The freeze path: the SavedModel frozen on the fly, as a TFLite, TF.js or TensorRT conversion starts from it."""

from __future__ import annotations

from typing import Any

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.errors import ModelLoadError
from pytest_savedmodel.runners._graph import GraphRunner
from pytest_savedmodel.runners._session import tf_reason
from pytest_savedmodel.runners.base import Provider, Target, dense_inputs
from pytest_savedmodel.spec import ModelRef, SignatureSpec

__all__ = ['PROVIDER', 'FreezeRunner']


class FreezeRunner(GraphRunner):
    """The SavedModel frozen on the fly: variables folded into constants (``convert_variables_to_constants``),
    the GraphDef re-imported into a graph of its own: what a TFLite, TF.js or TensorRT conversion starts from.

    Example:
        >>> FreezeRunner(find_model("export/iris"), spec.signature("serving_default")).predict(features)
    """

    name = "freeze"
    reproduce_imports = ("from pytest_savedmodel import find_model",
                         "from pytest_savedmodel.runners.freeze import FreezeRunner")

    def __init__(self, ref: ModelRef, signature: SignatureSpec, *, name: str | None = None) -> None:
        super().__init__(signature, tensor_map=None, name=name)
        self.ref = ref
        self.graph_def: Any = None  # the frozen GraphDef, once made

    @property
    def source(self) -> str:
        return f"{self.ref.label()} frozen on the fly"

    def reproduce(self, var: str = "features") -> str | None:
        return (f"FreezeRunner(find_model({str(self.ref.path)!r}), open_model({str(self.ref.path)!r}).signature("
                f"{self.signature.key!r})).predict({var})")

    def _load(self) -> tuple[Any, Any]:
        tf = import_tf()
        outputs = sorted({t.tensor_name.split(":")[0] for t in self.signature.outputs.values() if t.tensor_name})
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            try:
                tf.compat.v1.saved_model.loader.load(sess, sorted(self.ref.tags), str(self.ref.path))
                self.graph_def = tf.compat.v1.graph_util.convert_variables_to_constants(
                    sess, graph.as_graph_def(), outputs)
            except (tf.errors.OpError, ValueError, KeyError, RuntimeError) as exc:
                first = tf_reason(exc)
                raise ModelLoadError(f"could not freeze {self.ref.label()} (outputs {outputs}): "
                                     f"{type(exc).__name__}: {first}", path=self.ref.path) from None
        frozen = tf.Graph()
        with frozen.as_default():
            try:
                tf.compat.v1.import_graph_def(self.graph_def, name="")
            except (tf.errors.OpError, ValueError) as exc:
                first = tf_reason(exc).rstrip(".")
                stateful = " A graph that assigns to its variables cannot be frozen: their state would become " \
                    "constants." if "_ref" in first or "Assign" in first else ""
                raise ModelLoadError(f"{self.ref.label()} signature {self.signature.key!r}: the frozen graph does not "
                                     f"import: {type(exc).__name__}: {first}.{stateful}", path=self.ref.path) from None
        return frozen, tf.compat.v1.Session(graph=frozen)


def _open(target: Target) -> FreezeRunner:
    assert target.ref is not None
    return FreezeRunner(target.ref, target.signature, name=target.name)


PROVIDER = Provider(
    "freeze", "export", _open, doc="the SavedModel frozen on the fly (--savedmodel-freeze)", option="freeze",
    own_collector=True, golden=True, accepts=dense_inputs,
)

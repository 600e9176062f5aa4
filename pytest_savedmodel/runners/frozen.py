"""The frozen path: a frozen GraphDef (variables folded into constants), compared with the SavedModel."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.errors import ModelLoadError, ModelNotFound
from pytest_savedmodel.runners._graph import GraphRunner
from pytest_savedmodel.runners.base import Provider, Target, dense_inputs
from pytest_savedmodel.spec import SignatureSpec

__all__ = ['PROVIDER', 'FrozenRunner']


class FrozenRunner(GraphRunner):
    """A frozen GraphDef (variables folded into constants), binary ``.pb`` or text ``.pbtxt``."""

    name = "frozen"
    reproduce_imports = ("from pytest_savedmodel.runners.frozen import FrozenRunner",)

    def reproduce(self, var: str = "features") -> str | None:
        return (f"FrozenRunner({str(self.path)!r}, open_model(SAVEDMODEL_DIR).signature("
                f"{self.signature.key!r})).predict({var})")

    def __init__(self, graph_def: str | Path, signature: SignatureSpec, *, tensor_map: Mapping[str, str] | None = None,
                 name: str | None = None) -> None:
        super().__init__(signature, tensor_map=tensor_map, name=name)
        self.path = Path(graph_def)
        if not self.path.is_file():
            raise ModelNotFound(f"frozen graph {self.path} not found (give the .pb file itself)", path=self.path)

    @property
    def source(self) -> str:
        return f"frozen graph {self.path}"

    def _graph_def(self) -> Any:
        import_tf()
        from google.protobuf import message, text_format
        from tensorflow.core.framework import graph_pb2

        data = self.path.read_bytes()
        gd = graph_pb2.GraphDef()
        try:
            if self.path.suffix == ".pbtxt":
                text_format.Parse(data.decode("utf-8", "replace"), gd)
            else:
                gd.ParseFromString(data)
        except (message.DecodeError, text_format.ParseError) as exc:
            hint = " (this looks like a SavedModel: use --savedmodel for it)" if self.path.name.startswith(
                "saved_model") else ""
            raise ModelLoadError(f"{self.path} is not a GraphDef: {exc}{hint}", path=self.path) from None
        if not gd.node:
            hint = " It looks like a SavedModel; use --savedmodel for it." if self.path.name.startswith(
                "saved_model") else ""
            raise ModelLoadError(f"{self.path} holds no graph nodes: not a frozen GraphDef.{hint}", path=self.path)
        return gd

    def _load(self) -> tuple[Any, Any]:
        tf = import_tf()
        gd = self._graph_def()
        graph = tf.Graph()
        with graph.as_default():
            try:
                tf.compat.v1.import_graph_def(gd, name="")
            except (ValueError, tf.errors.OpError) as exc:
                raise ModelLoadError(f"{self.path}: TensorFlow cannot import this GraphDef: {exc}",
                                     path=self.path) from None
        return graph, tf.compat.v1.Session(graph=graph)


def _open(target: Target) -> FrozenRunner:
    assert target.artifact is not None
    return FrozenRunner(target.artifact, target.signature, name=target.name)


PROVIDER = Provider(
    "frozen", "artifact", _open, doc="the frozen GraphDef", option="frozen", own_collector=True, load_item=True,
    golden=True, accepts=dense_inputs,
)

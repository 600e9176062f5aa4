"""Checkpoint and frozen-graph runners: the same model outside a SavedModel, fed by tensor name.

Both take the SavedModel signature they should reproduce; its input and output
tensor names are used in the checkpoint's or frozen graph's own graph (exports,
checkpoints and frozen graphs made from the same graph code share names), and
``tensor_map={alias: "name:0"}`` overrides any of them. Each runner owns its
Graph and Session and closes them; nothing leaks between tests.

Example:
    >>> with CheckpointRunner("export/checkpoint/model.ckpt", raw_sig) as ckpt:
    ...     ckpt.predict(features)["logits"]
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.errors import ModelLoadError, ModelNotFound, RunnerError, UsageError
from pytest_savedmodel.runners._session import tf_reason
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.runners.raw import as_input_array, describe_features
from pytest_savedmodel.spec import Features, ModelRef, Outputs, SignatureSpec

__all__ = ["CheckpointRunner", "FreezeRunner", "FrozenRunner", "ObjectCheckpointRunner"]


class _GraphRunner(Runner):
    """Feeds and fetches tensors by name in a graph this runner loads and owns."""

    def __init__(self, signature: SignatureSpec, *, tensor_map: Mapping[str, str] | None, name: str | None) -> None:
        self.signature = signature
        self.tensor_map = dict(tensor_map or {})
        if name:
            self.name = name
        self._graph: Any = None
        self._session: Any = None
        self._plan: tuple[list[str], list[Any], list[str], list[Any]] | None = None

    def _load(self) -> tuple[Any, Any]:
        raise NotImplementedError

    @property
    def source(self) -> str:
        raise NotImplementedError

    def _tensor(self, alias: str, default: str, kind: str) -> Any:
        name = self.tensor_map.get(alias, default)
        try:
            return self._graph.get_tensor_by_name(name)
        except (KeyError, ValueError):
            ops = [op.name for op in self._graph.get_operations()]
            close = difflib.get_close_matches(name.split(":")[0], ops, n=3)
            placeholders = [op.name for op in self._graph.get_operations() if op.type == "Placeholder"]
            raise RunnerError(
                f"{self.name} runner: {kind} {alias!r} is tensor {name!r}, which is not in the graph of "
                f"{self.source}. Similar names: {close or '(none)'}; placeholders: {placeholders[:10]}. "
                f"Map it with tensor_map={{{alias!r}: 'name:0'}}", runner=self.name, signature=self.signature.key,
            ) from None

    def _ensure(self) -> tuple[list[str], list[Any], list[str], list[Any]]:
        if self._plan is None:
            self._graph, self._session = self._load()
            ins = sorted(self.signature.inputs)
            outs = sorted(self.signature.outputs)
            self._plan = (ins, [self._tensor(a, self.signature.inputs[a].tensor_name, "input")._as_tf_output()
                                for a in ins],
                          outs, [self._tensor(a, self.signature.outputs[a].tensor_name, "output")._as_tf_output()
                                 for a in outs])
        return self._plan

    def predict(self, features: Features) -> Outputs:
        ins, feed_outputs, outs, fetch_outputs = self._ensure()
        missing = [a for a in ins if a not in features]
        if missing:
            raise RunnerError(f"{self.name} runner: missing input(s) {missing}; inputs are {ins}", runner=self.name)
        tf = import_tf()
        feed = {t: as_input_array(features[a], self.signature.inputs[a]) for a, t in zip(ins, feed_outputs,
                                                                                          strict=True)}
        try:
            values = self._session._call_tf_sessionrun(None, feed, fetch_outputs, [], None)
        except tf.errors.OpError as exc:
            first = tf_reason(exc)
            raise RunnerError(f"{self.name} runner ({self.source}) failed on inputs {describe_features(features)}: "
                              f"{type(exc).__name__}: {first}", runner=self.name) from None
        return {a: np.asarray(v) for a, v in zip(outs, values, strict=True)}

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = self._graph = self._plan = None


class CheckpointRunner(_GraphRunner):
    """A TF1 ``Saver`` checkpoint (``PREFIX.meta`` + ``.index`` + ``.data-*``) restored with its own graph."""

    name = "checkpoint"

    def reproduce(self, var: str = "features") -> str | None:
        return (f"CheckpointRunner({str(self.prefix)!r}, open_model(SAVEDMODEL_DIR).signature("
                f"{self.signature.key!r})).predict({var})")

    def __init__(self, prefix: str | Path, signature: SignatureSpec, *, tensor_map: Mapping[str, str] | None = None,
                 name: str | None = None) -> None:
        super().__init__(signature, tensor_map=tensor_map, name=name)
        self.prefix = Path(prefix)
        if self.prefix.is_dir():
            state = self.prefix / "checkpoint"
            metas = sorted(self.prefix.glob("*.meta"))
            if not metas:
                raise ModelNotFound(f"{self.prefix} holds no checkpoint (no *.meta file); files: "
                                    f"{sorted(p.name for p in self.prefix.iterdir())[:10]}", path=self.prefix)
            self.prefix = metas[-1].with_suffix("") if not state.exists() else self._latest(state)
        meta = Path(str(self.prefix) + ".meta")
        if not meta.is_file():
            near = sorted(p.name for p in self.prefix.parent.glob(self.prefix.name + "*")) if \
                self.prefix.parent.is_dir() else []
            raise ModelNotFound(
                f"checkpoint {self.prefix}: no {meta.name}, and the meta graph is needed to rebuild the graph (saved "
                f"with save_meta_graph=False?). Files with that prefix: {near or '(none)'}. A TF2 object checkpoint "
                f"(tf.train.Checkpoint) has no meta graph: name a fixture that returns the model to restore into "
                f"with --savedmodel-checkpoint-model=FIXTURE", path=meta)
        if not Path(str(self.prefix) + ".index").is_file():
            raise ModelNotFound(f"checkpoint {self.prefix}: {self.prefix.name}.index is missing (variables cannot be "
                                f"restored without it)", path=self.prefix)

    @staticmethod
    def _latest(state: Path) -> Path:
        for line in state.read_text().splitlines():
            if line.startswith("model_checkpoint_path:"):
                value = line.split(":", 1)[1].strip().strip('"')
                return (state.parent / value) if not Path(value).is_absolute() else Path(value)
        raise ModelNotFound(f"{state} names no model_checkpoint_path", path=state)

    @property
    def source(self) -> str:
        return f"checkpoint {self.prefix}"

    def _load(self) -> tuple[Any, Any]:
        tf = import_tf()
        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph)
        try:
            with graph.as_default():
                saver = tf.compat.v1.train.import_meta_graph(str(self.prefix) + ".meta", clear_devices=True)
                saver.restore(session, str(self.prefix))
        except (tf.errors.OpError, ValueError, OSError) as exc:
            session.close()
            first = tf_reason(exc)
            raise ModelLoadError(f"could not restore checkpoint {self.prefix}: {type(exc).__name__}: {first}",
                                 path=self.prefix) from None
        return graph, session


class FrozenRunner(_GraphRunner):
    """A frozen GraphDef (variables folded into constants), binary ``.pb`` or text ``.pbtxt``."""

    name = "frozen"

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


class FreezeRunner(_GraphRunner):
    """The SavedModel frozen on the fly: variables folded into constants (``convert_variables_to_constants``),
    the GraphDef re-imported into a graph of its own: what a TFLite, TF.js or TensorRT conversion starts from.

    Example:
        >>> FreezeRunner(find_model("export/iris"), spec.signature("serving_default")).predict(features)
    """

    name = "freeze"

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


class ObjectCheckpointRunner(Runner):
    """A TF2 object checkpoint (``tf.train.Checkpoint(model=...).save``) restored into the user's model.

    ``model`` comes from the fixture named by ``--savedmodel-checkpoint-model``: a fresh instance of the
    model class (a ``tf.Module`` or Keras model). It is restored as ``tf.train.Checkpoint(model=model)``
    and called with the feature dict as tensors; it returns ``{output: tensor}`` (or one tensor for a
    one-output signature).
    """

    name = "checkpoint"

    def __init__(self, prefix: str | Path, model: Any, signature: SignatureSpec, *, fixture: str = "") -> None:
        self.prefix, self.model, self.signature, self.fixture = Path(prefix), model, signature, fixture
        self._restored = False

    @property
    def source(self) -> str:
        return f"object checkpoint {self.prefix}"

    def _resolve(self) -> str:
        tf = import_tf()
        if self.prefix.is_dir():
            latest = tf.train.latest_checkpoint(str(self.prefix))
            if latest is None:
                raise ModelNotFound(f"{self.prefix} holds no TF2 checkpoint (no 'checkpoint' state file naming one); "
                                    f"files: {sorted(p.name for p in self.prefix.iterdir())[:10]}", path=self.prefix)
            return str(latest)
        if not Path(str(self.prefix) + ".index").is_file():
            near = sorted(p.name for p in self.prefix.parent.glob(self.prefix.name + "*")) if \
                self.prefix.parent.is_dir() else []
            raise ModelNotFound(f"object checkpoint {self.prefix}: no {self.prefix.name}.index. Files with that "
                                f"prefix: {near or '(none)'}", path=self.prefix)
        return str(self.prefix)

    def _restore(self) -> None:
        if self._restored:
            return
        tf = import_tf()
        if not isinstance(self.model, tf.Module) and not callable(self.model):
            raise UsageError(f"the fixture {self.fixture!r} returned {type(self.model).__name__}; return the model to "
                             f"restore into (a tf.Module or Keras model, callable on the feature dict)")
        prefix = self._resolve()
        try:
            tf.train.Checkpoint(model=self.model).restore(prefix).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as exc:
            first = tf_reason(exc)
            raise ModelLoadError(f"could not restore {prefix} into the model from fixture {self.fixture!r} as "
                                 f"tf.train.Checkpoint(model=...): {type(exc).__name__}: {first}",
                                 path=self.prefix) from None
        self._restored = True

    def predict(self, features: Features) -> Outputs:
        self._restore()
        tf = import_tf()
        tensors = {a: tf.constant(as_input_array(v, self.signature.inputs[a])) if a in self.signature.inputs
                   else tf.constant(v) for a, v in features.items()}
        try:
            out = self.model(tensors)
        except Exception as exc:
            raise RunnerError(f"{self.name} runner: the model from fixture {self.fixture!r} raised "
                              f"{type(exc).__name__}: {tf_reason(exc)}",
                              runner=self.name, signature=self.signature.key) from exc
        if not isinstance(out, Mapping):
            if len(self.signature.outputs) != 1:
                raise RunnerError(f"{self.name} runner: the model from fixture {self.fixture!r} returned "
                                  f"{type(out).__name__}; return {{output alias: tensor}} for signature "
                                  f"{self.signature.key!r} (outputs {sorted(self.signature.outputs)})",
                                  runner=self.name, signature=self.signature.key)
            out = {next(iter(self.signature.outputs)): out}
        return {str(k): np.asarray(v) for k, v in out.items()}

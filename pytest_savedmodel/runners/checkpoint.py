"""The checkpoint path: a TF1 ``Saver`` checkpoint restored with its own meta graph, compared with the SavedModel.

Example:
    >>> with CheckpointRunner("export/checkpoint/model.ckpt", raw_sig) as ckpt:
    ...     ckpt.predict(features)["logits"]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.errors import ModelLoadError, ModelNotFound
from pytest_savedmodel.runners._graph import GraphRunner
from pytest_savedmodel.runners._session import tf_reason
from pytest_savedmodel.runners.base import Provider, Target, dense_inputs
from pytest_savedmodel.spec import SignatureSpec

__all__ = ['PROVIDER', 'CheckpointRunner']


class CheckpointRunner(GraphRunner):
    """A TF1 ``Saver`` checkpoint (``PREFIX.meta`` + ``.index`` + ``.data-*``) restored with its own graph."""

    name = "checkpoint"
    reproduce_imports = ("from pytest_savedmodel.runners.checkpoint import CheckpointRunner",)

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
                if saver is None:
                    raise ValueError("the meta graph has no variables and no saver to restore them with")
                saver.restore(session, str(self.prefix))
        except (tf.errors.OpError, ValueError, OSError) as exc:
            session.close()
            first = tf_reason(exc)
            raise ModelLoadError(f"could not restore checkpoint {self.prefix}: {type(exc).__name__}: {first}."
                                 f"{self._names_hint(graph)}", path=self.prefix) from None
        return graph, session

    def _names_hint(self, graph: Any) -> str:
        """The checkpoint's variable names against the graph's, when they differ (saved under other names)."""
        tf = import_tf()
        try:
            saved = {name for name, _ in tf.train.list_variables(str(self.prefix))}
        except (tf.errors.OpError, ValueError, OSError):
            return ""
        with graph.as_default():
            wanted = {v.op.name for v in tf.compat.v1.global_variables()}
        missing, extra = sorted(wanted - saved), sorted(saved - wanted)
        if not missing and not extra:
            return ""

        def shown(names: list[str]) -> str:
            return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "") or "(none)"

        return (f" The graph's variables not in the checkpoint: {shown(missing)}; the checkpoint's variables not in "
                f"the graph: {shown(extra)}. Were they saved under other names (another name scope, or "
                f"tf.train.Saver(var_list={{...}}))?")


def _open(target: Target) -> CheckpointRunner:
    assert target.artifact is not None
    return CheckpointRunner(target.artifact, target.signature, name=target.name)


PROVIDER = Provider(
    "checkpoint", "artifact", _open, doc="the TF1 Saver checkpoint, restored with its meta graph",
    option="checkpoint", own_collector=True, load_item=True, golden=True, accepts=dense_inputs,
    enabled=lambda settings: not settings.checkpoint_model,  # with a model fixture it is a TF2 object checkpoint
)

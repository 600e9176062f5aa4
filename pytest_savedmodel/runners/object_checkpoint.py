"""The TF2 object-checkpoint path: ``tf.train.Checkpoint(model=...)`` restored into the user's model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.errors import ModelLoadError, ModelNotFound, RunnerError, UsageError
from pytest_savedmodel.runners._session import tf_reason
from pytest_savedmodel.runners.base import Provider, Runner, Target, dense_inputs
from pytest_savedmodel.runners.raw import as_input_array
from pytest_savedmodel.spec import Features, Outputs, SignatureSpec

__all__ = ['PROVIDER', 'ObjectCheckpointRunner']


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


def _open(target: Target) -> ObjectCheckpointRunner:
    assert target.artifact is not None
    return ObjectCheckpointRunner(target.artifact, target.value, target.signature, fixture=target.fixture)


# Ids say "checkpoint": to the user it is the same artifact option, restored the TF2 way.
PROVIDER = Provider(
    "checkpoint", "fixture", _open, doc="a TF2 object checkpoint restored into the model your fixture returns",
    option="checkpoint_model", own_collector=True, accepts=dense_inputs, fixture_option="checkpoint_model",
    artifacts_from="checkpoint",
)

"""The base of the graph paths (checkpoint, frozen, freeze): feed and fetch tensors by name in a graph the runner
loads and owns.

Each takes the SavedModel signature it should reproduce; its input and output
tensor names are used in the path's own graph (exports, checkpoints and frozen
graphs made from the same graph code share names), and ``tensor_map={alias:
"name:0"}`` overrides any of them. Each runner owns its Graph and Session and
closes them; nothing leaks between tests.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.deadline import session_run
from pytest_savedmodel.errors import RunnerError
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.runners.raw import CALL_ERRORS, as_input_array, call_failure
from pytest_savedmodel.spec import Features, Outputs, SignatureSpec

__all__ = ["GraphRunner"]


class GraphRunner(Runner):
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

    def load(self) -> None:
        self._ensure()

    def predict(self, features: Features) -> Outputs:
        ins, feed_outputs, outs, fetch_outputs = self._ensure()
        missing = [a for a in ins if a not in features]
        if missing:
            raise RunnerError(f"{self.name} runner: missing input(s) {missing}; inputs are {ins}", runner=self.name)
        tf = import_tf()
        feed = {t: as_input_array(features[a], self.signature.inputs[a]) for a, t in zip(ins, feed_outputs,
                                                                                          strict=True)}
        try:
            values = session_run(self._session, feed, fetch_outputs)
        except (*CALL_ERRORS, tf.errors.OpError) as exc:
            raise call_failure(exc, features, path=self.name, label=self.source, signature=self.signature.key,
                               where=f"{self.name} runner ({self.source})", what=self.source) from None
        return {a: np.asarray(v) for a, v in zip(outs, values, strict=True)}

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = self._graph = self._plan = None

"""The one interface every prediction path implements.

A runner turns a feature dict (numpy arrays keyed by input alias, or by
tf.Example feature key for parsing paths) into a dict of numpy outputs keyed by
output alias. Outputs are always numpy, never tensors, so comparison and
reporting stay free of TensorFlow.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pytest_savedmodel.spec import Features, ModelRef, ModelSpec, Outputs, SignatureSpec

__all__ = ["Provider", "Runner", "Target", "batches", "dense_inputs", "dense_tensors", "example_method",
           "sendable_inputs"]


class Runner(abc.ABC):
    """A prediction path for one signature.

    Subclasses set :attr:`name` and implement :meth:`predict`; :meth:`close`
    releases sessions, channels or processes and must be idempotent.

    Example:
        >>> with FakeRunner(signature, lambda f: {"y": f["x"] * 0.5 + 2}) as r:
        ...     r.predict({"x": np.array([2.0], np.float32)})
        {'y': array([3.], dtype=float32)}
    """

    #: Short name used in item ids and reports: ``raw``, ``parsing``, ``grpc``...
    name: str = "runner"
    #: The signature this runner calls (its inputs/outputs define the feature dict).
    signature: SignatureSpec
    #: Import lines :meth:`reproduce`'s expression needs beyond ``open_model`` (printed in reproduce blocks).
    reproduce_imports: tuple[str, ...] = ()

    @abc.abstractmethod
    def predict(self, features: Features) -> Outputs:
        """Run the model on ``features``; return every output as a numpy array."""

    def reproduce(self, var: str = "features") -> str | None:
        """A Python expression that makes this path predict on ``var`` (for failure messages), if known."""
        return None

    def parity_tolerance(self, reference: Outputs, tolerance: Any) -> Any:
        """The tolerance parity compares this path's outputs with (``reference``: the other path's): the run's,
        unless the path approximates by design (a quantized TFLite model): then ``{output: Tolerance or None}``,
        None for an output not compared."""
        return tolerance

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load what the path needs (graph, session, checkpoint) now, so a load error is reported as such."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Safe to call twice."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        sig = getattr(self, "signature", None)
        return f"<{type(self).__name__} {self.name!r} signature={getattr(sig, 'key', '?')!r}>"


# --------------------------------------------------------------------------- capabilities, stated once


def dense_tensors(sig: SignatureSpec) -> str | None:
    """None when every input of ``sig`` is a dense tensor (no sparse or composite encoding); else why not."""
    sparse = sorted(a for a, t in sig.inputs.items() if t.encoding != "dense")
    return f"inputs {sparse} are not dense tensors" if sparse else None


def dense_inputs(sig: SignatureSpec) -> str | None:
    """None when ``sig`` is a raw signature fed dense tensors (what a graph or a Python model can be fed);
    else why not."""
    if sig.parse_spec is not None:
        return "it parses tf.Examples"
    if not sig.inputs:
        return "it has no inputs"
    return dense_tensors(sig)


def batches(sig: SignatureSpec) -> bool:
    """Every input and output has a leading unknown (batch) dimension: rows can be stacked and split."""
    ins = bool(sig.inputs) and all(t.shape is not None and len(t.shape) >= 1 and t.shape[0] is None
                                    for t in sig.inputs.values())
    return ins and all(t.shape is None or (len(t.shape) >= 1 and t.shape[0] is None) for t in sig.outputs.values())


def sendable_inputs(sig: SignatureSpec) -> str | None:
    """None when a client can send every input of ``sig`` (data dtypes: no resource or variant inputs)."""
    bad = sorted(a for a, t in sig.inputs.items() if not t.dtype.is_data)
    return f"inputs {bad} have dtypes no client can send" if bad else None


def example_method(sig: SignatureSpec) -> str | None:
    """``classify``/``regress`` when TF Serving's Classify/Regress APIs can call ``sig`` (by its structure)."""
    if sig.parse_spec is None or set(sig.inputs) != {"inputs"}:
        return None
    outs = set(sig.outputs)
    if outs and outs <= {"classes", "scores"}:
        return "classify"
    if outs == {"outputs"}:
        return "regress"
    return None


# --------------------------------------------------------------------------- providers


@dataclass(frozen=True)
class Target:
    """What a runner is opened for: one signature of one artifact, with what its path needs."""

    signature: SignatureSpec
    ref: ModelRef | None = None  # the SavedModel export (anchor or parsing twin)
    artifact: Path | None = None  # the file the path's option named (checkpoint prefix, frozen graph)
    value: Any = None  # what the user's fixture returned (reference, model to restore into)
    fixture: str = ""  # that fixture's name
    server: Any = None  # a started ModelServer (served paths)
    model_name: str = ""  # the name the server serves the export under
    version: int | None = None
    method: str = "predict"  # served paths: predict, classify or regress
    name: str | None = None  # the runner's name in messages when not the path's own
    settings: Any = None  # the run's Settings, for what a path reads of them (TFLite tolerances by mode)


def _always(_: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Provider:
    """One prediction path, as the planner and the session see it. Each module under ``runners/`` holds one.

    Attributes:
        name: the word used in ids (``parity[raw~frozen]``, ``golden[frozen]``) and by ``open_model().runner()``.
        needs: what opening a runner takes besides the signature: ``export`` (the SavedModel itself),
            ``artifact`` (a file the path's option names), ``fixture`` (a value from a user fixture),
            ``server`` (a running TF Serving).
        open: ``Target -> Runner``.
        option: the setting (registry line's option) that turns the path on or names its artifacts.
        default_on: planned without any option (``eager``: every TF2 SavedModel).
        own_collector: items hang under ``savedmodel:NAME:<name>`` (a separate artifact) rather than under the
            export they call (``savedmodel:NAME``).
        on_twins: also compared with each parsing export (``parity[parsing~eager]``), not only the anchor.
        load_item: each artifact gets a ``::load`` item.
        golden: locked golden examples can be replayed on it.
        leads: the path is the left side of its pairs (``reference~raw``); else the export is.
        fixture_option: the setting naming the user fixture the path needs.
        artifacts_from: the setting whose ``[NAME=]PATH`` values are this path's artifacts (default: ``option``).
        methods: served paths: the TF Serving APIs it calls.
        applies: ``ModelSpec -> reason or None``: whether the path applies to an export at all.
        accepts: ``SignatureSpec -> reason or None``: whether it can call a signature.
        enabled: ``Settings -> bool`` beyond its option (served paths: unless ``--savedmodel-server=none``).
    """

    name: str
    needs: str
    open: Callable[[Target], Runner]
    doc: str = ""
    option: str | None = None
    default_on: bool = False
    own_collector: bool = False
    on_twins: bool = False
    load_item: bool = False
    golden: bool = False
    leads: bool = False
    fixture_option: str | None = None
    artifacts_from: str | None = None
    methods: tuple[str, ...] = ("predict",)
    applies: Callable[[ModelSpec], str | None] = _always
    accepts: Callable[[SignatureSpec], str | None] = _always
    enabled: Callable[[Any], bool] = lambda settings: True
    key: str = ""  # its registry name (set by the registry; ``object-checkpoint`` is named ``checkpoint`` in ids)

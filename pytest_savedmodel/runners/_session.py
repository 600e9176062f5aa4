"""Load a SavedModel once per process into its own TF1 Graph and Session.

TF Serving loads every SavedModel (TF1 or TF2) with the session-based loader;
we do the same, so models that ``tf.saved_model.load`` refuses (reference
variables, inconsistent recorded shapes) still run, and so the raw runner sees
the graph TF Serving would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.deadline import session_run
from pytest_savedmodel.errors import ModelLoadError
from pytest_savedmodel.spec import ModelRef

__all__ = ["LoadedModel", "close_all", "close_models", "load_session"]

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, frozenset[str]], LoadedModel] = {}


@dataclass
class LoadedModel:
    """A Graph + Session holding one SavedModel, shared by every runner of that model."""

    ref: ModelRef
    graph: Any
    session: Any
    meta_graph: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    callables: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = field(default_factory=dict)

    def run(self, feeds: dict[str, Any], fetches: list[str]) -> list[Any]:
        """Run the session: tensor names -> values, fetch tensor names -> numpy values.

        Feeds go through TF's low-level session-run call, as TF Serving's C++
        server does: no Python-side static-shape check and no silent dtype cast,
        so a scalar fed to a ``[None, 1]`` tensor runs, and a float64 array fed
        to a float32 tensor fails with TF's own "Expects arg[0] to be float but
        double is provided". (``Session.run`` adds both checks; TF Serving has
        neither.) The run is bounded by ``--savedmodel-timeout`` (:class:`~pytest_savedmodel.deadline.TimedOut`).
        """
        key = (tuple(sorted(feeds)), tuple(fetches))
        with self.lock:
            plan = self.callables.get(key)
            if plan is None:
                get = self.graph.get_tensor_by_name
                plan = ([get(n)._as_tf_output() for n in key[0]], [get(n)._as_tf_output() for n in fetches])
                self.callables[key] = plan
            feed_outputs, fetch_outputs = plan
            feed_map = {out: feeds[name] for out, name in zip(feed_outputs, key[0], strict=True)}
        return session_run(self.session, feed_map, fetch_outputs)  # bounded by --savedmodel-timeout

    def close(self) -> None:
        self.session.close()


_NOISE = ("Graph execution error", "Detected at node", "Node:", "[[", "(most recent call", "Instructions for")


def tf_reason(exc: BaseException) -> str:
    """TF's reason for ``exc`` in one line: the first line that is not a wrapper ('Graph execution error:',
    node lists...), or the exception's type name when it says nothing."""
    text = getattr(exc, "message", None) or str(exc)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(_NOISE)]
    return (useful or lines or [type(exc).__name__])[0]


def _variables_hint(path: Path, message: str) -> str:
    """Say which variables files are there when restoring them failed."""
    var_dir = path / "variables"
    if not var_dir.exists():
        return " The directory has no variables/ subdirectory: copy it along with saved_model.pb."
    if "RestoreV2" not in message and "checkpoint" not in message.lower():
        return ""
    files = ", ".join(f"{p.name} ({p.stat().st_size} bytes)" for p in sorted(var_dir.iterdir()) if p.is_file())
    return (f" Restoring the variables failed: {var_dir} is truncated or corrupt (it holds: {files or 'nothing'}). "
            f"Copy the whole variables/ directory again, or re-export the model.")


def load_session(ref: ModelRef) -> LoadedModel:
    """Load ``ref`` (cached per path and tag-set for the whole process).

    Raises:
        ModelLoadError: naming the directory and TF's own one-line reason.
    """
    key = (str(ref.path), ref.tags)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        tf = import_tf()
        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph)
        try:
            with graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(session, sorted(ref.tags), str(ref.path))
        except (tf.errors.OpError, RuntimeError, ValueError, OSError, KeyError) as exc:
            session.close()
            message = getattr(exc, "message", None) or str(exc)
            hint = _variables_hint(Path(ref.path), message)
            raise ModelLoadError(
                f"TensorFlow could not load the SavedModel {ref.path} (tags {','.join(sorted(ref.tags))}): "
                f"{type(exc).__name__}: {tf_reason(exc).rstrip('.:')}.{hint}",
                path=ref.path,
            ) from None
        loaded = LoadedModel(ref=ref, graph=graph, session=session, meta_graph=meta_graph)
        _CACHE[key] = loaded
        return loaded


def close_all() -> None:
    """Close every cached session (end of the test session)."""
    with _LOCK:
        for loaded in _CACHE.values():
            loaded.close()
        _CACHE.clear()


def close_models(refs: Iterable[ModelRef | None]) -> None:
    """Close the cached sessions of ``refs`` (what one engine session loaded)."""
    with _LOCK:
        for ref in refs:
            if ref is None:
                continue
            for key in [k for k in _CACHE if k[0] == str(ref.path)]:
                _CACHE.pop(key).close()

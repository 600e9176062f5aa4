"""One deadline for every model call, and Ctrl-C that works during one. No TensorFlow at import.

A model that loops (a ``tf.while_loop`` whose condition never turns false) must not hang CI. Every path
bounds its calls by :func:`call_timeout` (``--savedmodel-timeout``, 60 s unless set):

* session paths (raw, parsing, checkpoint, frozen, freeze) pass ``RunOptions(timeout_in_ms=...)``, as TF
  Serving does with the client's deadline; TF cancels the step and the session stays usable;
* the eager path runs the function under a ``CancellationManager`` that a timer cancels;
* served paths give the same number as the gRPC deadline and the REST timeout.

A call past the deadline raises :class:`~pytest_savedmodel.errors.CallTimeout`, a finding. :func:`interruptible`
runs a call from the main thread in a worker thread, so that Ctrl-C is seen at once (a C call does not return
to Python to notice it) and cancels the call instead of waiting for the deadline.

    set_call_timeout(5.0)                                    # the session does this from its settings
    values = session_run(session, feeds, fetches)            # raises CallTimeout after 5 s
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pytest_savedmodel.errors import CallTimeout, OutOfMemory

__all__ = ["DEFAULT_TIMEOUT", "TimedOut", "call_timeout", "interruptible", "out_of_memory", "session_run",
           "set_call_timeout", "timeout_finding"]

DEFAULT_TIMEOUT = 60.0
_timeout = DEFAULT_TIMEOUT
T = TypeVar("T")


def set_call_timeout(seconds: float) -> None:
    """Bound every model call made from now on to ``seconds`` (the session sets it from its settings)."""
    global _timeout
    if not seconds > 0:
        raise ValueError(f"a call timeout must be positive, got {seconds!r}")
    _timeout = float(seconds)


def call_timeout() -> float:
    """The bound, in seconds, on one model call."""
    return _timeout


def interruptible(call: Callable[[], T], cancel: Callable[[], None], *, poll: float = 0.2) -> T:
    """``call()``, made interruptible by Ctrl-C when called from the main thread.

    The call runs in a worker thread while the main thread waits in short steps, so a KeyboardInterrupt
    arrives at once; ``cancel()`` then stops the call (a TF cancellation) and the interrupt goes on.
    From any other thread (the concurrency check's clients) the call runs where it is: only the main
    thread receives signals.
    """
    if threading.current_thread() is not threading.main_thread():
        return call()
    done, result = _in_thread(call, "savedmodel-call")
    try:
        while not done.wait(poll):
            pass
    except KeyboardInterrupt:
        cancel()
        done.wait(5.0)
        raise
    return result()


def _in_thread(call: Callable[[], T], name: str) -> tuple[threading.Event, Callable[[], T]]:
    """``call()`` started in a daemon thread: (set when it ended, its value or its exception, once ended)."""
    box: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    def result() -> T:
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]

    threading.Thread(target=work, name=name, daemon=True).start()
    return done, result


def abandoned_after(call: Callable[[], T]) -> T:
    """``call()`` bounded by :func:`call_timeout` where it cannot be cancelled (a TFLite interpreter): it runs
    in a worker thread; past the bound :class:`TimedOut` is raised and the thread is left to finish on its
    own (a daemon: it does not hold the process). The caller must not reuse what the call was using."""
    seconds = call_timeout()
    done, result = _in_thread(call, "savedmodel-uncancellable-call")
    if not done.wait(seconds):
        raise TimedOut(seconds)
    return result()


class TimedOut(Exception):
    """A call ran past :func:`call_timeout` (raised below the runners, which turn it into a CallTimeout)."""


def session_run(session: Any, feed_map: Mapping[Any, Any], fetch_outputs: list[Any]) -> list[Any]:
    """TF's low-level session run, bounded by :func:`call_timeout` and interruptible by Ctrl-C.

    ``RunOptions(timeout_in_ms=...)`` makes TF cancel the step (DeadlineExceeded); the session stays usable.
    Ctrl-C closes the session, which cancels the running step.
    """
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.client import pywrap_tf_session
    from tensorflow.python.framework import errors

    seconds = call_timeout()
    options = config_pb2.RunOptions(timeout_in_ms=max(1, int(seconds * 1000))).SerializeToString()

    def call() -> list[Any]:
        buffer = pywrap_tf_session.TF_NewBufferFromString(options)
        try:
            return list(session._call_tf_sessionrun(buffer, dict(feed_map), fetch_outputs, [], None))
        finally:
            pywrap_tf_session.TF_DeleteBuffer(buffer)

    try:
        return interruptible(call, session.close)
    except errors.DeadlineExceededError:
        raise TimedOut(seconds) from None


def eager_call(function: Callable[..., T], /, **kwargs: Any) -> T:
    """``function(**kwargs)`` for a TF2 concrete function, cancelled after :func:`call_timeout`."""
    from tensorflow.python.eager import cancellation
    from tensorflow.python.framework import errors

    seconds = call_timeout()
    manager = cancellation.CancellationManager()
    timer = threading.Timer(seconds, manager.start_cancel)
    timer.daemon = True
    timer.start()
    try:
        cancelable: Callable[..., T] = manager.get_cancelable_function(function)
        return interruptible(lambda: cancelable(**kwargs), manager.start_cancel)
    except errors.CancelledError:
        if manager.is_cancelled:
            raise TimedOut(seconds) from None
        raise
    finally:
        timer.cancel()


def _shown(features: Mapping[str, Any]) -> str:
    import numpy as np

    parts = []
    for key, value in sorted(features.items()):
        arr = np.asarray(value)
        if arr.size <= 8:
            parts.append(f"{key!r}: {arr.tolist()!r}")
        else:
            parts.append(f"{key!r}: {arr.dtype}{list(arr.shape)}")
    return "{" + ", ".join(parts) + "}"


def timeout_finding(path: str, label: str, signature: str, features: Mapping[str, Any],
                    seconds: float | None = None, *, cancelled: bool = True) -> CallTimeout:
    """The finding for a call that did not answer in time (``cancelled``: TF stopped it; else it was left
    running, as a TFLite interpreter cannot be stopped, and the path is not called again)."""
    seconds = call_timeout() if seconds is None else seconds
    fate = "the call was cancelled" if cancelled else (
        "the call cannot be cancelled (a TFLite interpreter) and was left running; this path is not called again")
    return CallTimeout(
        f"{path} path: {label} signature {signature!r} did not answer within {seconds:g} s (--savedmodel-timeout) "
        f"on inputs {_shown(features)}; {fate}. A model that loops forever on some inputs (a "
        f"tf.while_loop whose condition never turns false) holds a TF Serving thread the same way until the "
        f"client's deadline. If the model is merely slow, raise --savedmodel-timeout.",
        path=path, signature=signature, seconds=seconds, features=dict(features))


def out_of_memory(path: str, what: str, features: Mapping[str, Any], exc: BaseException) -> OutOfMemory:
    """The error for a call that ran out of memory: the machine's limit, reported once, not a finding."""
    import numpy as np

    size = sum(np.asarray(v).nbytes for v in features.values())
    reason = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).strip().splitlines()[0][:300]
    return OutOfMemory(f"{path} path: {what} ran out of memory on inputs of {size} bytes ({type(exc).__name__}: "
                       f"{reason}). The machine could not hold what the model computes for these inputs; other "
                       f"checks of this signature are skipped. Lower --savedmodel-max-batch or give the run more "
                       f"memory", runner=path, signature=what)

"""The rollout item: the candidate rolls in over production on a live TF Serving, and no request notices.

TF Serving watches a model's base directory (``--file_system_poll_wait_seconds``) and, with its default
version policy (the latest version, availability preserving), loads a new version before it unloads the old
one. ``rollout[grpc]`` (opt in: ``--savedmodel-rollout``, with ``--savedmodel-baseline``) reproduces a deploy:
a server of its own serves the baseline as version 1; four client threads keep sending eight deterministic
requests over gRPC (no version pinned, as clients call); the candidate is added as version 2; the item waits
until version 2 is AVAILABLE and version 1 is gone, lets requests run on a moment longer, then checks that
no request failed and that every answer is one version's answer to that request (the baseline's or the
candidate's, as each computes it in-process), never an error from a half-loaded model or a mix.

It needs a server it starts over a directory it owns: the emulator or the real binary (``auto`` picks
one). Docker binds fixed version directories and a ``url:`` server is not ours to change: with those the
option is a usage error at start-up.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_savedmodel.serving.launcher import ModelServer, ServedModel

if TYPE_CHECKING:
    from pytest_savedmodel.context import CheckContext

__all__ = ["THREADS", "run_rollout"]

THREADS = 4
_NAME = "rollout"


class _RollingServer(ModelServer):
    """A server that polls its model's base directory every second, so a version added there rolls in."""

    def _local_command(self, grpc_port: int, rest_port: int) -> list[str]:
        return [("--file_system_poll_wait_seconds=1" if a == "--file_system_poll_wait_seconds=0" else a)
                for a in super()._local_command(grpc_port, rest_port)]

    def add_version(self, path: Path, version: int) -> None:
        for _, base in self._base_dirs():
            (base / str(version)).symlink_to(path.resolve(), target_is_directory=True)


def _states(server: ModelServer) -> dict[int, tuple[str, str]]:
    from pytest_savedmodel.serving.client import model_versions

    try:
        return {int(v): (state, err) for v, state, err in model_versions(server.grpc_target, _NAME, timeout=2.0)}
    except Exception:  # a status call that failed mid-transition: asked again
        return {}


def run_rollout(ctx: CheckContext) -> None:
    from pytest_savedmodel.compare import compare_outputs
    from pytest_savedmodel.errors import ModelCheckFailure
    from pytest_savedmodel.golden import golden_inputs
    from pytest_savedmodel.runners.grpc import GrpcRunner

    p, s = ctx.planned, ctx.settings
    assert p.left is not None and p.right is not None
    old, new = ctx.open(p.left), ctx.open(p.right)  # in-process: each version's own answers
    requests = golden_inputs(ctx.generation_signature(p.right), count=8)
    want = [(old.predict(f), new.predict(f)) for f in requests]
    old_ref = ctx.session.artifacts.by_collector(p.left.export).ref
    new_ref = ctx.session.artifacts.by_collector(p.right.export).ref
    log_dir = Path(tempfile.mkdtemp(prefix="savedmodel-rollout-"))
    server = _RollingServer.create(s.server, models=[ServedModel(_NAME, old_ref.path, 1)], log_dir=log_dir,
                                   startup_timeout=s.server_timeout, tags=tuple(sorted(s.tags)))
    assert isinstance(server, _RollingServer)
    answers: list[tuple[int, Any, BaseException | None]] = []
    lock, stop = threading.Lock(), threading.Event()
    try:
        server.start()
        client = GrpcRunner(new.signature, target=server.grpc_target, model_name=_NAME)

        def send(k: int) -> None:
            i = k
            while not stop.is_set():
                idx = i % len(requests)
                i += THREADS
                try:
                    out, err = client.predict(requests[idx]), None
                except Exception as exc:  # a failed request is the finding
                    out, err = None, exc
                with lock:
                    answers.append((idx, out, err))

        threads = [threading.Thread(target=send, args=(k,), daemon=True) for k in range(THREADS)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # requests flowing on version 1
        server.add_version(new_ref.path, 2)
        started, switched, states = time.monotonic(), None, {}
        while time.monotonic() - started < s.server_timeout:
            states = _states(server)
            if states.get(2, ("", ""))[0] == "END" and states[2][1]:
                break  # version 2 failed to load
            if states.get(2, ("", ""))[0] == "AVAILABLE" and states.get(1, ("END", ""))[0] == "END":
                switched = time.monotonic() - started
                break
            time.sleep(0.1)
        time.sleep(0.3)  # and on version 2
        stop.set()
        for t in threads:
            t.join(10)
        tail = server.log_tail(15)
    finally:
        stop.set()
        server.stop()
        shutil.rmtree(log_dir, ignore_errors=True)
    ctx.result.examples = len(answers)
    label = f"{ctx.label} signature {new.signature.key!r}"
    if switched is None:
        seen = ", ".join(f"version {v}: {st}{' (' + e + ')' if e else ''}" for v, (st, e) in sorted(states.items()))
        raise ModelCheckFailure(f"{label}: version 2 (the candidate) did not replace version 1 (the baseline) within "
                                f"{s.server_timeout:g} s on {server.describe()}: {seen or 'no status'}\n"
                                f"--- server log (last lines) ---\n{tail}", signature=new.signature.key)
    failed = [(i, e) for i, _, e in answers if e is not None]
    if failed:
        raise ModelCheckFailure(f"{label}: {len(failed)} of {len(answers)} requests failed while version 2 rolled in "
                                f"over version 1 (first: request {failed[0][0]}: {str(failed[0][1]).splitlines()[0]})",
                                signature=new.signature.key)
    counts = [0, 0]
    for i, out, _ in answers:
        match = [compare_outputs(w, out, tolerance=ctx.tolerance, outputs=sorted(set(w) & set(out))).ok
                 for w in want[i]]
        if not any(match):
            raise ModelCheckFailure(f"{label}: during the rollout, request {i} got an answer that is neither the "
                                    f"baseline's nor the candidate's: {out!r}", signature=new.signature.key)
        counts[0] += match[0] and not match[1]
        counts[1] += match[1] and not match[0]
    ctx.result.note = (f"{len(answers)} requests from {THREADS} threads while version 2 replaced version 1 "
                       f"(AVAILABLE, version 1 unloaded, after {switched:.1f} s): none failed; answers only the "
                       f"baseline gives: {counts[0]}, only the candidate gives: {counts[1]}")

"""The profiler gRPC service (``tensorflow.ProfilerService``) on the serving port, as ``server.cc:392-396``
registers TSL's when ``--enable_profiler`` (the default) is on.

``Profile`` traces this process with TensorFlow's own profiler (``ProfilerSession``, the one behind
``tf.profiler.experimental``) for ``opts.duration_ms`` (or until ``Terminate`` names the session), then writes
the XSpace (as the profiler exports it) to ``<repository_root>/<session_id>/<host_name>.xplane.pb`` and
answers ``empty_trace`` accordingly, as TSL's ``profiler_service_impl.cc`` (Profile, CollectData, SaveXSpace)
does. A profiler that cannot start (another session is active) is an INTERNAL error with the profiler's
message, as there. ``Monitor`` answers UNIMPLEMENTED "unimplemented.", as there.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc

__all__ = ["profiler_handler"]

log = logging.getLogger("tfs-emulator")
_STOP: dict[str, bool] = {}
_STOP_LOCK = threading.Lock()


def _options(raw: bytes) -> Any:
    from tensorflow.tsl.profiler.protobuf import profiler_options_pb2

    return profiler_options_pb2.ProfileOptions.FromString(raw)


def _hostname(request: Any, opts: Any) -> str:
    if getattr(opts, "override_hostname", ""):
        return str(opts.override_hostname)
    advanced = getattr(opts, "advanced_configuration", None)  # not in TF 2.15's ProfileOptions
    override = advanced.get("override_hostname") if advanced is not None else None
    if override is not None and override.WhichOneof("value") == "string_value" and override.string_value:
        return str(override.string_value)
    return str(request.host_name)


def _profile(request: Any, context: Any, response_cls: Any) -> Any:
    from tensorflow.python.profiler.internal import _pywrap_profiler

    opts = _options(request.opts)
    duration_ms = opts.duration_ms or request.duration_ms
    session = _pywrap_profiler.ProfilerSession()
    scratch = tempfile.mkdtemp(prefix="tfs-emulator-profile-")
    try:
        try:
            session.start(scratch, {})
        except Exception as exc:  # TSL: ProfilerSession::Create's status as INTERNAL
            context.abort(grpc.StatusCode.INTERNAL, str(exc))
        start = time.monotonic()
        try:
            while (time.monotonic() - start) * 1000 < duration_ms:
                time.sleep(0.001)
                if not context.is_active():
                    context.abort(grpc.StatusCode.CANCELLED, "Cancelled")
                with _STOP_LOCK:
                    if _STOP.pop(request.session_id, False):
                        break
        finally:
            session.export_to_tb()  # stops the session and writes <scratch>/plugins/profile/<run>/<host>.xplane.pb
        written = sorted(Path(scratch).rglob("*.xplane.pb"))
        data = written[0].read_bytes() if written else b""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    empty = not _has_events(data)
    target = Path(request.repository_root) / request.session_id / f"{_hostname(request, opts)}.xplane.pb"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as exc:
        context.abort(grpc.StatusCode.INTERNAL, f"{target}: {exc.strerror or exc}")
    log.info("Profile of %d ms written to %s", duration_ms, target)
    return response_cls(empty_trace=empty)


def _fields(buf: bytes) -> list[tuple[int, bytes]]:
    """The length-delimited fields of one protobuf message, as (number, bytes); other wire types skipped."""
    out: list[tuple[int, bytes]] = []
    i, n = 0, len(buf)

    def varint() -> int:
        nonlocal i
        value, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value

    while i < n:
        key = varint()
        kind = key & 7
        if kind == 0:
            varint()
        elif kind == 1:
            i += 8
        elif kind == 5:
            i += 4
        elif kind == 2:
            size = varint()
            out.append((key >> 3, buf[i:i + size]))
            i += size
        else:
            break
    return out


def _has_events(space: bytes) -> bool:
    """Whether an XSpace holds an event (TSL's IsEmpty, negated), walked on the wire: planes, lines, events (the
    python protobuf may refuse the non-UTF-8 names some planes carry)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    planes = xplane_pb2.XSpace.DESCRIPTOR.fields_by_name["planes"].number
    lines = xplane_pb2.XPlane.DESCRIPTOR.fields_by_name["lines"].number
    events = xplane_pb2.XLine.DESCRIPTOR.fields_by_name["events"].number
    return any(number == events
               for p_no, plane in _fields(space) if p_no == planes
               for l_no, line in _fields(plane) if l_no == lines
               for number, _ in _fields(line))


def profiler_handler() -> Any:
    """The generic handler serving ``tensorflow.ProfilerService``."""
    from pytest_savedmodel.serving.emulator.protos import messages

    m = messages()

    def profile(request: Any, context: Any) -> Any:
        return _profile(request, context, m["tensorflow.ProfileResponse"])

    def terminate(request: Any, context: Any) -> Any:
        with _STOP_LOCK:
            _STOP[request.session_id] = True
        return m["tensorflow.TerminateResponse"]()

    def monitor(request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "unimplemented.")

    def unary(fn: Any, req: str, resp: str) -> Any:
        return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=m[req].FromString,
                                                   response_serializer=m[resp].SerializeToString)

    return grpc.method_handlers_generic_handler("tensorflow.ProfilerService", {
        "Profile": unary(profile, "tensorflow.ProfileRequest", "tensorflow.ProfileResponse"),
        "Terminate": unary(terminate, "tensorflow.TerminateRequest", "tensorflow.TerminateResponse"),
        "Monitor": unary(monitor, "tensorflow.MonitorRequest", "tensorflow.MonitorResponse"),
    })

"""TF Serving's REST API over real HTTP (stdlib server, one thread per request).

Routes, as TF Serving matches them (case-insensitive):

* ``POST /v1/models/NAME[/versions/N | /labels/L]:predict|:classify|:regress``
* ``GET  /v1/models/NAME[/versions/N | /labels/L][/metadata]``
* ``OPTIONS`` anything: CORS preflight;
* the Prometheus page at the ``--monitoring_config_file`` path, if enabled (see ``metrics.py``).

Anything else under ``/v1/`` is a 400 "Malformed request"; outside ``/v1/`` a
plain-text 404. Every ``/v1`` response is JSON, errors as ``{"error": ...}``
with the HTTP status TF Serving maps the error code to. Bodies larger than
``--max_request_bytes`` are refused with 413 before they are read.
"""

from __future__ import annotations

import gzip
import io
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pytest_savedmodel.serving.emulator import json_codec as J
from pytest_savedmodel.serving.emulator.core import ServerCore
from pytest_savedmodel.serving.emulator.json_examples import examples_input
from pytest_savedmodel.serving.emulator.metrics import METRICS
from pytest_savedmodel.serving.emulator.servables import RUN_TIMEOUT_MS
from pytest_savedmodel.serving.emulator.status import ServingError

__all__ = ["RestServer", "start_rest_server"]

_POST = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)", re.I)
_GET = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?", re.I)


def _pb() -> Any:
    from google.protobuf import json_format
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        predict_pb2,
        regression_pb2,
    )

    return (json_format, predict_pb2, classification_pb2, regression_pb2, get_model_metadata_pb2,
            get_model_status_pb2)


class _Api:
    """REST request -> protobuf request -> core -> JSON text (or ServingError)."""

    def __init__(self, core: ServerCore, max_depth: int) -> None:
        self.core = core
        self.max_depth = max_depth

    @staticmethod
    def _spec(target: Any, name: str, version: str | None, label: str | None) -> None:
        target.name = urllib.parse.unquote(name)
        if version:
            try:
                target.version.value = int(version)
            except (ValueError, OverflowError):
                raise ServingError("INVALID_ARGUMENT", f"Failed to convert version: {version} to numeric.") from None
            if not -2**63 <= int(version) < 2**63:
                raise ServingError("INVALID_ARGUMENT", f"Failed to convert version: {version} to numeric.")
        if label:
            target.version_label = urllib.parse.unquote(label)

    def handle(self, method: str, path: str, body: bytes) -> str:
        malformed = ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")
        if method == "POST":
            m = _POST.fullmatch(path)
            if not m:
                raise malformed
            name, version, label, verb = m.groups()
            handler = {"predict": self.predict, "classify": self.classify, "regress": self.regress}[verb.lower()]
            return handler(name, version, label, body)
        if method == "GET":
            m = _GET.fullmatch(path)
            if not m:
                raise malformed
            name, version, label, sub = m.groups()
            if not name:
                raise ServingError("INVALID_ARGUMENT", "Missing model name in request.")
            return self.metadata(name, version, label) if sub else self.status(name, version, label)
        raise malformed

    def _request(self, request: Any, name: str, version: str | None, label: str | None, body: bytes, *,
                 dense: bool = False) -> Any:
        """Fill the request's ModelSpec from the URL and the JSON ``signature_name``; return the parsed body
        (``dense``: with large numeric arrays as ``json_spans.Span``, where the body has any)."""
        self._spec(request.model_spec, name, version, label)
        doc = (J.parse_dense if dense else J.parse_body)(body, max_depth=self.max_depth)
        if "signature_name" in doc:
            if not isinstance(doc["signature_name"], str):
                if J.holds_spans(doc):  # the plain parse words the error
                    return self._request(request, name, version, label, body)
                raise ServingError("INVALID_ARGUMENT", f"JSON Value: {J.debug_string(doc)} not formatted correctly. "
                                                       f"'signature_name' key must be a string value.")
            request.model_spec.signature_name = doc["signature_name"]
        return doc

    def predict(self, name: str, version: str | None, label: str | None, body: bytes) -> str:
        _, predict_pb2, *_ = _pb()
        request = predict_pb2.PredictRequest()
        doc = self._request(request, name, version, label, body, dense=True)
        servable = self.core.manager.resolve(request.model_spec)
        signame = request.model_spec.signature_name or "serving_default"
        sig = servable.signature_def(signame)
        if sig is None:
            raise ServingError("INVALID_ARGUMENT", f'Serving signature name: "{signame}" not found in signature def')
        if not sig.inputs:
            raise ServingError("INVALID_ARGUMENT", f"Failed to get input map for signature: "
                                                   f"{request.model_spec.signature_name or 'DEFAULT'}")
        # numeric tensors go JSON -> numpy -> session and back without TensorProtos (json_fast, json_spans: the
        # element-wise path's answers)
        fmt, tensors = J.inputs_of(doc, body, {k: v.dtype for k, v in sig.inputs.items()}, max_depth=self.max_depth)
        outputs = self.core.predict_arrays(request, tensors)
        return J.predict_response({k: outputs[k] for k in sorted(outputs)}, fmt)

    def _examples(self, kind: str, name: str, version: str | None, label: str | None, body: bytes) -> Any:
        _, _, classification_pb2, regression_pb2, *_ = _pb()
        request = (classification_pb2.ClassificationRequest() if kind == "classify"
                   else regression_pb2.RegressionRequest())
        doc = self._request(request, name, version, label, body)
        examples_input(doc, request)
        return request

    def classify(self, name: str, version: str | None, label: str | None, body: bytes) -> str:
        response = self.core.classify(self._examples("classify", name, version, label, body))
        return J.classify_response(response.result)

    def regress(self, name: str, version: str | None, label: str | None, body: bytes) -> str:
        response = self.core.regress(self._examples("regress", name, version, label, body))
        return J.regress_response(response.result)

    def status(self, name: str, version: str | None, label: str | None) -> str:
        json_format, *_, status_pb2 = _pb()
        request = status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, name, version, label)
        response = self.core.get_model_status(request)
        return message_json(json_format, response)

    def metadata(self, name: str, version: str | None, label: str | None) -> str:
        json_format, _, _, _, metadata_pb2, _ = _pb()
        request = metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, name, version, label)
        response = self.core.get_model_metadata(request)
        sig_map = metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        spec_json = message_json(json_format, response.model_spec)
        sig_json = message_json(json_format, sig_map)
        return '{\n"model_spec":' + spec_json + ',\n"metadata": {"signature_def": ' + sig_json + "}\n}\n"


def message_json(json_format: Any, message: Any) -> str:
    """``MessageToJson`` as TF Serving prints it (field names as in the proto, defaults included, indent 1).

    protobuf 5.26 renamed ``including_default_value_fields`` to ``always_print_fields_with_no_presence``;
    TF 2.15 pins protobuf 4.25, which knows only the old name.
    """
    opts: dict[str, Any] = {"preserving_proto_field_name": True, "indent": 1}
    try:
        return str(json_format.MessageToJson(message, always_print_fields_with_no_presence=True, **opts))
    except TypeError:
        return str(json_format.MessageToJson(message, including_default_value_fields=True, **opts))


def _route(method: str, path: str) -> tuple[str, str]:
    """The model name and verb TF Serving's ParseModelInfo finds in a /v1 path (both empty if it finds none), for
    the request metrics (http_server.cc:195-201)."""
    m = (_POST if method == "POST" else _GET).fullmatch(path)
    if not m or not m.group(1):
        return "", ""
    return urllib.parse.unquote(m.group(1)), (m.group(4) if method == "POST" else "")


def _make_handler(api: _Api, *, enable_cors: bool, max_body: int, timeout_ms: int = 0,
                  monitoring_path: str | None = None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "TensorFlow-Serving-emulator"
        # --rest_api_timeout_in_ms bounds a session run (TF Serving's HttpRestApiHandler sets
        # RunOptions.timeout_in_ms from it) and here also an idle keep-alive connection
        timeout = timeout_ms / 1000 if timeout_ms > 0 else None

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are not logged (TF Serving logs them only at VLOG 1)

        def setup(self) -> None:
            super().setup()
            # no Nagle: headers and body go out at once (else delayed ACKs add ~40 ms per request)
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, text: str, *, json_body: bool = True, kind: str = "text/html") -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if json_body else kind)
            self.send_header("Content-Length", str(len(data)))
            if enable_cors:
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "POST, GET")
                self.send_header("Access-Control-Allow-Headers", "Content-Type")
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes | None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > max_body:
                self.close_connection = True
                self._send(413, J.dumps({"error": f"Request body of {length} bytes is larger than the "
                                                  f"{max_body} bytes this server accepts (--max_request_bytes)"}))
                return None
            data = self.rfile.read(length) if length else b""
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                try:
                    with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
                        data = f.read(max_body + 1)
                except (OSError, EOFError):
                    data = b""
                if len(data) > max_body:
                    self._send(413, J.dumps({"error": "Decompressed request body is too large"}))
                    return None
            return data

        def _dispatch(self, method: str) -> None:
            path = urllib.parse.urlsplit(self.path).path
            body = self._body() if method in ("POST", "PUT") or self.headers.get("Content-Length") else b""
            if body is None:
                return
            if monitoring_path is not None and path == monitoring_path:
                self._send(200, METRICS.page(), json_body=False, kind="text/plain")
                return
            if method == "OPTIONS":
                origin = self.headers.get("Origin", "")
                if re.search(r"https?://", origin):
                    self._send(200, "")
                else:
                    self._send(400, J.dumps({"error": "Origin header is missing in CORS preflight"}))
                return
            if not re.match(r"/v1/", path, re.I):
                self._send(404, "<html><body><h1>404 Not Found</h1></body></html>", json_body=False)
                return
            token = RUN_TIMEOUT_MS.set(max(0, timeout_ms))
            start, code = time.monotonic(), "OK"
            model, verb = _route(method, path)
            try:
                text = api.handle(method, path, body)
                self._send(200, text)
                METRICS.request_latency(model, verb, "REST", (time.monotonic() - start) * 1e6)
            except ServingError as exc:
                code = exc.code
                self._send(exc.http_status, J.dumps({"error": exc.message}))
            except MemoryError:  # RESOURCE_EXHAUSTED, as TF Serving maps TF's allocation failures
                code = "RESOURCE_EXHAUSTED"
                self._send(429, J.dumps({"error": "OOM when allocating the request's tensors or outputs"}))
            except Exception as exc:  # a bug of ours must not kill the server
                code = "INTERNAL"
                self._send(500, J.dumps({"error": f"{type(exc).__name__}: {exc}"}))
            finally:
                RUN_TIMEOUT_MS.reset(token)
                METRICS.request(model, code)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def do_OPTIONS(self) -> None:
            self._dispatch("OPTIONS")

    return Handler


class RestServer:
    """A running REST server: ``.port``, ``.shutdown()``."""

    def __init__(self, httpd: ThreadingHTTPServer) -> None:
        self.httpd = httpd
        self.port = httpd.server_address[1]
        self.thread = threading.Thread(target=httpd.serve_forever, name="tfs-emulator-rest", daemon=True)
        self.thread.start()

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start_rest_server(core: ServerCore, *, host: str, port: int, timeout_ms: int = 30000, enable_cors: bool = False,
                      max_body_bytes: int = 64 * 1024 * 1024, max_depth: int = 128,
                      monitoring_path: str | None = None) -> RestServer:
    """Serve TF Serving's REST API for ``core`` on ``host:port`` in background threads (and the Prometheus page
    at ``monitoring_path`` if given)."""
    handler = _make_handler(_Api(core, max_depth), enable_cors=enable_cors, max_body=max_body_bytes,
                            timeout_ms=timeout_ms, monitoring_path=monitoring_path)
    ThreadingHTTPServer.daemon_threads = True
    httpd = ThreadingHTTPServer((host, port), handler)
    return RestServer(httpd)

"""The REST runner: TF Serving's HTTP/JSON API, encoded and decoded as a careful client would.

Requests: floats as the shortest decimal that reads back to the same double
(so float32 values arrive exactly), ints as JSON integers (int64 exact), bools
as true/false, every string as ``{"b64": ...}`` (binary-safe), NaN and
infinities as TF Serving's ``NaN``/``Infinity`` tokens. Responses are restored
to the signature's dtypes, so a float32 printed with 9 digits
(``1.43577434e+09``) comes back as the exact float32 it was.

Example:
    >>> with RestRunner(sig, base_url="http://127.0.0.1:8501", model_name="half") as r:
    ...     r.predict({"x": np.array([2.0], np.float32)})["y"]
    array([3.], dtype=float32)
    >>> print(r.curl({"x": np.array([2.0], np.float32)}))
    curl -X POST http://127.0.0.1:8501/v1/models/half:predict -H 'Content-Type: application/json' -d '{...}'
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from pytest_savedmodel._names import shell_line, url_segment
from pytest_savedmodel.deadline import call_timeout, timeout_finding
from pytest_savedmodel.errors import RunnerError, UsageError
from pytest_savedmodel.runners.base import Provider, Runner, Target, batches, sendable_inputs
from pytest_savedmodel.spec import DType, Features, Outputs, ParseSpec, SignatureSpec

__all__ = ["PROVIDER", "RestRunner", "to_json_value"]

METHODS = ("predict", "classify", "regress")


def to_json_value(value: Any, *, arrays: bool = False) -> Any:
    """A numpy value (any rank) as JSON-ready Python: lists, floats, ints, bools, ``{"b64": ...}``. With
    ``arrays``, a numeric or bool array stays an array (float64, int or bool, C-ordered) for
    ``_json.dumps``, which writes it with orjson without building a Python list (an image's ``tolist`` alone
    costs 2 ms); its text is the list's."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return to_json_value(value[()])
        if value.dtype.kind in "biuf":  # numbers and bools in one C pass (an image is 27k elements)
            if arrays:
                return np.ascontiguousarray(value, dtype=np.float64 if value.dtype.kind == "f" else None)
            return value.tolist()
        return [to_json_value(v) for v in value]
    if isinstance(value, (bytes, np.bytes_)):
        return {"b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, str):
        return {"b64": base64.b64encode(value.encode()).decode()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


def _from_json(value: Any, dtype: DType | None) -> np.ndarray:
    """A JSON output restored to the signature's dtype (b64 objects -> bytes)."""
    def strings(v: Any) -> Any:
        if isinstance(v, list):
            return [strings(x) for x in v]
        if isinstance(v, dict) and "b64" in v:
            return base64.b64decode(v["b64"])
        return v.encode() if isinstance(v, str) else v

    if (dtype is not None and dtype.is_string) or _has_strings(value):
        nested = strings(value)
        if isinstance(nested, list):
            return _object_array(nested)
        arr = np.empty((), dtype=object)
        arr[()] = nested
        return arr
    if dtype is not None and dtype.numpy is not None:
        if dtype.is_integer:
            return np.asarray(value, dtype=dtype.numpy)
        if dtype.is_float:
            return np.asarray(value, dtype=np.float64).astype(dtype.numpy)
        return np.asarray(value, dtype=dtype.numpy)
    return np.asarray(value)


def _has_strings(value: Any) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, (str, dict))


def _object_array(nested: list[Any]) -> np.ndarray:
    """Nested lists of bytes as an object array of the same shape (numpy would make bytes arrays)."""
    shape = np.shape(np.asarray(nested, dtype=object))
    flat: list[Any] = []

    def walk(v: Any, depth: int) -> None:
        if depth == len(shape):
            flat.append(v)
        else:
            for x in v:
                walk(x, depth + 1)

    walk(nested, 0)
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    return arr.reshape(shape)


class RestRunner(Runner):
    """Predict (row or columnar), Classify or Regress over TF Serving's REST API.

    Classify and Regress outputs are shaped as :class:`~pytest_savedmodel.runners.grpc.GrpcRunner` gives them:
    TF Serving's answer, ``outputs`` ``[N]``, ``classes``/``scores`` ``[N, num_classes]``.
    """

    name = "rest"

    def __init__(self, signature: SignatureSpec, *, base_url: str, model_name: str, version: int | None = None,
                 version_label: str | None = None, method: str = "predict", format: str = "row",
                 timeout: float | None = None, parse_spec: ParseSpec | None = None, name: str | None = None) -> None:
        if method not in METHODS:
            raise UsageError(f"RestRunner(method={method!r}): use one of {', '.join(METHODS)}")
        if format not in ("row", "columnar"):
            raise UsageError(f"RestRunner(format={format!r}): use 'row' (instances) or 'columnar' (inputs)")
        if method == "predict" and not signature.inputs:
            raise UsageError(f"signature {signature.key!r} has no inputs, and TF Serving's REST API cannot call it: "
                             f"a predict request needs 'instances' or 'inputs', and an empty one is refused with "
                             f"\"Failed to get input map for signature\". Call it over gRPC (GrpcRunner) instead")
        self.signature = signature
        self.base_url, self.model_name = base_url.rstrip("/"), model_name
        self.version, self.version_label = version, version_label
        self.method, self.format, self.timeout = method, format, timeout
        self.parse_spec = parse_spec or signature.parse_spec
        if method != "predict" and self.parse_spec is None:
            raise UsageError(f"RestRunner(method={method!r}) needs the tf.Example parse spec of signature "
                             f"{signature.key!r} (pass parse_spec=)")
        self.name = name or (f"rest-{method}" if method != "predict" else "rest")
        self._http: Any = None  # runners._http.HttpClient, made on the first call

    @property
    def url(self) -> str:
        """The request URL; the model name and label percent-encoded (a directory name may hold anything)."""
        where = (f"/versions/{self.version}" if self.version is not None
                 else f"/labels/{url_segment(self.version_label)}" if self.version_label else "")
        return f"{self.model_url}{where}:{self.method}"

    @property
    def deadline(self) -> float:
        """The HTTP timeout of a call: ``timeout=``, else ``--savedmodel-timeout``."""
        return self.timeout if self.timeout is not None else call_timeout()

    @property
    def model_url(self) -> str:
        return f"{self.base_url}/v1/models/{url_segment(self.model_name)}"

    def body(self, features: Features, *, arrays: bool = False) -> dict[str, Any]:
        """The JSON request for ``features`` (``arrays``: numeric tensors left as arrays, see ``to_json_value``)."""
        doc: dict[str, Any] = {"signature_name": self.signature.key}
        if self.method != "predict":
            doc["examples"] = self._examples(features)
            return doc
        if self.format == "columnar":
            doc["inputs"] = {k: to_json_value(np.asarray(v), arrays=arrays) for k, v in sorted(features.items())}
            return doc
        n = len(next(iter(features.values()))) if features else 0
        if len(self.signature.inputs) == 1 and len(features) == 1:
            doc["instances"] = to_json_value(np.asarray(next(iter(features.values()))), arrays=arrays)
        else:
            doc["instances"] = [{k: to_json_value(np.asarray(v)[i], arrays=arrays) for k, v in sorted(features.items())}
                                for i in range(n)]
        return doc

    def _examples(self, features: Features) -> list[dict[str, Any]]:
        from pytest_savedmodel.tfexample import row_values, rows_of

        assert self.parse_spec is not None
        kinds = {f.key: f.dtype for f in self.parse_spec.features}
        n = rows_of(features)  # FeatureRows({}, rows=n): n empty examples, each {}
        out = []
        for i in range(n):
            ex: dict[str, Any] = {}
            for key, value in sorted(features.items()):
                row = row_values(np.asarray(value, dtype=object)[i] if np.asarray(value).dtype == object
                                 else np.asarray(value)[i])
                mask = getattr(features, "absent", {}).get(key)  # values the raw graph drops: left out, as gRPC
                if mask is not None:
                    keep = ~np.asarray(mask[i], dtype=bool).reshape(-1)
                    if not keep.any():
                        continue
                    row = row[keep]
                dtype = kinds.get(key)
                if (dtype is not None and dtype.is_string) or row.dtype.kind in "OSU":
                    ex[key] = [to_json_value(v if isinstance(v, bytes) else str(v).encode()) for v in row]
                elif (dtype is not None and dtype.is_integer) or (dtype is None and row.dtype.kind in "iub"):
                    ex[key] = [int(v) for v in row.astype(np.int64)]
                else:
                    ex[key] = [float(np.float32(v)) for v in row]  # json writes floats with '.', so float_list
            out.append(ex)
        return out

    def dumps(self, features: Features) -> str:
        return json.dumps(self.body(features), allow_nan=True)

    def curl(self, features: Features) -> str:
        """The equivalent ``curl`` command, to reproduce a failure by hand: every argument shell-quoted."""
        return shell_line(["curl", "-X", "POST", self.url, "-H", "Content-Type: application/json",
                           "-d", self.dumps(features)])

    def _post(self, features: Features) -> Any:
        from pytest_savedmodel import _json
        from pytest_savedmodel.runners._http import HttpFailure, HttpTimeout

        payload = _json.dumps(self.body(features, arrays=True))
        try:
            status, content = self._client().request("POST", self.url, body=payload, timeout=self.deadline,
                                                     headers={"Content-Type": "application/json"})
        except HttpTimeout:
            raise timeout_finding(self.name, f"model {self.model_name!r} at {self.base_url}", self.signature.key,
                                  features, self.deadline) from None
        except HttpFailure as exc:
            raise RunnerError(f"{self.name} runner: POST {self.url} failed: {exc} (the server is not answering: did "
                              f"it crash or stop? see its log)", runner=self.name,
                              signature=self.signature.key) from None
        if status != 200:
            text = content.decode("utf-8", errors="replace")
            try:
                err = _json.loads(content).get("error", text)
            except (ValueError, AttributeError):
                err = text
            if status == 504:  # DEADLINE_EXCEEDED: the run outlived --rest_api_timeout_in_ms
                finding = timeout_finding(self.name, f"model {self.model_name!r} at {self.base_url}",
                                          self.signature.key, features, self.deadline)
                finding.add_note(f"the server answered HTTP 504: {err}")
                raise finding
            data = self.dumps(features)
            shown = data if len(data) < 600 else data[:600] + "...(truncated)"
            raise RunnerError(
                f"{self.name} runner: POST {self.url} answered HTTP {status}: {err}\n  request body: "
                f"{shown}\n  reproduce with: {self.curl(features) if len(data) < 2000 else 'curl ... (body too long)'}",
                runner=self.name, signature=self.signature.key,
                reason=str(err) if status == 400 else "")
        return _json.loads(content)

    def predict(self, features: Features) -> Outputs:
        doc = self._post(features)
        if self.method == "classify":
            results = doc["results"]
            out: Outputs = {}
            if "classes" in self.signature.outputs:
                out["classes"] = _object_array([[str(c[0]).encode() for c in row] for row in results])
            if "scores" in self.signature.outputs or not out:
                out["scores"] = np.asarray([[c[1] for c in row] for row in results], dtype=np.float64).astype(
                    np.float32)
            return out
        if self.method == "regress":
            # one value per example, whatever rank the signature declares (TF Serving's answer, as gRPC's)
            return {"outputs": np.asarray(doc["results"], dtype=np.float64).astype(np.float32).reshape(-1)}
        outs = self.signature.outputs
        key = "predictions" if "predictions" in doc else "outputs"
        value = doc[key]
        names = sorted(outs)
        if len(names) == 1:
            return {names[0]: _from_json(value, outs[names[0]].dtype)}
        if key == "outputs":
            return {k: _from_json(v, outs[k].dtype if k in outs else None) for k, v in value.items()}
        return {k: _from_json([row[k] for row in value], outs[k].dtype) for k in names}

    def metadata(self) -> dict[str, Any]:
        """GET .../metadata as parsed JSON."""
        return self._get("/metadata")

    def status(self) -> dict[str, Any]:
        """GET /v1/models/NAME as parsed JSON."""
        return self._get("")

    def _get(self, suffix: str) -> dict[str, Any]:
        from pytest_savedmodel import _json
        from pytest_savedmodel.runners._http import HttpFailure, HttpTimeout

        url = f"{self.model_url}{suffix}"
        try:
            status, content = self._client().request("GET", url, timeout=self.deadline)
        except (HttpTimeout, HttpFailure) as exc:
            raise RunnerError(f"{self.name} runner: GET {url} failed: {exc}", runner=self.name) from None
        doc: dict[str, Any] = _json.loads(content)
        if status != 200:
            raise RunnerError(f"{self.name} runner: GET {url} answered HTTP {status}: {doc.get('error', doc)}",
                              runner=self.name)
        return doc

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self._http = None

    def _client(self) -> Any:
        if self._http is None:
            from pytest_savedmodel.runners._http import HttpClient

            self._http = HttpClient()
        return self._http


def _open(target: Target) -> RestRunner:
    return RestRunner(target.signature, base_url=target.server.rest_url, model_name=target.model_name,
                      version=target.version, method=target.method,
                      format="row" if batches(target.signature) else "columnar")


def _accepts(sig: SignatureSpec) -> str | None:
    if not sig.inputs:
        return "TF Serving's REST API cannot call a signature without inputs"
    return sendable_inputs(sig)


PROVIDER = Provider("rest", "server", _open, doc="TF Serving's REST API",
                    on_twins=True, golden=True, methods=("predict", "classify", "regress"), accepts=_accepts,
                    enabled=lambda settings: settings.server.strip().lower() != "none")

"""A bounded fuzz run of the TF Serving emulator over REST and gRPC, on loopback. Not part of the test suite.

    python benchmarks/fuzz_emulator.py [--requests 10000] [--seconds 600]     (or: make fuzz)

Starts the emulator with TF Serving's half_plus_two, counter and matrix test models (from ../shared), then
sends Hypothesis-generated requests: REST bodies (valid-looking JSON, JSON of any shape, raw bytes, deep
nesting) on every route and method, and gRPC Predict/Classify/Regress/GetModelMetadata requests with
random names, signatures and TensorProtos (wrong dtypes, shapes that disagree with their content, empty
or oversized fields). It stops by itself after --requests requests or --seconds, whichever comes first.

Every answer must be: a 2xx, or a 4xx whose body is a JSON object with an "error" string (REST); an OK,
or a gRPC status other than INTERNAL/UNKNOWN/UNAVAILABLE (gRPC). The server must stay up, and its
resident memory is sampled to show it stays flat. Prints the figures as a Markdown table; exit status 1
on any crash or bad answer. The test suite runs the same fuzzer with a small budget
(tests/serving/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MODELS = ("default", "counter", "matrix", "nope")
BAD_GRPC = {"INTERNAL", "UNKNOWN", "UNAVAILABLE", "DATA_LOSS"}


@dataclass
class FuzzStats:
    """What one fuzz run saw."""

    rest: int = 0
    grpc: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    rss_kib: list[tuple[int, int]] = field(default_factory=list)  # (requests so far, server RSS in KiB)

    @property
    def sent(self) -> int:
        return self.rest + self.grpc


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ------------------------------------------------------------------------------------------ REST
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                         st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=20)
keys = st.sampled_from(["instances", "inputs", "signature_name", "examples", "context", "x", "y", "b64"])
bodies = st.one_of(
    st.dictionaries(keys, json_values, max_size=4).map(json.dumps),  # request-shaped JSON
    st.fixed_dictionaries({"instances": st.lists(st.floats(allow_nan=False, width=32), max_size=8)}).map(
        json.dumps),  # valid predict bodies for half_plus_two
    json_values.map(json.dumps),  # any JSON
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),  # not JSON
    st.integers(1, 400).map(lambda n: '{"instances": ' + "[" * n + "1" + "]" * n + "}"),  # nesting
    st.sampled_from(['{"instances": [1.0]} trailing', '{"instances": [NaN, Infinity]}', "", "{", "[]",
                     '{"instances": [{"b64": "!!!"}]}', '{"inputs": {"x": [[1.0]]}, "signature_name": 7}']),
)
paths = st.builds(
    lambda m, v, verb: f"/v1/models/{m}{v}{verb}",
    st.sampled_from((*MODELS, "", "de fault")),
    st.sampled_from(["", "/versions/123", "/versions/1", "/versions/-1", "/labels/stable", "/versions/x"]),
    st.sampled_from([":predict", ":classify", ":regress", "/metadata", "", ":nope"]),
) | st.sampled_from(["/v1/models", "/v1/", "/v2/models/default:predict"])


floats32 = st.floats(-1e6, 1e6, width=32)
rest_requests = st.one_of(
    st.tuples(st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]), paths, bodies),
    st.tuples(st.just("POST"),  # requests that reach a model, with values and shapes that vary
              st.sampled_from(["/v1/models/default:predict", "/v1/models/matrix:predict",
                               "/v1/models/default/versions/123:predict"]),
              st.one_of(st.lists(floats32, max_size=6), st.lists(st.lists(floats32, max_size=4), max_size=4)).map(
                  lambda v: json.dumps({"instances": v}))),
    st.tuples(st.just("POST"), st.just("/v1/models/default:regress"),
              st.lists(st.fixed_dictionaries({"x": floats32}), max_size=4).map(
                  lambda ex: json.dumps({"signature_name": "regress_x_to_y", "examples": ex}))),
)


def check_rest(stats: FuzzStats, base_url: str, method: str, path: str, body: str) -> None:
    import requests

    r = requests.request(method, f"{base_url}{path}", data=body.encode("utf-8", "surrogatepass"), timeout=30)
    stats.rest += 1
    stats.statuses[f"HTTP {r.status_code}"] += 1
    where = f"{method} {path} {body[:120]!r}"
    if r.status_code >= 500:
        stats.failures.append(f"{where}: HTTP {r.status_code} {r.text[:200]}")
    elif r.status_code >= 400 and path.startswith("/v1/"):
        try:
            doc = r.json()
        except ValueError:
            stats.failures.append(f"{where}: HTTP {r.status_code} with a non-JSON body {r.text[:200]!r}")
            return
        if not (isinstance(doc, dict) and isinstance(doc.get("error"), str)):
            stats.failures.append(f"{where}: HTTP {r.status_code} without an 'error' string: {r.text[:200]}")


# ------------------------------------------------------------------------------------------ gRPC
DTYPES = [1, 2, 3, 4, 5, 6, 7, 9, 10, 14, 17, 18, 19, 20, 21, 22, 23]  # incl. bfloat16, resource, variant


@st.composite
def tensor_protos(draw: st.DrawFn) -> Any:
    from tensorflow.core.framework import tensor_pb2

    t = tensor_pb2.TensorProto()
    t.dtype = draw(st.sampled_from(DTYPES))
    for d in draw(st.lists(st.integers(-2, 6), max_size=3)):
        t.tensor_shape.dim.add().size = d
    if draw(st.booleans()):
        t.tensor_shape.unknown_rank = True
    field_name = draw(st.sampled_from(["float_val", "double_val", "int_val", "int64_val", "string_val", "bool_val",
                                       "tensor_content", "half_val"]))
    n = draw(st.integers(0, 6))
    if field_name == "tensor_content":
        t.tensor_content = draw(st.binary(max_size=40))
    elif field_name == "string_val":
        t.string_val.extend(draw(st.lists(st.binary(max_size=8), min_size=n, max_size=n)))
    elif field_name == "bool_val":
        t.bool_val.extend(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    elif field_name in ("float_val", "double_val"):
        getattr(t, field_name).extend(draw(st.lists(st.floats(width=32), min_size=n, max_size=n)))
    else:
        getattr(t, field_name).extend(draw(st.lists(st.integers(-2**31, 2**31 - 1), min_size=n, max_size=n)))
    return t


@st.composite
def grpc_calls(draw: st.DrawFn) -> tuple[str, Any]:
    from tensorflow_serving.apis import classification_pb2, get_model_metadata_pb2, predict_pb2, regression_pb2

    kind = draw(st.sampled_from(["Predict", "Predict", "Predict", "Classify", "Regress", "GetModelMetadata"]))
    req: Any = {"Predict": predict_pb2.PredictRequest, "Classify": classification_pb2.ClassificationRequest,
                "Regress": regression_pb2.RegressionRequest,
                "GetModelMetadata": get_model_metadata_pb2.GetModelMetadataRequest}[kind]()
    req.model_spec.name = draw(st.sampled_from((*MODELS, "")))
    version = draw(st.sampled_from([None, 123, 1, -1, "stable"]))
    if isinstance(version, int):
        req.model_spec.version.value = version
    elif version:
        req.model_spec.version_label = version
    sig = draw(st.sampled_from(["", "serving_default", "classify_x_to_y", "regress_x_to_y", "get_counter",
                                "incr_counter", "nope"]))
    if kind == "GetModelMetadata":
        req.metadata_field.extend(draw(st.lists(st.sampled_from(["signature_def", "x"]), max_size=2)))
        return kind, req
    req.model_spec.signature_name = sig
    if kind == "Predict":
        for alias in draw(st.lists(st.sampled_from(["x", "y", "inputs", "delta"]), max_size=3, unique=True)):
            req.inputs[alias].CopyFrom(draw(tensor_protos()))
        req.output_filter.extend(draw(st.lists(st.sampled_from(["y", "z", "x"]), max_size=2)))
    else:
        examples = req.input.example_list.examples
        for _ in range(draw(st.integers(0, 3))):
            ex = examples.add()
            for key in draw(st.lists(st.sampled_from(["x", "y", "z"]), max_size=2, unique=True)):
                which = draw(st.sampled_from(["float", "int64", "bytes"]))
                if which == "float":
                    ex.features.feature[key].float_list.value.extend(draw(st.lists(st.floats(width=32), max_size=3)))
                elif which == "int64":
                    ex.features.feature[key].int64_list.value.extend(draw(st.lists(st.integers(-9, 9), max_size=3)))
                else:
                    ex.features.feature[key].bytes_list.value.extend(draw(st.lists(st.binary(max_size=4), max_size=3)))
    return kind, req


def check_grpc(stats: FuzzStats, stub: Any, kind: str, request: Any) -> None:
    import grpc

    stats.grpc += 1
    try:
        getattr(stub, kind)(request, timeout=30)
        stats.statuses["gRPC OK"] += 1
    except grpc.RpcError as exc:
        code = exc.code().name
        stats.statuses[f"gRPC {code}"] += 1
        if code in BAD_GRPC:
            stats.failures.append(f"{kind} {str(request)[:200]!r}: {code} {exc.details()}")


def known_good_grpc_calls() -> list[tuple[str, Any]]:
    """Requests that must be answered OK, sent before the generated ones so every run sees both sides."""
    from tensorflow.core.framework import tensor_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, regression_pb2

    meta = get_model_metadata_pb2.GetModelMetadataRequest()
    meta.model_spec.name = "default"
    meta.metadata_field.append("signature_def")
    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = "default"
    x = tensor_pb2.TensorProto(dtype=1, float_val=[1.0, 2.0])
    x.tensor_shape.dim.add().size = 2
    x.tensor_shape.dim.add().size = 1
    predict.inputs["x"].CopyFrom(x)
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "default"
    regress.model_spec.signature_name = "regress_x_to_y"
    regress.input.example_list.examples.add().features.feature["x"].float_list.value.append(3.0)
    return [("GetModelMetadata", meta), ("Predict", predict), ("Regress", regress)]


# ------------------------------------------------------------------------------------------ the run
def fuzz(grpc_target: str, rest_url: str, pid: int, *, requests: int, seconds: float, seed: int = 0,
         stats: FuzzStats | None = None) -> FuzzStats:
    """Send about ``requests`` generated requests (half REST, half gRPC), stopping after ``seconds``."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from pytest_savedmodel.serving.client import channel

    stats = stats or FuzzStats()
    chan = channel(grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(chan)
    deadline = time.monotonic() + seconds
    every = max(1, requests // 20)
    stats.rss_kib.append((0, rss_kib(pid)))
    common = settings(max_examples=max(1, requests // 2), database=None, deadline=None, derandomize=False,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))

    @common
    @hypothesis_seed(seed)
    @given(call=rest_requests)
    def rest_case(call: tuple[str, str, str]) -> None:
        if time.monotonic() > deadline:
            return
        check_rest(stats, rest_url, *call)
        if stats.sent % every == 0:
            stats.rss_kib.append((stats.sent, rss_kib(pid)))

    @common
    @hypothesis_seed(seed + 1)
    @given(call=grpc_calls())
    def grpc_case(call: tuple[str, Any]) -> None:
        if time.monotonic() > deadline:
            return
        check_grpc(stats, stub, *call)
        if stats.sent % every == 0:
            stats.rss_kib.append((stats.sent, rss_kib(pid)))

    for kind, request in known_good_grpc_calls():
        check_grpc(stats, stub, kind, request)
    rest_case()
    grpc_case()
    chan.close()
    stats.rss_kib.append((stats.sent, rss_kib(pid)))
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bounded fuzz run of the emulator")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--testdata", type=Path, default=REPO.parent / "shared" / "tfserving-testdata")
    args = parser.parse_args(argv)
    from pytest_savedmodel.locate import find_model
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel

    served = []
    for name, sub in (("default", "saved_model_half_plus_two_cpu"), ("counter", "saved_model_counter"),
                      ("matrix", "matrix_half_plus_two")):
        ref = find_model(args.testdata / sub)
        served.append(ServedModel(name, ref.path, ref.version or 1))
    with tempfile.TemporaryDirectory(prefix="savedmodel-fuzz-") as tmp, \
            ModelServer.create("emulator", models=served, log_dir=Path(tmp)) as server:
        assert server.process is not None
        pid = server.process.pid
        start = time.monotonic()
        stats = fuzz(server.grpc_target, server.rest_url, pid, requests=args.requests, seconds=args.seconds)
        took = time.monotonic() - start
        alive = server.alive()
        log_tail = server.log_tail(20)
    first, last = stats.rss_kib[0][1], stats.rss_kib[-1][1]
    after_warmup = stats.rss_kib[min(2, len(stats.rss_kib) - 1)][1]
    peak = max(k for _, k in stats.rss_kib)
    print(f"\n| figure | value |\n|---|---|\n| requests sent | {stats.sent} (REST {stats.rest}, gRPC {stats.grpc}) |"
          f"\n| time | {took:.1f} s |\n| crashes (server died) | {0 if alive else 1} |"
          f"\n| bad answers (5xx, non-JSON 4xx, INTERNAL/UNKNOWN) | {len(stats.failures)} |"
          f"\n| server RSS at start / after warm-up / end / peak | {first / 1024:.1f} / {after_warmup / 1024:.1f} / "
          f"{last / 1024:.1f} / {peak / 1024:.1f} MiB |")
    print("\nanswers: " + ", ".join(f"{k} x{v}" for k, v in sorted(stats.statuses.items())))
    print("RSS samples (requests: MiB): " + ", ".join(f"{n}: {k / 1024:.1f}" for n, k in stats.rss_kib))
    for f in stats.failures[:20]:
        print("BAD:", f)
    if not alive:
        print("server log tail:\n" + log_tail)
    return 0 if alive and not stats.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Every expected response in ../shared/tfserving-testdata/README.md, from the emulator as a process.

Rows are reproduced through our own runners where a runner speaks that API, and
through the tensorflow-serving-api stubs / plain HTTP where the test is about the
wire itself. Exact where the upstream test is exact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from pytest_savedmodel.errors import RunnerError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.runners.grpc import GrpcRunner
from pytest_savedmodel.runners.rest import RestRunner
from pytest_savedmodel.signatures import inspect_model
from pytest_savedmodel.spec import FeatureSpec, ParseSpec, dtype_by_name

pytestmark = pytest.mark.serving

X_SPEC = ParseSpec("inputs", (FeatureSpec("x", "fixed", dtype_by_name("float32"), (1,)),))


def stub(emulator: Any) -> Any:
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from pytest_savedmodel.serving.client import channel

    return prediction_service_pb2_grpc.PredictionServiceStub(channel(emulator.grpc))


def predict_request(model: str, signature: str = "", **inputs: Any) -> Any:
    from tensorflow_serving.apis import predict_pb2

    from pytest_savedmodel.serving.tensorproto import to_proto

    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = signature
    for k, v in inputs.items():
        req.inputs[k].CopyFrom(to_proto(np.asarray(v)))
    return req


def sig(testdata: Path, model: str, key: str) -> Any:
    return inspect_model(find_model(testdata / model)).signature(key)


def example(**features: float) -> Any:
    from tensorflow.core.example import example_pb2

    ex = example_pb2.Example()
    for k, v in features.items():
        if isinstance(v, str):
            ex.features.feature[k].bytes_list.value.append(v.encode())
        else:
            ex.features.feature[k].float_list.value.append(v)
    return ex


# ---------------------------------------------------------------------------------------------- gRPC rows


def test_grpc_predict_half_plus_two_with_and_without_output_filter(emulator: Any) -> None:
    s = stub(emulator)
    for flt in ([], ["y"]):
        req = predict_request("default", x=np.array([2.0], np.float32))
        req.output_filter.extend(flt)
        resp = s.Predict(req)
        assert list(resp.outputs["y"].float_val) == [3.0]
        assert (resp.model_spec.name, resp.model_spec.signature_name, resp.model_spec.version.value) == \
            ("default", "serving_default", 123)


def test_grpc_predict_scalar_gives_scalar_with_present_empty_shape(emulator: Any) -> None:
    resp = stub(emulator).Predict(predict_request("default", x=np.float32(2.0)))
    y = resp.outputs["y"]
    assert list(y.float_val) == [3.0] and y.HasField("tensor_shape") and len(y.tensor_shape.dim) == 0


@pytest.mark.parametrize("shape", [(1,), (3,), (2, 2), ()])
def test_grpc_predict_does_not_check_shapes(emulator: Any, shape: tuple[int, ...]) -> None:
    x = np.full(shape, 2.0, np.float32)
    resp = stub(emulator).Predict(predict_request("default", x=x))
    assert [d.size for d in resp.outputs["y"].tensor_shape.dim] == list(shape)


def test_grpc_predict_wrong_dtype_fails_inside_tensorflow(emulator: Any) -> None:
    import grpc

    with pytest.raises(grpc.RpcError) as info:
        stub(emulator).Predict(predict_request("default", x=np.array([2.0], np.float64)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expects arg[0] to be float but double is provided" in info.value.details()


@pytest.mark.parametrize(("model", "signature", "out"), [("default", "regress_x2_to_y3", "outputs"),
                                                         ("half_plus_two", "classify_x2_to_y3", "scores"),
                                                         ("tf2", "classify_x2_to_y3", "scores")])
def test_grpc_predict_on_regress_and_classify_signatures(emulator: Any, model: str, signature: str, out: str) -> None:
    shape = (1,) if model == "tf2" else ()
    resp = stub(emulator).Predict(predict_request(model, signature, inputs=np.full(shape, 2.0, np.float32)))
    assert list(resp.outputs[out].float_val) == [4.0]


@pytest.mark.parametrize(("model", "testdir"), [("default", "saved_model_half_plus_two_cpu"),
                                                ("tf2", "saved_model_half_plus_two_tf2_cpu")])
def test_grpc_classify_and_regress_through_our_runner(emulator: Any, testdata: Path, model: str,
                                                      testdir: str) -> None:
    features = {"x": np.array([2.0], np.float32)}
    with GrpcRunner(sig(testdata, testdir, "classify_x_to_y"), target=emulator.grpc, model_name=model,
                    method="classify", parse_spec=X_SPEC) as r:
        assert r.predict(features)["scores"].tolist() == [[3.0]]
    with GrpcRunner(sig(testdata, testdir, "regress_x_to_y"), target=emulator.grpc, model_name=model,
                    method="regress", parse_spec=X_SPEC) as r:
        assert r.predict(features)["outputs"].ravel().tolist() == [3.0]


def test_grpc_classify_echoes_model_spec_and_ignores_extra_features(emulator: Any) -> None:
    from tensorflow_serving.apis import classification_pb2

    req = classification_pb2.ClassificationRequest()
    req.model_spec.name, req.model_spec.signature_name = "half_plus_two", "classify_x_to_y"
    req.input.example_list.examples.append(example(x=80.0, locale="pt_BR", age=19.0))
    resp = stub(emulator).Classify(req)
    c = resp.result.classifications[0].classes
    assert len(c) == 1 and c[0].label == "" and c[0].score == 42.0
    assert (resp.model_spec.name, resp.model_spec.signature_name, resp.model_spec.version.value) == \
        ("half_plus_two", "classify_x_to_y", 123)


@pytest.mark.parametrize("model", ["default", "tf2"])
def test_grpc_multi_inference(emulator: Any, model: str) -> None:
    from tensorflow_serving.apis import inference_pb2

    req = inference_pb2.MultiInferenceRequest()
    for name, method in (("regress_x_to_y", "tensorflow/serving/regress"),
                         ("classify_x_to_y", "tensorflow/serving/classify")):
        task = req.tasks.add()
        task.model_spec.name, task.model_spec.signature_name, task.method_name = model, name, method
    req.input.example_list.examples.append(example(x=2.0))
    resp = stub(emulator).MultiInference(req)
    assert resp.results[0].regression_result.regressions[0].value == 3.0
    assert resp.results[1].classification_result.classifications[0].classes[0].score == 3.0
    assert [r.model_spec.signature_name for r in resp.results] == ["regress_x_to_y", "classify_x_to_y"]


def test_grpc_half_plus_three_from_config_file(emulator: Any) -> None:
    resp = stub(emulator).Predict(predict_request("half_plus_three", x=np.array([2.0], np.float32)))
    assert list(resp.outputs["y"].float_val) == [4.0] and resp.model_spec.version.value == 123


def test_grpc_counter_keeps_state_across_calls(emulator: Any) -> None:
    s = stub(emulator)
    seen = []
    for signature, inputs in [("get_counter", {}), ("incr_counter", {}), ("reset_counter", {}),
                              ("incr_counter", {}), ("incr_counter_by", {"delta": np.float32(3.0)})]:
        req = predict_request("counter", signature, **inputs)
        if signature == "incr_counter" and seen:
            req.output_filter.append("output")
        seen.append(s.Predict(req).outputs["output"].float_val[0])
    assert seen == [0, 1, 0, 1, 4]


def test_grpc_matrix_half_plus_two(emulator: Any) -> None:
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)
    resp = stub(emulator).Predict(predict_request("matrix", x=x))
    np.testing.assert_array_equal(np.array(resp.outputs["y"].float_val).reshape(1, 3, 3), 0.5 * x + 2)


def test_grpc_model_status_and_metadata(emulator: Any, testdata: Path) -> None:
    with GrpcRunner(sig(testdata, "saved_model_half_plus_two_cpu", "serving_default"), target=emulator.grpc,
                    model_name="default") as r:
        assert r.status() == [(123, "AVAILABLE", "")]
        meta = r.metadata()
        assert (meta["model_spec"].name, meta["model_spec"].version.value) == ("default", 123)
        assert set(meta["signature_def"]) == {"serving_default", "classify_x_to_y", "regress_x_to_y",
                                              "regress_x_to_y2", "regress_x2_to_y3"}


# ---------------------------------------------------------------------------------------------- REST rows


def post(emulator: Any, path: str, body: Any) -> requests.Response:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(f"{emulator.rest}{path}", data=data, timeout=30)


@pytest.mark.parametrize(("body", "expected"), [({"instances": [2.0, 3.0, 4.0]}, {"predictions": [3.0, 3.5, 4.0]}),
                                                ({"inputs": [2.0, 3.0, 4.0]}, {"outputs": [3.0, 3.5, 4.0]})])
def test_rest_predict_row_and_columnar(emulator: Any, body: Any, expected: Any) -> None:
    r = post(emulator, "/v1/models/default:predict", body)
    assert r.status_code == 200 and r.json() == expected
    assert r.headers["Content-Type"] == "application/json"


def test_rest_classify_and_regress(emulator: Any) -> None:
    r = post(emulator, "/v1/models/default:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]})
    assert r.json() == {"results": [[["", 3.0]]]}
    r = post(emulator, "/v1/models/default:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]})
    assert r.json() == {"results": [3.0]}


def test_rest_status_and_metadata(emulator: Any, testdata: Path) -> None:
    r = requests.get(f"{emulator.rest}/v1/models/default", timeout=30)
    assert r.json() == {"model_version_status": [{"version": "123", "state": "AVAILABLE",
                                                  "status": {"error_code": "OK", "error_message": ""}}]}
    r = requests.get(f"{emulator.rest}/v1/models/default/metadata", timeout=30)
    expected = json.loads((testdata / "expected" / "half_plus_two_model_metadata.json").read_text())
    assert r.json() == expected


def test_rest_metadata_matches_upstream_for_two_versions_model(emulator: Any, testdata: Path) -> None:
    r = requests.get(f"{emulator.rest}/v1/models/half_plus_two/versions/123/metadata", timeout=30)
    expected = json.loads((testdata / "expected" / "saved_model_half_plus_two_2_versions_metadata.json").read_text())
    assert r.json()["metadata"] == expected["metadata"]
    assert r.json()["model_spec"]["version"] == "123"


@pytest.mark.parametrize(("path", "body", "expected"), [
    ("/v1/models/half_plus_two:predict", {"instances": [[1.0, 2.0], [3.0, 4.0]]},
     {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    ("/v1/models/half_plus_two/versions/123:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
    ("/v1/models/half_plus_two/labels/Version_Label:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
    ("/v1/models/half_plus_two:predict", {"signature_name": "serving_default", "inputs": [3.0, 4.0]},
     {"outputs": [3.5, 4.0]}),
    ("/v1/models/half_plus_two:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
     {"results": [42]}),
    ("/v1/models/half_plus_two:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]},
     {"results": [[["", 12]]]}),
    ("/v1/models/half_plus_two:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]},
     {"results": [[["", 7]]]}),
    ("/v1/models/half_plus_three:predict", {"instances": [1.0, 2.0, 5.0]}, {"predictions": [3.5, 4.0, 5.5]}),
    ("/v1/models/half_plus_three:regress", {"signature_name": "tensorflow/serving/regress",
                                            "examples": [{"x": 1.0}, {"x": 2.0}]}, {"results": [3.5, 4.0]}),
])
def test_rest_handler_rows(emulator: Any, path: str, body: Any, expected: Any) -> None:
    r = post(emulator, path, body)
    assert r.status_code == 200, r.text
    assert r.json() == expected


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), [
    ("POST", "/v1/models/foo:predict", {"instances": [1.0]}, 404, "Servable not found for request: Latest(foo)"),
    ("POST", "/v1/models/half_plus_two/versions/99:predict", {"instances": [1.0]}, 404,
     "Servable not found for request: Specific(half_plus_two, 99)"),
    ("POST", "/v1/models/half_plus_two:predict", {"instances": ["x", "y"]}, 400, "not of expected type: float"),
    ("POST", "/v1/models/half_plus_two/labels/nope:predict", {"instances": [1.0]}, 400,
     "Unrecognized servable version label: nope"),
    ("POST", "/v1/models/default:predict", {"signature_name": "nope", "instances": [1.0]}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ("POST", "/v1/models/counter:predict", {"signature_name": "get_counter", "instances": [1.0]}, 400,
     "Failed to get input map for signature: get_counter"),
    ("POST", "/v1/models/default:predict", "", 400, "JSON Parse error: The document is empty"),
    ("POST", "/v1/models/default:predict", "{\"instances\": [1.0,", 400, "JSON Parse error:"),
    ("POST", "/v1/models/default:predict", {"instances": [1.0], "inputs": [1.0]}, 400,
     "expecting only one of 'inputs' or 'instances' keys to exist"),
    ("POST", "/v1/models/default:predict", {"x": 1}, 400, "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/default:predict", {"signature_name": 3, "instances": [1.0]}, 400,
     "'signature_name' key must be a string value."),
    ("POST", "/v1/models/default:classify", {"signature_name": "classify_x_to_y"}, 400,
     "key 'examples' is expected and was not found"),
    ("GET", "/v1/models/default:predict", None, 400, "Malformed request: GET /v1/models/default:predict"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("POST", "/v1/models/default/version/1:predict", {"instances": [1.0]}, 400, "Malformed request: POST"),
])
def test_rest_errors(emulator: Any, method: str, path: str, body: Any, status: int, words: str) -> None:
    if method == "GET":
        r = requests.get(f"{emulator.rest}{path}", timeout=30)
    else:
        r = post(emulator, path, body)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert words in r.json()["error"]


def test_outside_v1_is_a_plain_404(emulator: Any) -> None:
    r = requests.get(f"{emulator.rest}/healthz", timeout=30)
    assert r.status_code == 404 and "application/json" not in r.headers.get("Content-Type", "")


def test_trailing_bytes_ignored_and_first_duplicate_key_wins(emulator: Any) -> None:
    r = post(emulator, "/v1/models/default:predict", '{"instances": [2.0], "instances": [4.0]} trailing')
    assert r.json() == {"predictions": [3.0]}


# ------------------------------------------------------------------------------ REST vs gRPC differences


def test_unknown_signature_wording_differs_between_grpc_predict_classify_and_rest(emulator: Any,
                                                                                   testdata: Path) -> None:
    import grpc

    s = stub(emulator)
    with pytest.raises(grpc.RpcError) as info:
        s.Predict(predict_request("default", "nope", x=np.array([1.0], np.float32)))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == 'Serving signature key "nope" not found.'
    from tensorflow_serving.apis import classification_pb2

    req = classification_pb2.ClassificationRequest()
    req.model_spec.name, req.model_spec.signature_name = "default", "nope"
    req.input.example_list.examples.append(example(x=1.0))
    with pytest.raises(grpc.RpcError) as info:
        s.Classify(req)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "No signature was found with the name: nope"


def test_columnar_rest_ignores_extra_inputs_grpc_rejects_them(emulator: Any) -> None:
    import grpc

    r = post(emulator, "/v1/models/default:predict", {"inputs": {"x": [2.0], "extra": [1.0]}})
    assert r.json() == {"outputs": [3.0]}
    with pytest.raises(grpc.RpcError) as info:
        stub(emulator).Predict(predict_request("default", x=np.array([2.0], np.float32),
                                               extra=np.array([1.0], np.float32)))
    assert "input size does not match signature: 2!=1 len({extra,x}) != len({x}). Sent extra: {extra}. " \
           "Missing but required: {}." == info.value.details()


def test_grpc_may_omit_an_input_with_a_default_rest_may_not(emulator: Any) -> None:
    resp = stub(emulator).Predict(predict_request("tf2"))
    assert list(resp.outputs["y"].float_val) == [2.0]  # x defaults to [0.0]
    r = post(emulator, "/v1/models/tf2:predict", {"inputs": {}})
    assert r.status_code == 400 and "Missing named input: x in 'inputs' object." in r.json()["error"]


def test_grpc_output_filter_errors(emulator: Any) -> None:
    import grpc

    req = predict_request("default", x=np.array([1.0], np.float32))
    req.output_filter.extend(["y", "y"])
    with pytest.raises(grpc.RpcError) as info:
        stub(emulator).Predict(req)
    assert info.value.details() == "duplicate output tensor alias: y"


# ------------------------------------------------------------------------------ JSON numbers end to end

WIRE_SIG = None


@pytest.fixture(scope="module")
def wire_sig(zoo_dir: Path) -> Any:
    return inspect_model(find_model(zoo_dir / "wire")).signature("serving_default")


def wire_features(f: list[float], i: list[int], d: list[float] | None = None) -> dict[str, np.ndarray]:
    n = len(f)
    s = np.empty(n, dtype=object)
    s[:] = [b"\xff\x00bin", b"text"][:n] + [b"x"] * max(0, n - 2)
    return {"f": np.array(f, np.float32), "d": np.array(d or [0.5] * n, np.float64), "i": np.array(i, np.int64),
            "b": np.array([True] * n), "s": s}


def test_rest_float32_printed_with_shortest_round_trip_digits_restored_exactly(emulator: Any, wire_sig: Any) -> None:
    feats = wire_features([1435774336.0, 0.1, 555557.5], [1, 2, 3])
    r = RestRunner(wire_sig, base_url=emulator.rest, model_name="wire")
    raw_text = requests.post(r.url, data=r.dumps(feats), timeout=30).text
    assert "1.43577434e+09" in raw_text and "555557.5" in raw_text and '"f": 0.1' in raw_text
    out = r.predict(feats)
    assert out["f"].dtype == np.float32 and out["f"].tolist() == feats["f"].tolist()


def test_rest_int64_above_2_53_and_bytes_are_exact(emulator: Any, wire_sig: Any) -> None:
    big = [2**53 + 1, -(2**62) - 3]
    feats = wire_features([1.0, 2.0], big)
    out = RestRunner(wire_sig, base_url=emulator.rest, model_name="wire").predict(feats)
    assert out["i"].dtype == np.int64 and out["i"].tolist() == big
    assert out["s_bytes"].tolist() == [b"\xff\x00bin", b"text"]


def test_rest_string_output_without_bytes_suffix_loses_binary_and_parity_says_so(emulator: Any,
                                                                                  wire_sig: Any) -> None:
    from pytest_savedmodel.compare import compare_outputs

    feats = wire_features([1.0, 2.0], [1, 2])
    rest = RestRunner(wire_sig, base_url=emulator.rest, model_name="wire").predict(feats)
    grpc_out = GrpcRunner(wire_sig, target=emulator.grpc, model_name="wire").predict(feats)
    result = compare_outputs(grpc_out, rest, names=("grpc", "rest"), outputs=["s", "s_bytes", "i", "f"])
    bad = {d.output for d in result.diffs if not d.ok}
    assert bad == {"s"}  # the non-UTF-8 bytes cannot cross REST unless the output name ends in _bytes


def test_nan_and_infinity_tokens_both_ways(emulator: Any, wire_sig: Any) -> None:
    feats = wire_features([float("nan"), float("inf")], [1, 2], d=[float("-inf"), 1.0])
    r = RestRunner(wire_sig, base_url=emulator.rest, model_name="wire")
    body = r.dumps(feats)
    assert "NaN" in body and "Infinity" in body
    raw_text = requests.post(r.url, data=body, timeout=30).text
    assert "NaN" in raw_text and "-Infinity" in raw_text
    out = r.predict(feats)
    assert np.isnan(out["f"][0]) and out["f"][1] == np.inf and out["d"][0] == -np.inf


def test_rest_error_through_runner_carries_status_body_and_curl(emulator: Any, wire_sig: Any) -> None:
    r = RestRunner(wire_sig, base_url=emulator.rest, model_name="nope")
    with pytest.raises(RunnerError) as info:
        r.predict(wire_features([1.0], [1]))
    text = str(info.value)
    assert "answered HTTP 404: Servable not found for request: Specific(nope" not in text or True
    assert "HTTP 404" in text and "Servable not found" in text and "reproduce with: curl -X POST" in text

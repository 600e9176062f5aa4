"""The emulator's JSON rules as pure functions (vectors from TF Serving's json_tensor_test.cc)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_savedmodel.serving.emulator import json_codec as J
from pytest_savedmodel.serving.emulator.json_examples import examples_input
from pytest_savedmodel.serving.emulator.status import ServingError


@pytest.mark.parametrize(("value", "text"), [(9000000.0, "9e+06"), (999999.0, "999999.0"), (0.5, "0.5"),
                                             (0.0003, "0.0003"), (0.00003, "3e-05"), (555557.5, "555557.5"),
                                             (1435774336.0, "1.43577434e+09"), (3.0, "3.0"), (float("nan"), "NaN"),
                                             (float("inf"), "Infinity"), (float("-inf"), "-Infinity")])
def test_float32_printing(value: float, text: str) -> None:
    assert J.format_float(float(np.float32(value))) == text


@settings(max_examples=300)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_printed_float32_reads_back_identical(value: float) -> None:
    assert np.float32(float(J.format_float(value))) == np.float32(value)


def test_bytes_suffix_outputs_are_base64() -> None:
    arr = np.array([b"hello", b"world"], dtype=object)
    assert J.tensor_json(arr, "out_bytes") == '[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]'
    assert J.tensor_json(arr, "out") == '["hello", "world"]'


def test_row_response_rejects_scalars_and_inconsistent_batches() -> None:
    with pytest.raises(ServingError, match="Tensor name: y has no shape information"):
        J.predict_response({"y": np.float32(1.0)}, "row")
    with pytest.raises(ServingError, match="has inconsistent batch size: 3 expecting: 2"):
        J.predict_response({"a": np.zeros(2, np.float32), "b": np.zeros(3, np.float32)}, "row")
    assert json.loads(J.predict_response({"y": np.float32(1.0)}, "columnar")) == {"outputs": 1.0}


@pytest.mark.parametrize(("body", "words"), [
    (b"", "JSON Parse error: The document is empty"),
    (b"   ", "JSON Parse error: The document is empty"),
    (b"{\"a\": ", "JSON Parse error: Invalid value. at offset: 6"),
    (b"[1, 2]", "JSON Value: [1,2] Is not object"),
    (b'{"a": ' + b"[" * 200 + b"]" * 200 + b"}", "nesting deeper than 128 levels"),
])
def test_parse_errors(body: bytes, words: str) -> None:
    with pytest.raises(ServingError) as info:
        J.parse_body(body)
    assert words in info.value.message and info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize(("dtype", "value", "words"), [
    (3, 1.0, "JSON Value: 1.0 Type: Number is not of expected type: int32"),
    (10, 1, "Type: Number is not of expected type: bool"),
    (9, 2**63, "is not of expected type: int64"),
    (7, {"b64": "!!"}, "Unable to base64 decode"),
    (7, [{"b64": "aGk=", "x": 1}], "not formatted correctly for base64 data"),
])
def test_value_typing_by_signature_dtype(dtype: int, value: object, words: str) -> None:
    with pytest.raises(ServingError) as info:
        J.predict_inputs({"inputs": value}, {"x": dtype})
    assert words in info.value.message


def test_ragged_instances_rejected() -> None:
    with pytest.raises(ServingError, match="Encountered list at unexpected size: 1 at level: 1 expected size: 2"):
        J.predict_inputs({"inputs": [[1.0, 2.0], [3.0]]}, {"x": 1})


def test_examples_feature_kinds_from_json_tokens() -> None:
    from tensorflow_serving.apis import regression_pb2

    req = regression_pb2.RegressionRequest()
    examples_input({"examples": [{"i": 2, "f": 2.0, "s": "a", "b": True, "x": {"b64": "aGk="}}]}, req)
    feat = req.input.example_list.examples[0].features.feature
    assert feat["i"].int64_list.value == [2] and feat["f"].float_list.value == [2.0]
    assert feat["s"].bytes_list.value == [b"a"] and feat["b"].int64_list.value == [1]
    assert feat["x"].bytes_list.value == [b"hi"]
    with pytest.raises(ServingError, match="Unexpected element type in feature: m expecting type: int64"):
        examples_input({"examples": [{"m": [1, 2.5]}]}, regression_pb2.RegressionRequest())
    with pytest.raises(ServingError, match="Feature: n has element with unexpected JSON type: Null"):
        examples_input({"examples": [{"n": None}]}, regression_pb2.RegressionRequest())


def test_message_json_works_with_the_protobuf_tf_2_15_pins() -> None:
    """protobuf 4.25 (pinned by TF 2.15) has only ``including_default_value_fields``: the REST status and
    metadata answers fell over with a TypeError there."""
    from types import SimpleNamespace

    from tensorflow_serving.apis import get_model_status_pb2

    from pytest_savedmodel.serving.emulator.rest_api import message_json

    seen = []

    def old_message_to_json(message: object, *, preserving_proto_field_name: bool, indent: int,
                            including_default_value_fields: bool) -> str:
        seen.append(including_default_value_fields)
        return "{}"

    old = SimpleNamespace(MessageToJson=old_message_to_json)
    assert message_json(old, get_model_status_pb2.GetModelStatusResponse()) == "{}" and seen == [True]
    from google.protobuf import json_format

    response = get_model_status_pb2.GetModelStatusResponse()
    response.model_version_status.add().version = 3
    assert '"state": "UNKNOWN"' in message_json(json_format, response)  # defaults printed, as TF Serving does

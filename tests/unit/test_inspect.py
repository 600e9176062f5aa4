"""signatures.inspect_model on TF Serving's real test models, and the words of its errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_savedmodel.errors import ModelLoadError, SignatureNotFound, TagSetNotFound
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.signatures import inspect_model

MODELS = [
    "saved_model_half_plus_two_cpu",
    "saved_model_half_plus_two_tf2_cpu",
    "saved_model_half_plus_two_2_versions",
    "saved_model_half_plus_three",
    "saved_model_counter",
    "matrix_half_plus_two",
]


@pytest.mark.parametrize("name", MODELS)
def test_every_testdata_model_inspects(testdata: Path, name: str) -> None:
    spec = inspect_model(find_model(testdata / name))
    assert spec.callable_signatures
    assert frozenset({"serve"}) in spec.tag_sets


def test_tf1_half_plus_two_signatures_and_parse_spec(testdata: Path) -> None:
    spec = inspect_model(find_model(testdata / "saved_model_half_plus_two_cpu"))
    assert sorted(spec.signatures) == ["classify_x_to_y", "regress_x2_to_y3", "regress_x_to_y", "regress_x_to_y2",
                                       "serving_default"]
    sd = spec.signature("serving_default")
    assert sd.method_name == "tensorflow/serving/predict"
    assert sd.inputs["x"].describe() == "float32 [-1, 1]" and sd.inputs["x"].tensor_name == "x:0"
    cls = spec.signature("classify_x_to_y")
    assert cls.inputs["inputs"].dtype.name == "string" and cls.inputs["inputs"].shape is None
    ps = cls.parse_spec
    assert ps is not None and ps.input_alias == "inputs" and ps.op == "ParseExample"
    x, x2 = ps.feature("x"), ps.feature("x2")
    assert (x.kind, x.dtype.name, x.shape, x.default) == ("fixed", "float32", (1,), None)
    assert x.required and not x2.required and x2.default == (0.0,)
    assert spec.signature("serving_default").parse_spec is None
    assert spec.ref.version == 123 and spec.tf_version == "1.14.0"
    assert "ParseExample" in spec.ops


def test_tf2_parse_spec_inside_function_library(testdata: Path) -> None:
    spec = inspect_model(find_model(testdata / "saved_model_half_plus_two_tf2_cpu"))
    ps = spec.signature("regress_x_to_y").parse_spec
    assert ps is not None and ps.op == "ParseExampleV2"
    assert [(f.key, f.default) for f in ps.features] == [("x", None), ("x2", (0.0,))]
    assert spec.signature("serving_default").defaults == frozenset({"x"})
    assert "__saved_model_init_op" in spec.signatures and "__saved_model_init_op" not in spec.callable_signatures


def test_signature_that_disagrees_with_its_graph_is_visible(testdata: Path) -> None:
    spec = inspect_model(find_model(testdata / "saved_model_half_plus_three"))
    sig = spec.signature("tensorflow/serving/regress")
    assert sig.inputs["inputs"].dtype.name == "float32"
    assert sig.graph_dtypes["inputs"].name == "string"


def test_unknown_rank_and_scalars(testdata: Path) -> None:
    spec = inspect_model(find_model(testdata / "saved_model_counter"))
    assert spec.signature("incr_counter_by").inputs["delta"].shape is None
    assert spec.signature("get_counter").outputs["output"].shape == ()
    assert spec.signature("get_counter").inputs == {}


def test_unknown_signature_lists_those_that_exist(testdata: Path) -> None:
    spec = inspect_model(find_model(testdata / "saved_model_half_plus_two_cpu"))
    with pytest.raises(SignatureNotFound) as info:
        spec.signature("serving_defualt")
    text = str(info.value)
    assert "signature 'serving_defualt' not found in saved_model_half_plus_two_cpu v123" in text
    assert "Did you mean 'serving_default'?" in text
    assert "'classify_x_to_y'" in text and "'regress_x_to_y'" in text


def test_unknown_tag_set_lists_tag_sets(testdata: Path) -> None:
    ref = find_model(testdata / "saved_model_half_plus_two_cpu", tags={"gpu", "serve"})
    with pytest.raises(TagSetNotFound) as info:
        inspect_model(ref)
    text = str(info.value)
    assert "has no MetaGraph with tag-set 'gpu,serve'" in text
    assert "Tag-sets in this SavedModel: serve" in text and "--savedmodel-tags" in text


def _copy(testdata: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "m" / "1"
    shutil.copytree(testdata / "saved_model_half_plus_two_cpu" / "00000123", dst)
    return dst


def test_random_bytes_pb(testdata: Path, tmp_path: Path) -> None:
    d = _copy(testdata, tmp_path)
    (d / "saved_model.pb").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ModelLoadError) as info:
        inspect_model(find_model(d))
    assert "is not a valid SavedModel protobuf (1024 bytes" in str(info.value)
    assert "re-export the model" in str(info.value)


def test_truncated_pb(testdata: Path, tmp_path: Path) -> None:
    d = _copy(testdata, tmp_path)
    data = (d / "saved_model.pb").read_bytes()
    (d / "saved_model.pb").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError) as info:
        inspect_model(find_model(d))
    assert str(d / "saved_model.pb") in str(info.value)
    assert "truncated" in str(info.value)


def test_empty_pb(testdata: Path, tmp_path: Path) -> None:
    d = _copy(testdata, tmp_path)
    (d / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="holds no MetaGraphDef: it is truncated or not a SavedModel"):
        inspect_model(find_model(d))


def test_pbtxt_syntax_error(tmp_path: Path) -> None:
    d = tmp_path / "t" / "1"
    d.mkdir(parents=True)
    (d / "saved_model.pbtxt").write_text("meta_graphs { meta_info_def { tags: 'serve' ")
    with pytest.raises(ModelLoadError) as info:
        inspect_model(find_model(d))
    assert "saved_model.pbtxt is not a valid text SavedModel" in str(info.value)

"""TFMD schemas: reading domains, the errors for bad schema files, and generation that stays in the domains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_savedmodel.errors import InvalidArgument
from pytest_savedmodel.schema import SchemaError, read_schema
from pytest_savedmodel.spec import FeatureSpec, ParseSpec, SignatureSpec, TensorSpec, dtype_by_name
from pytest_savedmodel.strategies import example_features, feature_dicts

# As TFDV's write_schema_text writes it (infer_schema, then a curated domain and a shared vocabulary).
SCHEMA = Path(__file__).parents[1] / "data" / "schema.pbtxt"

F32, I64, STR = dtype_by_name("float32"), dtype_by_name("int64"), dtype_by_name("string")


@pytest.fixture(scope="module")
def schema_file() -> Path:
    return SCHEMA


def test_domains_presence_and_value_counts(schema_file: Path) -> None:
    s = read_schema(schema_file)
    assert set(s.features) == {"SepalLength", "PetalWidth", "Petals", "Species"}
    sl = s.features["SepalLength"]
    assert (sl.kind, sl.min_value, sl.max_value, sl.required, sl.min_count, sl.max_count) == (
        "float", pytest.approx(4.3), pytest.approx(7.9), True, 1, 1)
    assert s.features["PetalWidth"].required is False
    assert (s.features["Petals"].min_value, s.features["Petals"].max_value) == (3, 7)
    assert (s.features["Petals"].min_count, s.features["Petals"].max_count) == (1, 2)
    assert s.features["Species"].values == (b"setosa", b"versicolor", b"virginica")
    assert s.features["Species"].describe() == "one of 3 values (b'setosa', b'versicolor', b'virginica')"


RAW = SignatureSpec("serving_default", "tensorflow/serving/predict",
                    {"SepalLength": TensorSpec("SepalLength", F32, (None,)),
                     "PetalWidth": TensorSpec("PetalWidth", F32, (None,)),
                     "Species": TensorSpec("Species", STR, (None,)),
                     "Other": TensorSpec("Other", F32, (None,))}, {})
PARSE = ParseSpec("examples", (
    FeatureSpec("SepalLength", "fixed", F32, (1,), default=None),
    FeatureSpec("PetalWidth", "fixed", F32, (1,), default=(0.0,)),
    FeatureSpec("Petals", "varlen", I64, ()),
    FeatureSpec("Species", "fixed", STR, (1,), default=(b"setosa",)),
))


@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data())
def test_out_of_domain_values_are_never_drawn_for_raw_inputs(data: st.DataObject) -> None:
    schema = read_schema(SCHEMA)
    feats = data.draw(feature_dicts(RAW, schema=schema, optional=["PetalWidth", "Species", "Other"]))
    assert "Species" in feats  # required by the schema: never omitted, although listed optional
    assert ((feats["SepalLength"] >= np.float32(4.3)) & (feats["SepalLength"] <= np.float32(7.9))).all()
    if "PetalWidth" in feats:
        assert ((feats["PetalWidth"] >= np.float32(0.1)) & (feats["PetalWidth"] <= np.float32(2.5))).all()
    assert set(feats["Species"].tolist()) <= {b"setosa", b"versicolor", b"virginica"}


@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data())
def test_out_of_domain_values_are_never_drawn_for_tf_example_features(data: st.DataObject) -> None:
    schema = read_schema(SCHEMA)
    feats = data.draw(example_features(PARSE, schema=schema))
    assert {"SepalLength", "Species"} <= set(feats)  # required by the parse spec or by the schema's presence
    for row in feats.get("Petals", []):
        assert 1 <= len(row) <= 2 and all(3 <= v <= 7 for v in row.tolist())
    assert set(feats["Species"].tolist()) <= {b"setosa", b"versicolor", b"virginica"}


@settings(max_examples=20, deadline=None, database=None)
@given(data=st.data())
def test_explicit_ranges_win_over_the_schema(data: st.DataObject) -> None:
    feats = data.draw(feature_dicts(RAW, schema=read_schema(SCHEMA), ranges={"SepalLength": (5.0, 5.0)}))
    assert set(feats["SepalLength"].tolist()) == {5.0}


def test_schema_kind_that_disagrees_with_the_model_is_named(schema_file: Path) -> None:
    sig = SignatureSpec("s", "m", {"Species": TensorSpec("Species", F32, (None,))}, {})
    with pytest.raises(InvalidArgument) as info:
        feature_dicts(sig, schema=read_schema(schema_file))
    assert ("Species: the schema " in str(info.value) and "declares it BYTES but the model takes it as float32; one "
            "of them is wrong (a training-serving skew)" in str(info.value))


@pytest.mark.parametrize(("text", "words"), [
    ('feature { name: "x" type: FLOAT\n  float_domain { min: 1 max: }\n}', "schema.pbtxt:2:"),
    ('feature { name: "x" typ: FLOAT }', "schema.pbtxt:1:"),
    ('feature { name: "x" type: BYTES domain: "specie" }\nstring_domain { name: "species" value: "a" }',
     "feature 'x' refers to domain 'specie', which the schema does not define (domains: species). Did you mean "
     "'species'?"),
    ('feature { name: "x" type: INT int_domain { min: 5 max: 1 } }', "feature 'x': min 5 is greater than max 1"),
    ('feature { name: "x" type: BYTES string_domain { name: "d" } }', "feature 'x': string_domain has no value"),
    ('feature { name: "x" type: INT }\nfeature { name: "x" type: INT }', "feature 'x' is declared twice"),
    ("", "the schema declares no feature"),
])
def test_bad_schema_files_name_the_file_and_the_line_or_feature(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "schema.pbtxt"
    path.write_text(text)
    with pytest.raises(SchemaError) as info:
        read_schema(path)
    assert words in str(info.value) and str(tmp_path) in str(info.value)


def test_missing_and_binary_garbage_schemas(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"--savedmodel-schema: no such file: .*nope\.pbtxt"):
        read_schema(tmp_path / "nope.pbtxt")
    (tmp_path / "schema.pb").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(SchemaError, match=r"is not a binary TFMD Schema protobuf .* should end in \.pbtxt"):
        read_schema(tmp_path / "schema.pb")

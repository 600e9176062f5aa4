"""Missing values: the value a raw graph drops (feature columns' '' and -1) read from the graph
(pytest_savedmodel._missing), the equivalent tf.Example that leaves it out (tfexample.without_missing), and the
risk a client's literal value runs when the parsing graph keeps it (pairs.missing_risks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_savedmodel._missing import find_missing
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.pairs import missing_risks
from pytest_savedmodel.signatures import inspect_model, read_saved_model, select_meta_graph
from pytest_savedmodel.spec import FeatureSpec, ParseSpec, SignatureSpec, TensorSpec, dtype_by_name
from pytest_savedmodel.tfexample import (
    FeatureRows,
    decode_example,
    encode_examples,
    examples_request,
    omissions_noted,
    omitted_note,
    without_missing,
)
from tests.zoo_served import build_signatures

PREDICT = "tensorflow/serving/predict"


def _missing(path: Path) -> dict[str, dict[str, Any]]:
    ref = find_model(str(path))
    meta_graph = select_meta_graph(read_saved_model(ref.path), ref.tags, path=ref.path)
    return find_missing(meta_graph, inspect_model(ref).signatures)


# --------------------------------------------------------------------------- read from the graph


def test_feature_columns_drop_an_empty_string_and_minus_one_read_from_the_graph(
        estimator_zoo: dict[str, Path]) -> None:
    """TF fact: input_layer turns a dense string/int input into a SparseTensor with Where(NotEqual(x, ignore)),
    the int ignore value a Const(-1) Cast to int64; the parsing signatures (VarLen features) drop nothing."""
    found = _missing(estimator_zoo["heads"])
    assert found == {"serving_default": {"zip_code": b"", "store_id": -1}, "predict": {"zip_code": b"", "store_id": -1}}
    assert _missing(estimator_zoo["pair"] / "parsing") == {}


def test_a_dense_parsed_feature_that_feature_columns_drop_is_recorded_by_feature_key(
        estimator_zoo: dict[str, Path]) -> None:
    found = _missing(estimator_zoo["heads_zip_default"])  # zip_code parsed as FixedLen [1] (default 'UNK')
    assert found["classification"] == {"zip_code": b""} and found["regression"] == {"zip_code": b""}


@pytest.fixture(scope="module")
def drops_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One TF1 graph, a signature per way of comparing and dropping (or not dropping)."""
    def graph(tf: Any) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
        ph = tf.compat.v1.placeholder
        s, k, z = ph(tf.string, [None], name="s"), ph(tf.int64, [None], name="k"), ph(tf.int64, [None], name="z")
        f, e = ph(tf.float32, [None], name="f"), ph(tf.string, [None], name="e")
        masked = tf.boolean_mask(s, tf.not_equal(s, "N/A"))  # a custom ignore value, as a mask
        kept = tf.gather_nd(k, tf.where(tf.logical_not(tf.equal(k, -7))))  # Equal + LogicalNot + Where
        selected = tf.where(tf.equal(e, ""), tf.fill(tf.shape(e), "x"), e)  # SelectV2: a value, nothing dropped
        twice = tf.concat([tf.boolean_mask(z, tf.not_equal(z, -1)), tf.boolean_mask(z, tf.not_equal(z, -2))], 0)
        floats = tf.boolean_mask(f, tf.not_equal(f, tf.cast(tf.constant(3), tf.float32)))
        serialized = ph(tf.string, [None], name="examples")
        parsed = tf.io.parse_example(serialized, {"c": tf.io.FixedLenFeature([1], tf.string, default_value=[""]),
                                                  "v": tf.io.VarLenFeature(tf.int64)})
        c = tf.boolean_mask(parsed["c"], tf.not_equal(parsed["c"], ""))
        v = tf.sparse.retain(parsed["v"], tf.not_equal(parsed["v"].values, 0))
        return {
            "mask": (PREDICT, {"s": s}, {"n": tf.size(masked)}),
            "equal_not": (PREDICT, {"k": k}, {"n": tf.size(kept)}),
            "select": (PREDICT, {"e": e}, {"y": selected}),
            "two_values": (PREDICT, {"z": z}, {"n": tf.size(twice)}),
            "floats": (PREDICT, {"f": f}, {"n": tf.size(floats)}),
            "parsing": (PREDICT, {"examples": serialized}, {"n": tf.size(c) + tf.size(v.values)}),
        }

    return build_signatures(tmp_path_factory.mktemp("drops"), graph)


def test_each_way_of_comparing_and_dropping_is_read(drops_dir: Path) -> None:
    assert _missing(drops_dir) == {
        "mask": {"s": b"N/A"},  # read from the graph, not assumed from the dtype ('')
        "equal_not": {"k": -7},
        "floats": {"f": 3.0},  # through the Cast of the constant
        "parsing": {"c": b"", "v": 0},  # a dense feature and a VarLen feature's values
    }  # "select": compared but not dropped; "two_values": two values for one input, so none


def test_a_drop_inside_a_tf_function_is_found_through_the_call(tmp_path: Path) -> None:
    import tensorflow as tf

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "city")])
        def serve(self, city: Any) -> dict[str, Any]:
            return {"n": tf.size(tf.boolean_mask(city, tf.not_equal(city, "?")))}

    module = Module()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.serve})
    assert _missing(tmp_path) == {"serving_default": {"city": b"?"}}


# --------------------------------------------------------------------------- the equivalent tf.Example


def _varlen(key: str, dtype: str) -> FeatureSpec:
    return FeatureSpec(key, "varlen", dtype_by_name(dtype))


def test_a_missing_value_leaves_the_feature_out_of_that_row_only() -> None:
    features = {"zip": np.array([b"", b"10115", ""], dtype=object), "id": np.array([3, -1, -1]),
                "age": np.array([1.0, 2.0, 3.0], np.float32)}
    sent = without_missing(features, {"zip": b"", "id": -1})
    assert isinstance(sent, FeatureRows) and sent.rows == 3 and dict(sent) == features  # the values as drawn
    decoded = [decode_example(e) for e in encode_examples(sent)]
    assert [sorted(d) for d in decoded] == [["age", "id"], ["age", "zip"], ["age"]]
    assert decoded[1]["zip"].tolist() == [b"10115"] and decoded[0]["id"].tolist() == [3]


def test_nothing_missing_returns_the_features_themselves() -> None:
    features = {"zip": np.array([b"a"], dtype=object), "id": np.array([0])}
    assert without_missing(features, {"zip": b"", "id": -1, "absent": -1}) is features
    assert without_missing(features, {"id": b""}) is features  # a string missing value never matches an int


def test_varlen_rows_lose_single_values_fixed_rows_only_whole() -> None:
    features = {"tags": np.array([[b"a", b""], [b"", b""]], dtype=object)}
    spec = ParseSpec("inputs", (_varlen("tags", "string"),))
    decoded = [decode_example(e) for e in encode_examples(without_missing(features, {"tags": b""}, spec), spec)]
    assert decoded[0]["tags"].tolist() == [b"a"] and decoded[1] == {}
    fixed = ParseSpec("inputs", (FeatureSpec("tags", "fixed", dtype_by_name("string"), (2,), (b"", b"")),))
    sent = without_missing(features, {"tags": b""}, fixed)
    decoded = [decode_example(e) for e in encode_examples(sent, fixed)]
    assert decoded[0]["tags"].tolist() == [b"a", b""] and decoded[1] == {}  # a FixedLen row keeps its length


def test_feature_rows_show_what_they_leave_out() -> None:
    sent = without_missing({"id": np.array([-1, 4])}, {"id": -1})
    assert repr(sent) == "FeatureRows({'id': array([-1,  4])}, rows=2, absent={'id': array([ True, False])})"


def test_the_omission_note_names_feature_value_and_rows() -> None:
    features = {"zip": np.array([b"", b"x", b""], dtype=object), "id": np.array([-1, 0, 0])}
    sent = without_missing(features, {"zip": b"", "id": -1})
    assert omitted_note(sent, {"zip": b"", "id": -1}, raw="raw signature 'serving_default'") == (
        "(left out of the tf.Examples as missing: id = -1 in row 0; zip = '' in rows 0, 2; the graph of raw "
        "signature 'serving_default' drops these values)")
    assert omitted_note(features, {"zip": b""}) is None


def test_a_raw_request_becomes_its_examples_request_only_between_a_raw_and_a_parsing_signature() -> None:
    raw, parsing = _raw({"zip": b""}), _parsing({})
    features = {"zip": np.array([b"", b"a"], dtype=object), "id": np.array([1, 2])}
    sent = examples_request(features, raw, parsing)
    assert [sorted(decode_example(e)) for e in encode_examples(sent, parsing.parse_spec)] == [["id"], ["id", "zip"]]
    assert examples_request(features, raw, _raw({})) is features  # no parse spec on the right
    assert examples_request(features, parsing, parsing) is features  # the left side parses tf.Examples itself
    assert examples_request(features, _raw({}), parsing) is features  # nothing dropped


def test_a_finding_raised_while_omissions_were_sent_says_which() -> None:
    sent = without_missing({"zip": np.array([b"", b"a"], dtype=object)}, {"zip": b""})
    with pytest.raises(AssertionError) as info, omissions_noted(sent, _raw({"zip": b""})):
        raise AssertionError("raw and parsing disagree")
    assert info.value.__notes__ == ["(left out of the tf.Examples as missing: zip = '' in row 0; the graph of raw "
                                    "signature 'serving_default' drops these values)"]
    with pytest.raises(AssertionError) as info, omissions_noted({"zip": np.array([b"a"])}, _raw({"zip": b""})):
        raise AssertionError("nothing left out")
    assert not hasattr(info.value, "__notes__")


def test_raw_empty_string_equals_an_example_without_the_feature_not_one_holding_it(
        estimator_zoo: dict[str, Path]) -> None:
    """TF fact, on the Estimator-style export: the raw '' and -1 are missing; in a tf.Example b'' is hashed and
    -1 is an out-of-range id (bucket 0), so only the Example that leaves them out answers as the raw call."""
    from pytest_savedmodel.runners.parsing import ParsingRunner
    from pytest_savedmodel.runners.raw import RawRunner

    ref = find_model(str(estimator_zoo["heads"]))
    spec = inspect_model(ref)
    features = {"zip_code": np.array([b"", b"10115"], dtype=object), "store_id": np.array([4, -1]),
                "age": np.array([30.0, 41.0], np.float32)}
    with RawRunner(ref, spec.signature("serving_default")) as raw, \
            ParsingRunner(ref, spec.signature("regression")) as parsing:
        want = raw.predict(features)["outputs"]
        left_out = parsing.predict(without_missing(features, {"zip_code": b"", "store_id": -1}))["outputs"]
        literal = parsing.predict(features)["outputs"]
    np.testing.assert_allclose(left_out, want, rtol=1e-6)
    assert not np.allclose(literal[0], want[0]) and not np.allclose(literal[1], want[1])


# --------------------------------------------------------------------------- the risk of a literal value


def _raw(missing: dict[str, Any]) -> SignatureSpec:
    inputs = {"zip": TensorSpec("zip", dtype_by_name("string"), (None,), "zip:0"),
              "id": TensorSpec("id", dtype_by_name("int64"), (None,), "id:0")}
    return SignatureSpec("serving_default", PREDICT, inputs, {}, missing=missing)


def _parsing(missing: dict[str, Any]) -> SignatureSpec:
    ps = ParseSpec("inputs", (_varlen("zip", "string"), _varlen("id", "int64")))
    inputs = {"inputs": TensorSpec("inputs", dtype_by_name("string"), (None,), "examples:0")}
    return SignatureSpec("classification", "tensorflow/serving/classify", inputs, {}, parse_spec=ps, missing=missing)


def test_a_value_the_parsing_graph_keeps_is_a_risk_in_words() -> None:
    risks = missing_risks(_raw({"zip": b"", "id": -1}), _parsing({}))
    assert risks == [
        "feature 'id': raw signature 'serving_default' treats -1 as missing (its graph compares id with -1 and drops "
        "the matches), while parsing signature 'classification' reads a tf.Example holding id=-1 as a present "
        "value; clients must leave id out of the tf.Example instead of sending -1",
        "feature 'zip': raw signature 'serving_default' treats '' as missing (its graph compares zip with '' and "
        "drops the matches), while parsing signature 'classification' reads a tf.Example holding zip=b'' as a "
        "present value; clients must leave zip out of the tf.Example instead of sending b''",
    ]


def test_no_risk_where_the_parsing_graph_drops_the_same_value_or_has_no_such_feature() -> None:
    assert missing_risks(_raw({"zip": b""}), _parsing({"zip": b""})) == []
    assert missing_risks(_raw({"other": b""}), _parsing({})) == []
    assert missing_risks(_raw({}), _parsing({"zip": b""})) == []
    assert missing_risks(_raw({"id": -1}), _parsing({"id": -2}), names=("raw", "twin"))[0].startswith(
        "feature 'id': raw signature 'serving_default' treats -1 as missing")


def test_trailing_nul_bytes_survive_the_tf_example_encoding() -> None:
    """numpy's fixed-width bytes drop trailing NULs (np.asarray(b"\\x00") is b""): a string feature b"\\x00" was
    sent as b"" and, with feature columns, compared as another value (found by the TF 2.15 run, on a seed)."""
    from pytest_savedmodel.tfexample import decode_example, encode_examples

    values = np.empty(3, dtype=object)
    values[:] = [b"\x00", b"a\x00", b""]
    decoded = [decode_example(e)["zip"][0] for e in encode_examples({"zip": values})]
    assert decoded == [b"\x00", b"a\x00", b""]

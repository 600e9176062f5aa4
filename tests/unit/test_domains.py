"""Input domains recovered from the graph (pytest_savedmodel._domains) and how generation uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from pytest_savedmodel.locate import find_model
from pytest_savedmodel.schema import FeatureDomain, Schema
from pytest_savedmodel.signatures import inspect_model
from pytest_savedmodel.spec import Domain, SignatureSpec, TensorSpec, dtype_by_name
from pytest_savedmodel.strategies import example_features, feature_dicts
from tests import zoo_keras


def _sig(path: Path, key: str = "serving_default") -> SignatureSpec:
    return inspect_model(find_model(str(path))).signature(key)



# --------------------------------------------------------------------------- recovery, per op kind


def test_keras_embedding_gives_the_table_rows(keras_dir: Path) -> None:
    d = _sig(keras_dir).domains["ids"]
    assert (d.kind, d.min_value, d.max_value, d.values) == ("int", 0, 19, None)
    assert "GatherV2 on 20-row table" in d.source


def test_keras_string_lookup_without_oov_gives_the_vocabulary_file(keras_dir: Path) -> None:
    d = _sig(keras_dir).domains["color"]
    assert (d.kind, d.values) == ("bytes", tuple(w.encode() for w in zoo_keras.VOCABULARY))
    assert "'colors.txt'" in d.source and "rejects other keys" in d.source


def test_keras_category_encoding_gives_num_tokens(keras_dir: Path) -> None:
    d = _sig(keras_dir).domains["cat"]
    assert (d.kind, d.min_value, d.max_value) == ("int", 0, 4)
    assert "DenseBincount size 5" in d.source


def test_keras_integer_lookup_without_oov_gives_its_keys(keras_dir: Path) -> None:
    d = _sig(keras_dir).domains["code"]
    assert (d.kind, d.values) == ("int", zoo_keras.INT_VOCABULARY)


def test_hashing_and_oov_lookups_accept_anything(keras_dir: Path) -> None:
    sig = _sig(keras_dir)
    assert "city" not in sig.domains  # Hashing(num_bins=8)
    assert "shade" not in sig.domains  # StringLookup(num_oov_indices=1)
    assert set(sig.domains) == {"ids", "color", "cat", "code"}
    assert _sig(keras_dir, "serve").domains == sig.domains  # model.export's second signature, same function


def test_tf_module_gather_one_hot_and_static_table(gather_dir: Path) -> None:
    domains = _sig(gather_dir).domains
    got = {alias: (d.kind, d.min_value, d.max_value, d.values) for alias, d in domains.items()}
    assert got == {
        "i": ("int", 0, 6, None),  # ResourceGather on a [7, 3] variable
        "j": ("int", 0, 3, None),  # the same gather and one_hot(depth=4): the tighter bound
        "d": ("int", 0, 5, None),  # one_hot(depth=6)
        "w": ("bytes", None, None, (b"p", b"q", b"r")),  # StaticHashTable, default -1 gathered: rejected
    }  # k (floormod before the gather) and h (hashed) have none
    assert "ResourceGather on 7-row table" in domains["i"].source
    assert "OneHot depth 4" in domains["j"].source


def test_arithmetic_before_the_table_is_not_followed(keras_off_by_one_dir: Path) -> None:
    """ids feeds Embedding(20) directly and as ids + 1: the domain comes from the direct use only."""
    d = _sig(keras_off_by_one_dir).domains["ids"]
    assert (d.min_value, d.max_value) == (0, 19)


def test_parsing_signature_features_get_domains(parsing_dir: Path) -> None:
    sig = _sig(parsing_dir)
    assert sig.parse_spec is not None and not sig.domains
    got = {k: (d.kind, d.min_value, d.max_value, d.values) for k, d in sig.parse_spec.domains.items()}
    assert got == {"id": ("int", 0, 8, None), "w": ("bytes", None, None, (b"a", b"b"))}


def test_a_model_without_bounding_ops_has_none(zoo: dict[str, Path]) -> None:
    assert _sig(zoo["half_plus_two"]).domains == {}


# --------------------------------------------------------------------------- generation


def _drawn(strategy: st.SearchStrategy[dict[str, np.ndarray]], n: int = 40) -> list[dict[str, np.ndarray]]:
    out: list[dict[str, np.ndarray]] = []

    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    @given(strategy)
    def collect(features: dict[str, np.ndarray]) -> None:
        out.append(features)

    collect()
    return out


def test_generation_stays_inside_the_domains_and_reaches_their_boundaries(keras_dir: Path) -> None:
    strategy = feature_dicts(_sig(keras_dir), batch_size=st.integers(1, 3))
    vocab = {w.encode() for w in zoo_keras.VOCABULARY}
    for f in _drawn(strategy, 60):
        assert 0 <= f["ids"].min() and f["ids"].max() <= 19
        assert 0 <= f["cat"].min() and f["cat"].max() <= 4
        assert set(f["color"].reshape(-1)) <= vocab
        assert set(f["code"].reshape(-1).tolist()) <= set(zoo_keras.INT_VOCABULARY)
    quiet = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck))
    for alias, value in (("ids", 0), ("ids", 19), ("cat", 4), ("color", b"red"), ("color", b"blue"), ("code", 42)):
        find(strategy, lambda f, a=alias, v=value: bool((f[a] == v).any()), settings=quiet)


def test_ranges_win_over_a_schema_which_wins_over_the_graph() -> None:
    int64, string = dtype_by_name("int64"), dtype_by_name("string")
    sig = SignatureSpec("s", "", {"ids": TensorSpec("ids", int64, (None,), "ids:0"),
                                  "w": TensorSpec("w", string, (None,), "w:0")}, {},
                        domains={"ids": Domain("int", 0, 19, source="t"), "w": Domain("bytes", values=(b"a",))})
    schema = Schema(Path("schema.pbtxt"), {"ids": FeatureDomain("ids", "int", 100, 101)})

    def ids(**kwargs: object) -> set[int]:
        return {int(v) for f in _drawn(feature_dicts(sig, batch_size=4, **kwargs), 20)  # type: ignore[arg-type]
                for v in f["ids"]}

    assert ids() <= set(range(20))
    quiet = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck))
    for edge in (0, 19):
        find(feature_dicts(sig, batch_size=4), lambda f, v=edge: bool((f["ids"] == v).any()), settings=quiet)
    assert {bytes(v) for f in _drawn(feature_dicts(sig, batch_size=4), 10) for v in f["w"]} == {b"a"}
    assert ids(schema=schema) == {100, 101}
    assert ids(schema=schema, ranges={"ids": (-3, -2)}) == {-3, -2}
    assert ids(ranges={"ids": (None, 2)}) == {0, 1, 2}  # the other side still comes from the graph
    open_schema = Schema(Path("schema.pbtxt"), {"ids": FeatureDomain("ids", "int", None, 1, required=True),
                                                "w": FeatureDomain("w", "bytes", required=True)})
    assert ids(schema=open_schema) == {0, 1}  # what the schema leaves open (min), the graph bounds
    feats = _drawn(feature_dicts(sig, batch_size=2, schema=open_schema, optional=["w"]), 10)
    assert all(set(f["w"]) == {b"a"} for f in feats)  # required by the schema, vocabulary from the graph


def test_a_graph_domain_of_another_kind_is_ignored() -> None:
    sig = SignatureSpec("s", "", {"x": TensorSpec("x", dtype_by_name("float32"), (None,), "x:0")}, {},
                        domains={"x": Domain("bytes", values=(b"a",))})
    assert all(f["x"].dtype == np.float32 for f in _drawn(feature_dicts(sig, batch_size=3), 5))


def test_example_features_use_the_parse_spec_domains(parsing_dir: Path) -> None:
    ps = _sig(parsing_dir).parse_spec
    assert ps is not None
    feats = _drawn(example_features(ps, batch_size=3), 40)
    ids = {int(v) for f in feats if "id" in f for v in f["id"]}
    assert ids <= set(range(9)) and {0, 8} <= ids
    assert {bytes(v) for f in feats if "w" in f for v in f["w"]} == {b"a", b"b"}

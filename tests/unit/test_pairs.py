"""Signature pairs and identical signatures on plain specs: the rule, its choices, and the plan it makes. No TF."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.pairs import explicit_pair, identical, pair_problem, pairing
from pytest_savedmodel.plan import build_plan
from pytest_savedmodel.planned import Side
from pytest_savedmodel.settings import ModelArg, PairArg, Settings
from pytest_savedmodel.spec import FeatureSpec, ModelSpec, ParseSpec, SignatureSpec, TensorSpec, dtype_by_name

F32, I64, STR = dtype_by_name("float32"), dtype_by_name("int64"), dtype_by_name("string")
PREDICT = "tensorflow/serving/predict"


def _t(alias: str, dtype: object = F32, name: str | None = None) -> TensorSpec:
    return TensorSpec(alias, dtype, (None,), name if name is not None else f"{alias}:0")  # type: ignore[arg-type]


def raw(key: str, inputs: dict[str, object], outputs: tuple[str, ...], *, prefix: str = "") -> SignatureSpec:
    return SignatureSpec(key, PREDICT, {a: _t(a, d, f"{prefix}{a}:0") for a, d in inputs.items()},
                         {o: _t(o, F32, f"{prefix}{o}:0") for o in outputs})


def parsing(key: str, features: tuple[FeatureSpec, ...], outputs: tuple[str, ...]) -> SignatureSpec:
    return SignatureSpec(key, PREDICT, {"examples": _t("examples", STR, f"{key}_examples:0")},
                         {o: _t(o, F32, f"{key}_{o}:0") for o in outputs}, ParseSpec("examples", features))


FEATURES = (FeatureSpec("x", "fixed", F32), FeatureSpec("k", "fixed", I64), FeatureSpec("tags", "varlen", I64))
P = parsing("parse_examples", FEATURES, ("y", "k2"))


def test_identical_signatures_keep_serving_default_else_the_first_alphabetically() -> None:
    a, b = raw("serve", {"x": F32}, ("y",)), raw("serving_default", {"x": F32}, ("y",))
    assert identical({"serve": a, "serving_default": b}) == {"serve": "serving_default"}
    c, d = raw("b", {"x": F32}, ("y",)), raw("a", {"x": F32}, ("y",))
    assert identical({"b": c, "a": d}) == {"b": "a"}
    other_tensors = raw("serve", {"x": F32}, ("y",), prefix="serve_")
    assert identical({"serve": other_tensors, "serving_default": b}) == {}  # TF2: tensors differ, no digest
    same_function = {k: SignatureSpec(k, PREDICT, s.inputs, s.outputs, function="f1")
                     for k, s in (("serve", other_tensors), ("serving_default", b))}
    assert identical(same_function) == {"serve": "serving_default"}
    classify = SignatureSpec("c", "tensorflow/serving/classify", b.inputs, b.outputs)
    assert identical({"c": classify, "serving_default": b}) == {}  # another method


def test_the_rule_pairs_on_features_dtypes_and_shared_outputs() -> None:
    assert pair_problem(raw("r", {"x": F32, "k": I64}, ("y",)), P) is None
    assert pair_problem(raw("r", {"x": F32, "z": F32}, ("y",)), P) == \
        "input 'z' is not a feature of the parse spec (features: k, tags, x)"
    assert pair_problem(raw("r", {"x": F32, "k": F32}, ("y",)), P) == "dtypes differ: 'k' is float32, the feature int64"
    assert pair_problem(raw("r", {"x": F32, "k": F32}, ("y",)), P, explicit=True) is None
    assert pair_problem(raw("r", {"x": F32}, ("y",)), P) == "the parse spec requires ['k'], which r has no input for"
    assert pair_problem(raw("r", {"x": F32, "k": I64}, ("z",)), P) == "no output name in common (z / k2, y)"


def test_most_shared_outputs_then_alphabetical_and_explicit_pairs_replace_the_choice() -> None:
    one, two, also_two = (raw("a_one", {"x": F32, "k": I64}, ("y",)), raw("c_two", {"x": F32, "k": I64}, ("y", "k2")),
                          raw("b_two", {"x": F32, "k": I64}, ("y", "k2")))
    found = pairing([one, two, also_two, P])
    assert [(p.raw, p.parsing, p.outputs) for p in found.pairs] == [("b_two", "parse_examples", ("k2", "y"))]
    assert found.unpaired == {}
    chosen = explicit_pair("--savedmodel-pair=a_one~parse_examples", "m", "a_one", "parse_examples",
                           {"a_one": one, "parse_examples": P})
    found = pairing([one, two, also_two, P], explicit=[chosen])
    assert [(p.raw, p.explicit) for p in found.pairs] == [("a_one", True)]
    lonely = pairing([raw("r", {"z": F32}, ("y",)), P])
    assert lonely.unpaired == {"parse_examples": "r: input 'z' is not a feature of the parse spec (features: k, tags, "
                                                 "x)"}
    assert lonely.notes("savedmodel:m") == ["savedmodel:m: parsing signature parse_examples has no raw partner, no "
                                            "raw~parsing check (r: input 'z' is not a feature of the parse spec "
                                            "(features: k, tags, x))"]


def test_explicit_pairs_name_what_is_wrong() -> None:
    sigs = {"serving_default": raw("serving_default", {"x": F32, "k": I64}, ("y",)), "parse_examples": P}
    with pytest.raises(UsageError, match=r"no signature 'serving_defualt' \(the raw side\)\. Did you mean "
                                         r"'serving_default'\? Signatures: parse_examples, serving_default"):
        explicit_pair("--savedmodel-pair=serving_defualt~parse_examples", "m", "serving_defualt", "parse_examples",
                      sigs)
    with pytest.raises(UsageError, match=r"has no tf\.Example parse spec"):
        explicit_pair("x", "m", "parse_examples", "serving_default", sigs)
    with pytest.raises(UsageError, match="expected"):
        PairArg.parse("serving_default")
    assert PairArg.parse("prod:a~b") == PairArg("prod", "a", "b")
    assert PairArg.parse(" a ~ b ") == PairArg(None, "a", "b")


def test_the_planner_plans_pair_items_under_the_raw_signature(tmp_path: Path) -> None:
    from pytest_savedmodel.artifacts import Artifacts

    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "1" / "saved_model.pb").write_bytes(b"")  # located, never read: the spec is given
    s = Settings(models=(ModelArg("m", str(tmp_path / "m"), tmp_path),), server="none",
                 checks=frozenset({"parse_spec", "parity"}))
    arts = Artifacts(s)
    (e,) = arts.all()
    assert e.ref is not None
    sd = raw("serving_default", {"x": F32, "k": I64}, ("y",))
    serve = raw("serve", {"x": F32, "k": I64}, ("y",))  # the same tensors: tested once, as serving_default
    e.spec = ModelSpec(e.ref, (frozenset({"serve"}),), {"serving_default": sd, "serve": serve, "parse_examples": P})
    plan = build_plan(arts, s)
    assert [p.nodeid for p in plan] == [
        "savedmodel:m::load",
        "savedmodel:m::serving_default::parse_spec[raw~parsing:parse_examples]",
        "savedmodel:m::serving_default::parity[raw~parsing:parse_examples]",
    ]
    parity = plan[-1]
    assert parity.left == parity.draw == Side("raw", "savedmodel:m", "serving_default")
    assert parity.right == Side("parsing", "savedmodel:m", "parse_examples")
    assert parity.fill_defaults and parity.info() == {"model": "m", "version": 1, "signature": "serving_default",
                                                      "pair": "raw~parsing:parse_examples"}
    assert arts.pairing(e).notes("savedmodel:m")[0] == "savedmodel:m: serve = serving_default (tested once)"  # type: ignore[union-attr]

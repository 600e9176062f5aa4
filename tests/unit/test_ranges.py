"""--savedmodel-range and per-model schemas: parsing, names checked at start-up, laid over a schema. No TF."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.ranges import check_range_names, merged_schema, parse_range, parse_schema_arg
from pytest_savedmodel.schema import FeatureDomain, Schema


@pytest.mark.parametrize(("text", "model", "feature", "lo", "hi", "values"), [
    ("age=0..120", None, "age", 0.0, 120.0, None),
    ("iris:SepalLength=4..8", "iris", "SepalLength", 4.0, 8.0, None),
    ("clicks=0..", None, "clicks", 0.0, None, None),
    ("temp=..-1.5", None, "temp", None, -1.5, None),
    ("color=red|green|blue", None, "color", None, None, ("red", "green", "blue")),
    ("m:code=3|7|42", "m", "code", None, None, ("3", "7", "42")),
])
def test_parse_range(text: str, model: str | None, feature: str, lo: float | None, hi: float | None,
                     values: tuple[str, ...] | None) -> None:
    r = parse_range(text)
    assert (r.model, r.feature, r.min_value, r.max_value, r.values) == (model, feature, lo, hi, values)


@pytest.mark.parametrize(("text", "words"), [
    ("age", "expected [NAME:]FEATURE=LO..HI or [NAME:]FEATURE=a|b|c"),
    ("age=", "expected [NAME:]FEATURE=LO..HI"),
    ("age=9..1", "LO 9 is greater than HI 1"),
    ("age=..", "give at least one bound"),
    ("age=a..3", "'a' is not a number"),
    ("age=0..inf", "bounds must be finite numbers"),
    ("color=red||blue", "an empty vocabulary entry"),
])
def test_bad_ranges_are_usage_errors(text: str, words: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        parse_range(text)
    assert words in str(info.value) and repr(text) in str(info.value)


INPUTS = {"iris": {"SepalLength": True, "SepalWidth": True}, "fraud": {"merchant": False, "amount": True}}


@pytest.mark.parametrize(("text", "words"), [
    ("irs:SepalLength=4..8", "no model named 'irs'. Did you mean 'iris'? Models: fraud, iris"),
    ("iris:SepalLenght=4..8", "no input or feature 'SepalLenght' in iris. Did you mean 'SepalLength'?"),
    ("amout=0..9", "no input or feature 'amout' in any model. Did you mean 'amount'?"),
    ("merchant=0..9", "'merchant' is a string input; give its vocabulary as merchant=a|b|c"),
    ("amount=a|b", "'amount' is numeric; a vocabulary for it holds integers"),
])
def test_range_names_are_checked_against_the_models(text: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        check_range_names([parse_range(text)], INPUTS)
    assert words in str(info.value)


def test_a_range_wins_over_the_schema_and_applies_to_its_model_only() -> None:
    base = Schema(Path("s.pbtxt"), {"amount": FeatureDomain("amount", "float", 0.0, 10.0, required=True)})
    ranges = [parse_range("fraud:amount=1..2"), parse_range("merchant=a|b"), parse_range("iris:SepalLength=4..8")]
    merged = merged_schema(base, ranges, "fraud", INPUTS["fraud"])
    assert merged is not None
    amount = merged.domain("amount")
    assert amount is not None and (amount.min_value, amount.max_value, amount.kind, amount.required) == (
        1.0, 2.0, "float", True)
    merchant = merged.domain("merchant")
    assert merchant is not None and merchant.values == (b"a", b"b")
    assert merged_schema(base, ranges[1:2], "iris", INPUTS["iris"]) is base  # nothing applies: unchanged


def test_schema_args_name_their_model_or_every_model() -> None:
    assert parse_schema_arg("fraud=schemas/fraud.pbtxt") == ("fraud", "schemas/fraud.pbtxt")
    assert parse_schema_arg("schemas/all.pbtxt") == (None, "schemas/all.pbtxt")
    assert parse_schema_arg("dir=x/schema.pbtxt") == ("dir", "x/schema.pbtxt")

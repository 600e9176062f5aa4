"""The ``examples`` of a REST Classify / Regress body as tf.Examples, with TF Serving's rules and words.

Facts from ``util/json_tensor.cc`` (FillClassificationRequestFromJson): each example is a JSON object of
features; a list or a single value; ints become int64_list (a value of 2**63 or more is refused), decimals
float_list, strings and ``{"b64": ...}`` bytes_list, true/false int64 0/1; kinds may not mix in one feature.
"""

from __future__ import annotations

from typing import Any

from pytest_savedmodel.serving.emulator.json_codec import b64_value, debug_string, invalid, is_b64, json_type

__all__ = ["examples_input"]


def _feature(name: str, content: Any, feature: Any) -> None:
    values = content if isinstance(content, list) else [content]
    kind: str | None = None

    def need(k: str) -> None:
        nonlocal kind
        if kind is not None and kind != k:
            raise invalid(f"Unexpected element type in feature: {name} expecting type: {kind}")
        kind = k

    for v in values:
        if v is None or isinstance(v, list) or (isinstance(v, dict) and not is_b64(v)):
            raise invalid(f"Feature: {name} has element with unexpected JSON type: {json_type(v)}")
        if isinstance(v, bool):
            need("int64")
            feature.int64_list.value.append(1 if v else 0)
        elif isinstance(v, dict):
            need("bytes")
            feature.bytes_list.value.append(b64_value(v))
        elif isinstance(v, str):
            need("bytes")
            feature.bytes_list.value.append(v.encode("utf-8"))
        elif isinstance(v, float) or (isinstance(v, int) and not -2**63 <= v < 2**64):
            need("float")
            feature.float_list.value.append(float(v))
        else:
            need("int64")
            if v >= 2**63:
                raise invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
            feature.int64_list.value.append(int(v))
    if kind is None:
        feature.SetInParent()


def _example(value: Any, target: Any) -> None:
    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {json_type(value)}")
    for name, content in value.items():
        _feature(name, content, target.features.feature[name])


def examples_input(doc: dict[str, Any], request: Any) -> None:
    """Fill ``request.input`` (example_list or example_list_with_context) from a classify/regress body."""
    has_context = "context" in doc
    if has_context:
        _example(doc["context"], request.input.example_list_with_context.context)
    if "examples" not in doc:
        raise invalid(f"JSON Value: {debug_string(doc)} When method is classify, key 'examples' is expected and "
                       f"was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {debug_string(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {debug_string(doc)} 'examples' value is an empty array")
    for ex in examples:
        target = (request.input.example_list_with_context.examples.add() if has_context
                  else request.input.example_list.examples.add())
        _example(ex, target)

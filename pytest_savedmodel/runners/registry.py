"""The prediction paths: one registry line each, naming its module and its option. Modules load lazily.

Adding a path is one module under ``runners/`` (a runner and its ``PROVIDER``),
one line here and its README rows; the option table, the planner, golden replay,
``open_model().runner(NAME)`` and the reports pick it up from the provider.
The option is declared on the line rather than in the module so that pytest can
list every option without importing numpy or TensorFlow.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.options import Option

if TYPE_CHECKING:
    from pytest_savedmodel.runners.base import Provider

__all__ = ["PATHS", "PathEntry", "names", "path_options", "provider", "providers"]


@dataclass(frozen=True)
class PathEntry:
    """A registry line: the path's name, the module holding its ``PROVIDER``, and its option if any."""

    name: str
    module: str
    option: Option | None = None


PATHS: tuple[PathEntry, ...] = (
    PathEntry("raw", "pytest_savedmodel.runners.raw"),
    PathEntry("parsing", "pytest_savedmodel.runners.parsing", Option(
        "--savedmodel-parsing", "the tf.Example-parsing export of model NAME (default: the first --savedmodel); "
        "gated too, and compared with it. Repeatable.", metavar="[NAME=]DIR", kind="models")),
    PathEntry("checkpoint", "pytest_savedmodel.runners.checkpoint", Option(
        "--savedmodel-checkpoint", "a TF1 Saver checkpoint PREFIX (PREFIX.meta + .index + .data-*) of model NAME "
        "(default: the first --savedmodel), compared with its raw signatures. Repeatable.",
        metavar="[NAME=]PREFIX", kind="models")),
    PathEntry("object-checkpoint", "pytest_savedmodel.runners.object_checkpoint", Option(
        "--savedmodel-checkpoint-model", "for TF2 object checkpoints: the name of a fixture that returns the "
        "model to restore into (restored as tf.train.Checkpoint(model=...), called on the feature dict).",
        metavar="FIXTURE", kind="fixture")),
    PathEntry("frozen", "pytest_savedmodel.runners.frozen", Option(
        "--savedmodel-frozen", "a frozen GraphDef .pb/.pbtxt of model NAME (default: the first --savedmodel), "
        "compared with its raw signatures. Repeatable.", metavar="[NAME=]FILE", kind="models")),
    PathEntry("freeze", "pytest_savedmodel.runners.freeze", Option(
        "--savedmodel-freeze", "also freeze each --savedmodel on the fly (variables to constants, as before a "
        "TFLite/TF.js/TensorRT conversion) and compare the frozen graph with it.", metavar="", kind="flag")),
    PathEntry("tflite", "pytest_savedmodel.runners.tflite", Option(
        "--savedmodel-tflite", "a .tflite flatbuffer of model NAME (default: the first --savedmodel), compared with "
        "its raw signatures (by signature name, else by tensor names); its tolerance follows the quantization "
        "found in it. Repeatable.", metavar="[NAME=]FILE", kind="models")),
    PathEntry("convert-tflite", "pytest_savedmodel.runners.convert_tflite", Option(
        "--savedmodel-convert-tflite", "also convert model NAME (default: the first --savedmodel) to TFLite on the "
        "fly (tf.lite.TFLiteConverter.from_saved_model) and compare it: MODE float, float16, dynamic or int8; the "
        "tolerance follows the mode (README, TFLite). One MODE per model.", metavar="[NAME=]MODE", kind="models")),
    PathEntry("reference", "pytest_savedmodel.runners.reference", Option(
        "--savedmodel-reference", "the name of a fixture you define that returns your training-side model: a "
        "callable taking the feature dict and returning {output: array} (or {model name: callable}); compared "
        "with the raw and parsing exports.", metavar="FIXTURE", kind="fixture")),
    PathEntry("eager", "pytest_savedmodel.runners.eager", Option(
        "--savedmodel-eager", "also compare TF1 exports with tf.saved_model.load(dir).signatures[KEY] (TF2 exports "
        "always are): TF2 code loads them through load_v1_in_v2, which runs their local-variable and table "
        "initialisers when the export has no main op, where TF Serving runs none.", metavar="", kind="flag")),
    PathEntry("grpc", "pytest_savedmodel.runners.grpc"),
    PathEntry("rest", "pytest_savedmodel.runners.rest"),
    PathEntry("fake", "pytest_savedmodel.runners.fake"),
)

_BY_NAME = {e.name: e for e in PATHS}


def names() -> tuple[str, ...]:
    """Every registered path, in registry order."""
    return tuple(e.name for e in PATHS)


def path_options() -> list[Option]:
    """The options the registered paths declare, in registry order."""
    return [e.option for e in PATHS if e.option is not None]


def provider(name: str) -> Provider:
    """The provider of path ``name`` (its module is imported on the first call)."""
    entry = _BY_NAME.get(name)
    if entry is None:
        raise UsageError(f"unknown prediction path {name!r}; paths: {', '.join(names())}")
    # memoised per module object, not per name: the provider is always the one of the module in sys.modules
    # (pytester's in-process runs drop and re-import modules; a name-keyed cache kept a stale runner class)
    return _provider_of(importlib.import_module(entry.module), name)


@functools.cache
def _provider_of(module: ModuleType, name: str) -> Provider:
    found: Provider = module.PROVIDER
    return found if found.key == name else dataclasses.replace(found, key=name)


def providers() -> list[Provider]:
    """Every provider, in registry order (imports every path module)."""
    return [provider(n) for n in names()]

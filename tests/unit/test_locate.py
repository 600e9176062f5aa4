"""locate: layouts, version choice and the words of every error. No TensorFlow."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_savedmodel.errors import ModelNotFound, UsageError
from pytest_savedmodel.locate import find_model, parse_model_arg, versions_under


def _sm(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "saved_model.pb").write_bytes(b"")
    return path


def test_savedmodel_dir_itself(tmp_path: Path) -> None:
    d = _sm(tmp_path / "iris")
    ref = find_model(d)
    assert (ref.path, ref.version, ref.name) == (d, None, "iris")


def test_tf_serving_base_picks_highest_numeric_version(tmp_path: Path) -> None:
    base = tmp_path / "half"
    _sm(base / "00000123")
    _sm(base / "9")
    (base / "temp-1570635853").mkdir()  # Estimator's in-progress dir: ignored
    ref = find_model(base)
    assert ref.version == 123 and ref.path.name == "00000123"
    assert ref.versions == (9, 123)
    assert ref.name == "half"


def test_estimator_timestamp_layout_and_named_version(tmp_path: Path) -> None:
    base = tmp_path / "export"
    _sm(base / "1570635852")
    _sm(base / "1570635853")
    assert find_model(base).version == 1570635853
    assert find_model(base, version=1570635852).path.name == "1570635852"


def test_version_dir_named_directly_takes_parent_name(tmp_path: Path) -> None:
    d = _sm(tmp_path / "iris" / "3")
    ref = find_model(d)
    assert (ref.name, ref.version) == ("iris", 3)


def test_pbtxt_counts(tmp_path: Path) -> None:
    d = tmp_path / "m" / "1"
    d.mkdir(parents=True)
    (d / "saved_model.pbtxt").write_text("")
    assert find_model(tmp_path / "m").version == 1


def test_relative_path_resolved_against_root(tmp_path: Path) -> None:
    _sm(tmp_path / "models" / "a" / "1")
    assert find_model("models/a", root=tmp_path).version == 1


def test_name_override(tmp_path: Path) -> None:
    assert find_model(_sm(tmp_path / "x"), name="prod").name == "prod"


@pytest.mark.parametrize(
    ("setup", "arg", "kwargs", "words"),
    [
        ("none", "missing", {}, ["no such directory: ", "missing", "Directories in"]),
        ("file", "afile", {}, ["is a file, not a directory"]),
        ("pbfile", "m/saved_model.pb", {}, ["is a file", "Did you mean --savedmodel="]),
        ("empty", "empty", {}, ["holds no saved_model.pb and no numeric version directories", "(empty directory)",
                                "/1/"]),
        ("nonnumeric", "words", {}, ["no numeric version directories", "latest/"]),
        ("versions_without_model", "vers", {}, ["version directories under", "(1, 2)", "contain no saved_model.pb"]),
        ("versions", "ok", {"version": 7}, ["version 7 not found under", "Versions with a SavedModel: 1, 2"]),
        ("versions_partial", "part", {"version": 2}, ["version 2 not found", "(2 holds no saved_model.pb",
                                                      "Versions with a SavedModel: 1."]),
        ("sm", "sm", {"version": 4}, ["version 4 requested", "is itself a SavedModel"]),
    ],
)
def test_errors_name_the_thing_and_what_exists(
    tmp_path: Path, setup: str, arg: str, kwargs: dict[str, int], words: list[str]
) -> None:
    if setup == "file":
        (tmp_path / "afile").write_text("x")
    elif setup == "pbfile":
        _sm(tmp_path / "m")
    elif setup == "empty":
        (tmp_path / "empty").mkdir()
    elif setup == "nonnumeric":
        (tmp_path / "words" / "latest").mkdir(parents=True)
    elif setup == "versions_without_model":
        (tmp_path / "vers" / "1").mkdir(parents=True)
        (tmp_path / "vers" / "2").mkdir(parents=True)
    elif setup == "versions":
        _sm(tmp_path / "ok" / "1")
        _sm(tmp_path / "ok" / "2")
    elif setup == "versions_partial":
        _sm(tmp_path / "part" / "1")
        (tmp_path / "part" / "2").mkdir()
    elif setup == "sm":
        _sm(tmp_path / "sm")
    with pytest.raises(ModelNotFound) as info:
        find_model(arg, root=tmp_path, **kwargs)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def _newest_broken(base: Path, how: str) -> None:
    _sm(base / "1")
    newest = base / "2"
    if how == "interrupted":
        newest.mkdir()
        (newest / "variables").mkdir()
    elif how == "dangling":
        newest.symlink_to(base / "gone")
    elif how == "loop":
        newest.symlink_to(newest)
    elif how == "file":
        newest.write_text("not a model")


@pytest.mark.parametrize(("how", "words"), [
    ("interrupted", ["holds no saved_model.pb (contents: variables/)"]),
    ("dangling", ["is a dangling symlink", "gone, which does not exist"]),
    ("loop", ["is a symlink loop"]),
    ("file", ["is a file, not a directory"]),
])
def test_a_broken_newest_version_is_an_error_never_a_fall_back(tmp_path: Path, how: str, words: list[str]) -> None:
    """TF Serving aspires the highest numeric child whatever it holds, fails to load it and keeps no older one:
    a gate that quietly tested version 1 would go green on an export that cannot be deployed."""
    _newest_broken(tmp_path / "m", how)
    with pytest.raises(ModelNotFound) as info:
        find_model(tmp_path / "m")
    text = str(info.value)
    for w in ["the newest version under", "is 2 (TF Serving serves the highest numeric child)", *words,
              "TF Serving would fail to load version 2 and would not fall back",
              "select it with --savedmodel-version=1"]:
        assert w in text, (w, text)
    assert find_model(tmp_path / "m", version=1).version == 1  # a named version is still chosen


def test_a_symlink_loop_named_as_the_model_is_called_a_loop(tmp_path: Path) -> None:
    (tmp_path / "m").symlink_to(tmp_path / "m")
    with pytest.raises(ModelNotFound, match="m is a symlink loop"):
        find_model(tmp_path / "m")
    (tmp_path / "d").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ModelNotFound, match="d is a dangling symlink"):
        find_model(tmp_path / "d")


def test_duplicate_version_numbers_first_name_wins(tmp_path: Path) -> None:
    _sm(tmp_path / "b" / "007")
    _sm(tmp_path / "b" / "7")
    assert versions_under(tmp_path / "b")[7].name == "007"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("export/iris", (None, "export/iris")), ("iris=export/iris", ("iris", "export/iris")),
     ("prod-v2=/m", ("prod-v2", "/m"))],
)
def test_parse_model_arg(text: str, expected: tuple[str | None, str]) -> None:
    assert parse_model_arg(text) == expected


@pytest.mark.parametrize(("text", "words"), [("=dir", "expected DIR or NAME=DIR"), ("a b=dir", "may hold letters")])
def test_parse_model_arg_errors(text: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_model_arg(text)


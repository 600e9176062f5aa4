"""Counterexample files: exact round trips without pickles, and an @example line that replays in Hypothesis."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pytest_savedmodel.counterexample import example_line, file_name, load_features, reproduce_block, save_features
from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.runners.fake import FakeRunner
from pytest_savedmodel.spec import SignatureSpec

ragged_floats = np.empty(3, dtype=object)
ragged_floats[:] = [np.array([1.5, -2.0], np.float32), np.array([], np.float32), np.array([3.0], np.float32)]
ragged_bytes = np.empty(2, dtype=object)
ragged_bytes[:] = [np.array([b"a", b"\x00b"], dtype=object), np.array([b""], dtype=object)]
FEATURES = {
    "f": np.array([[0.1, -1e30], [np.nan, 2.5]], np.float32),
    "i": np.array([2**62, -1], np.int64),
    "b": np.array([True, False]),
    "s": np.array([b"setosa", b"\x00bin\x00", b""], dtype=object),
    "scalar": np.array(7, np.int32),
    "varlen": ragged_floats,
    "varlen_bytes": ragged_bytes,
}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype == object:
        return a.shape == b.shape and all(
            (np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y) for x, y in zip(a.ravel(), b.ravel(),
                                                                                           strict=True))
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def test_round_trip_is_exact_and_needs_no_pickle(tmp_path: Path) -> None:
    path = save_features(tmp_path / "sub" / "x.npz", FEATURES)
    with np.load(path, allow_pickle=False) as data:  # every part is a plain array
        assert all(data[k].dtype != object for k in data.keys())
    back = load_features(path)
    assert set(back) == set(FEATURES)
    for k, v in FEATURES.items():
        assert _same(v, back[k]), k


def test_a_pickled_npz_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))  # needs a pickle to load
    with pytest.raises(UsageError, match=r"is not a counterexample \.npz written by pytest-savedmodel"):
        load_features(path)
    with pytest.raises(UsageError, match="no such counterexample file"):
        load_features(tmp_path / "nope.npz")


def test_file_names_are_readable_and_safe() -> None:
    name = file_name("savedmodel:iris:parsing::serving_default::parity[raw~parsing]")
    assert re.fullmatch(r"iris-parsing-serving_default-parity-raw-parsing-[0-9a-f]{8}\.npz", name)
    assert "/" not in file_name("savedmodel:../../etc::x") and not file_name("../x").startswith(".")


def test_example_line_replays_in_a_hypothesis_test(pytester: pytest.Pytester) -> None:
    features = {k: v for k, v in FEATURES.items() if k != "varlen_bytes"}
    line = example_line(features)
    pytester.makepyfile(f"""
        import numpy as np
        from hypothesis import example, given, strategies as st

        SEEN = []

        {line}
        @given(features=st.just({{}}))
        def test_replay(features):
            if features:
                SEEN.append(features)

        def test_it_ran():
            f = SEEN[0]
            assert f["f"].dtype == np.float32 and f["i"].tolist() == [2**62, -1] and f["b"].dtype == np.bool_
            assert f["s"].tolist() == [b"setosa", b"\\x00bin\\x00", b""]
            assert [r.tolist() for r in f["varlen"]] == [[1.5, -2.0], [], [3.0]]
    """)
    pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly").assert_outcomes(passed=2)


def test_reproduce_block_names_the_file_the_calls_and_curl(tmp_path: Path) -> None:
    sig = SignatureSpec("serving_default", "m", {}, {})

    class Served(FakeRunner):
        def curl(self, features: dict[str, np.ndarray]) -> str:
            return "curl -X POST http://127.0.0.1:1/v1/models/m:predict -d '{...}'"

    raw = FakeRunner(sig, lambda f: {}, name="raw")
    raw.reproduce = lambda var="features": f"open_model('/m/1').runner('raw').predict({var})"  # type: ignore[method-assign]
    text = reproduce_block(tmp_path / "c.npz", {"x": np.array([1.0], np.float32)},
                           (raw, Served(sig, lambda f: {}, name="rest")),
                           left_features={"x": np.array([1.0], np.float32), "w": np.array([0.0], np.float32)})
    assert f"shrunk inputs saved to {tmp_path / 'c.npz'}" in text
    assert "@example(features={'x': np.array([1.0], dtype=np.float32)})" in text
    assert f"features = load_features({str(tmp_path / 'c.npz')!r})" in text
    assert "filled = {**features, 'w': np.array([0.0], dtype=np.float32)}" in text
    assert "print(open_model('/m/1').runner('raw').predict(filled))" in text
    assert "# rest: a served path; the curl line below sends the same request" in text
    assert "curl (rest): curl -X POST http://127.0.0.1:1/v1/models/m:predict" in text

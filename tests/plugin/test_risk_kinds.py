"""Every kind of risk, from the outside: the item passes with the verdict ``risk``, the risk is listed under the
summary and in the JSON report, and ``--savedmodel-strict`` fails the item. (The parse-spec default is in
test_signature_pairs.py, a model new since the lock in test_contract_lock.py, a value the raw graph drops as
missing in test_estimator_zoo.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARGS = ["-p", "no:cacheprovider", "--savedmodel-server=none", "--savedmodel-examples=5", "--savedmodel-rows=50"]


@pytest.fixture(scope="module")
def risky(zoo_dir: Path, testdata: Path) -> dict[str, tuple[list[str], str, str]]:
    """kind -> (arguments, the item that carries the risk, words of the risk); "v1": the locked contract model."""
    from tests import modelzoo, zoo_keras

    keras = zoo_keras.keras_features(zoo_dir / "risk_keras")
    versions = modelzoo.contract_versions(zoo_dir / "risk_contract")
    half = testdata / "saved_model_half_plus_two_cpu"
    return {
        "out-of-domain value answered": (
            [f"--savedmodel=k={keras}", "--savedmodel-checks=load,domain"], "domain",
            "ids=-1 is outside its domain (in [0, 19] from "),
        "parsing signature without a raw partner": (
            [f"--savedmodel=h={half}", "--savedmodel-checks=load,signature", "--savedmodel-signature=classify_x_to_y"],
            "signature", "parsing signature 'classify_x_to_y' has no raw partner, so its tf.Example parsing is "
                         "compared with no raw path ("),
        "op added since the lock": (
            [f"--savedmodel=m={versions['v3']}", "--savedmodel-checks=contract"], "contract",
            "OP_ADDED (risk): a TensorFlow op the old graph did not use"),
        "v1": ([str(versions["v1"])], "", ""),
    }


@pytest.mark.parametrize("kind", ["out-of-domain value answered", "parsing signature without a raw partner",
                                  "op added since the lock"])
def test_a_risk_passes_is_listed_and_fails_under_strict(pytester: pytest.Pytester, zoo_dir: Path,
                                                        risky: dict[str, tuple[list[str], str, str]],
                                                        kind: str) -> None:
    args, check, words = risky[kind]
    if kind == "op added since the lock":  # the lock is written from v1; v3 adds an output and an op (Add)
        v1 = risky["v1"][0][0]
        pytester.runpytest(*ARGS, f"--savedmodel=m={v1}", "--savedmodel-update-contract",
                           "--savedmodel-checks=contract").assert_outcomes(passed=2)
    result = pytester.runpytest(*ARGS, *args, "--savedmodel-report=r.json")
    assert result.ret == 0 and result.parseoutcomes().get("failed", 0) == 0
    rows = json.loads((pytester.path / "r.json").read_text())["results"]
    (row,) = [r for r in rows if r["kind"] == check and r["risks"]]
    assert row["verdict"] == "risk" and any(words in r for r in row["risks"])
    result.stdout.fnmatch_lines([f"*{check}*risk", "(risks pass; --savedmodel-strict makes them fail)"])
    assert f": risk: {words}" in result.stdout.str().replace("\n", " ") or words in result.stdout.str()
    strict = pytester.runpytest(*ARGS, *args, "--savedmodel-strict")
    assert strict.parseoutcomes().get("failed") == 1
    strict.stdout.fnmatch_lines(["*risks (failing under --savedmodel-strict):*"])
    assert words in strict.stdout.str()

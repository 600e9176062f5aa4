"""The retrain workflow: a new model against the one in production. Movement is evidence, not a failure,
until the user sets a tolerance or a budget; golden items are about behaviour and have their own tolerance;
allowed contract renames carry through to golden."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARGS = ["-p", "no:cacheprovider", "--savedmodel-server=none", "--savedmodel-examples=20"]
#: Iris-like rows: a reviewer's evidence is movement on data like the model's, not on +-1000
RANGES = ["--savedmodel-range=SepalLength=4..8", "--savedmodel-range=SepalWidth=2..4.5",
          "--savedmodel-range=PetalLength=1..7", "--savedmodel-range=PetalWidth=0.1..2.5"]


@pytest.fixture(scope="module")
def retrain(zoo_dir: Path) -> tuple[Path, Path]:
    """The Iris example as in production, and retrained on the same data from other initial weights."""
    from tests import modelzoo

    m = modelzoo.iris()
    prod = m.export_raw(zoo_dir / "retrain" / "prod" / "1", m.train()).parent
    cand = m.export_raw(zoo_dir / "retrain" / "cand" / "2", m.train(init_seed=7)).parent
    return prod, cand


def test_a_retrain_against_its_baseline_is_a_movement_summary_that_passes(
        pytester: pytest.Pytester, retrain: tuple[Path, Path]) -> None:
    prod, cand = retrain
    # the lock was written from production; the candidate is a retrain
    pytester.runpytest(*ARGS, f"--savedmodel=iris={prod}", "--savedmodel-update-contract",
                       "--savedmodel-checks=contract,golden").assert_outcomes(passed=3)
    without = pytester.runpytest(*ARGS, f"--savedmodel=iris={cand}", "--savedmodel-checks=contract,golden")
    without.assert_outcomes(passed=2, failed=1)  # no baseline: the lock's golden examples are the reference
    assert "golden example 0 of" in without.stdout.str()

    result = pytester.runpytest(*ARGS, *RANGES, f"--savedmodel=iris={cand}", f"--savedmodel-baseline=iris={prod}",
                                "--savedmodel-report=r.json", "--savedmodel-report=r.html", "-k", "not latency")
    result.assert_outcomes(passed=11)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*iris:baseline*serving_default*movement[[]baseline~raw[]]*class_ids: * of * rows changed (*%)*ok",
        "*savedmodel:iris:baseline::serving_default::movement[[]baseline~raw[]]: how far predictions moved "
        "(rtol=0.0001 atol=1e-05)",
    ])
    assert "probabilities: " in out and "rows moved beyond tolerance" in out and "rows by largest move: " in out
    # golden reports how far the locked examples moved, and passes: the baseline is the behavioural reference
    result.stdout.fnmatch_lines(["*golden[[]raw[]]*3 of 3 locked examples moved (the baseline is the reference)*ok"])
    doc = json.loads((pytester.path / "r.json").read_text())
    (item, movement), = doc["movement"].items()
    assert item.endswith("movement[baseline~raw]")
    ids = movement["outputs"]["class_ids"]
    assert ids["exact"] is True and 0 < ids["moved"] < ids["rows"] and isinstance(ids["share"], float)
    probs = movement["outputs"]["probabilities"]
    assert sum(probs["histogram"].values()) == probs["rows"] and next(iter(probs["histogram"])) == "0"
    html = (pytester.path / "r.html").read_text()
    assert "Prediction movement against the baseline" in html and "largest move in a row" in html


def test_a_baseline_budget_per_output_gates_the_retrain(pytester: pytest.Pytester,
                                                        retrain: tuple[Path, Path]) -> None:
    prod, cand = retrain
    args = [*ARGS, *RANGES, f"--savedmodel=iris={cand}", f"--savedmodel-baseline=iris={prod}", "-k", "movement"]
    result = pytester.runpytest(*args, "--savedmodel-baseline-max-moved=class_ids=0.01")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*predictions moved from the baseline beyond --savedmodel-baseline-max-moved (tolerance rtol=0.0001 "
        "atol=1e-05, * generated rows):",
        "  class_ids: * of * rows changed (*%), the budget is 1.0%; largest move *"])
    # outputs without a budget are reported, not judged (pytest repeats the message in its summary under CI=1)
    judged = {line.split(":")[0].strip() for line in result.stdout.lines if "the budget is" in line}
    assert judged == {"class_ids"}
    pytester.runpytest(*args, "--savedmodel-baseline-max-moved=class_ids=0.9").assert_outcomes(passed=1)


@pytest.mark.parametrize(("value", "words"), [
    ("class_id=0.1", "--savedmodel-baseline-max-moved=class_id=0.1: no model with a baseline has an output "
                     "'class_id'. Did you mean 'class_ids'? Outputs: class_ids, logits, probabilities"),
    ("1.5", "--savedmodel-baseline-max-moved=1.5: give [OUTPUT=]FRACTION with a share of rows from 0 to 1"),
    ("class_ids=many", "--savedmodel-baseline-max-moved=class_ids=many: give [OUTPUT=]FRACTION"),
])
def test_a_bad_budget_is_a_usage_error_at_start_up(pytester: pytest.Pytester, retrain: tuple[Path, Path],
                                                   value: str, words: str) -> None:
    prod, cand = retrain
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={cand}", f"--savedmodel-baseline=iris={prod}",
                                f"--savedmodel-baseline-max-moved={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_a_budget_without_a_baseline_is_a_usage_error(pytester: pytest.Pytester, retrain: tuple[Path, Path]) -> None:
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={retrain[1]}", "--savedmodel-baseline-max-moved=y=0.1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--savedmodel-baseline-max-moved needs --savedmodel-baseline" in result.stderr.str()


def test_a_golden_tolerance_of_its_own_gates_golden_under_a_baseline(pytester: pytest.Pytester,
                                                                    retrain: tuple[Path, Path]) -> None:
    prod, cand = retrain
    pytester.runpytest(*ARGS, f"--savedmodel=iris={prod}", "--savedmodel-update-contract",
                       "--savedmodel-checks=contract,golden").assert_outcomes(passed=3)
    args = [*ARGS, f"--savedmodel=iris={cand}", f"--savedmodel-baseline=iris={prod}", "--savedmodel-checks=golden"]
    pytester.runpytest(*args).assert_outcomes(passed=4)  # load, golden; the baseline's load and contract
    result = pytester.runpytest(*args, "--savedmodel-golden-rtol=0.001", "--savedmodel-golden-atol=0.001")
    result.assert_outcomes(passed=3, failed=1)
    assert "(rtol=0.001, atol=0.001)" in result.stdout.str()
    # without a baseline too; a float tolerance never excuses a changed class id (an exact output)
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={cand}", "--savedmodel-checks=golden",
                                "--savedmodel-golden-atol=1000")
    result.assert_outcomes(passed=1, failed=1)
    assert "output 'class_ids': 2 of 2 elements differ" in result.stdout.str()
    assert "output 'logits'" not in result.stdout.str()


@pytest.fixture(scope="module")
def versions(zoo_dir: Path) -> dict[str, Path]:
    from tests import modelzoo

    return modelzoo.contract_versions(zoo_dir / "contract-renames")


def test_an_allowed_rename_carries_through_to_golden(pytester: pytest.Pytester, versions: dict[str, Path]) -> None:
    pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v1']}", "--savedmodel-update-contract",
                       "--savedmodel-checks=contract,golden").assert_outcomes(passed=3)
    args = ["--savedmodel-checks=contract,golden", "--savedmodel-allow=OUTPUT_RENAMED", "-v"]
    # v4 renames y to z and computes the same: golden compares the locked y with z, and passes
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v4']}", *args)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*golden[[]raw[]]*compared under new names: y -> z*ok"])
    # v5 renames and computes x * 2.5: compared under the new name, the move is found
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v5']}", *args)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*golden example 0 of * no longer gives the locked outputs:",
                                 "*output 'z': * elements differ*"])
    # not allowed: the contract item fails on the rename, and golden says the locked output is gone
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v4']}", "--savedmodel-checks=contract,golden")
    result.assert_outcomes(passed=1, failed=2)
    assert "returns none of the locked outputs ['y'] (it returns ['z'])" in result.stdout.str()

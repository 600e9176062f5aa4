"""The contract lock workflow, drift rules and the baseline gate, from the outside."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ARGS = ["-p", "no:cacheprovider", "--savedmodel-server=none", "--savedmodel-examples=10"]


@pytest.fixture(scope="module")
def versions(zoo_dir: Path) -> dict[str, Path]:
    from tests import modelzoo

    return modelzoo.contract_versions(zoo_dir / "contract")


def update(pytester: pytest.Pytester, model: Path) -> pytest.RunResult:
    return pytester.runpytest(*ARGS, f"--savedmodel=m={model}", "--savedmodel-update-contract",
                              "--savedmodel-checks=contract,golden")


def test_update_then_run_passes_and_a_second_update_is_byte_identical(pytester: pytest.Pytester,
                                                                      versions: dict[str, Path]) -> None:
    update(pytester, versions["v1"]).assert_outcomes(passed=3)
    lock = pytester.path / "savedmodel.lock.json"
    first = lock.read_bytes()
    doc = json.loads(first)
    sig = doc["models"]["m"]["signatures"]["serving_default"]
    assert sig["inputs"] == {"x": {"dtype": "float32", "shape": [-1]}} and "Mul" in doc["models"]["m"]["ops"]
    assert len(doc["models"]["m"]["golden"]["serving_default"]["examples"]) == 3
    assert str(pytester.path) not in first.decode()  # no absolute paths
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v1']}", "--savedmodel-checks=contract,golden")
    result.assert_outcomes(passed=3)
    update(pytester, versions["v1"])
    assert lock.read_bytes() == first


def test_lock_is_never_written_without_the_update_flag(pytester: pytest.Pytester, versions: dict[str, Path]) -> None:
    pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v1']}", "--savedmodel-checks=contract,golden")
    assert not (pytester.path / "savedmodel.lock.json").exists()


def test_rename_and_dtype_change_are_two_breaking_findings(pytester: pytest.Pytester,
                                                          versions: dict[str, Path]) -> None:
    update(pytester, versions["v1"])
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v2']}", "--savedmodel-checks=contract",
                                "--savedmodel-report=r.json")
    result.assert_outcomes(failed=1, passed=1)
    out = result.stdout.str()
    assert "2 breaking change(s) against the contract lock" in out
    changes = json.loads((pytester.path / "r.json").read_text())["contract_changes"]["savedmodel:m::contract"]
    breaking = sorted(c["rule"] for c in changes if c["severity"] == "breaking")
    assert breaking == ["INPUT_DTYPE_CHANGED", "OUTPUT_RENAMED"] and not any(c["allowed"] for c in changes)
    assert {c["severity"] for c in changes} <= {"breaking", "risk"}  # v2 also uses a new op: a risk, reported
    assert "signature 'serving_default' input 'x': float32 [-1] -> float64 [-1]  INPUT_DTYPE_CHANGED (breaking)" in out
    assert "signature 'serving_default' output 'y': y -> z  OUTPUT_RENAMED (breaking)" in out
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v2']}", "--savedmodel-checks=contract",
                                "--savedmodel-allow=INPUT_DTYPE_CHANGED")
    result.assert_outcomes(failed=1, passed=1)
    out = result.stdout.str()
    assert "1 breaking change(s)" in out and "OUTPUT_RENAMED (breaking)" in out
    assert "INPUT_DTYPE_CHANGED (breaking)  (allowed by --savedmodel-allow)" in out


def test_an_added_output_alone_is_compatible(pytester: pytest.Pytester, versions: dict[str, Path]) -> None:
    update(pytester, versions["v1"])
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v3']}", "--savedmodel-checks=contract,golden")
    result.assert_outcomes(passed=3)


def test_unknown_rule_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--savedmodel-allow=INPUT_DTYPE_CHANGD")
    assert "no such rule. Did you mean INPUT_DTYPE_CHANGED?" in result.stderr.str()


def _edit(change: object) -> object:
    def apply(text: str) -> str:
        doc = json.loads(text)
        change(doc)  # type: ignore[operator]
        return json.dumps(doc, indent=2)

    return apply


def _sig(doc: dict) -> dict:  # type: ignore[type-arg]
    return doc["models"]["m"]["signatures"]["serving_default"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("edit", "words"), [
    (_edit(lambda d: _sig(d)["inputs"]["x"].update(dtype="flaot32")),
     "models.m.signatures.serving_default.inputs.x.dtype: unknown dtype 'flaot32'. Did you mean 'float32'"),
    (_edit(lambda d: d.update(format="other")), "format: expected 'pytest-savedmodel-lock/1', got 'other'"),
    (_edit(lambda d: _sig(d).pop("method_name")),
     "models.m.signatures.serving_default.method_name: missing or not a string"),
    (_edit(lambda d: _sig(d)["outputs"]["y"].update(shape=[-2])), "outputs.y.shape: expected a list of ints"),
    (lambda t: t[:40], "savedmodel.lock.json:2:"),
])
def test_malformed_lock_names_file_and_key(pytester: pytest.Pytester, versions: dict[str, Path], edit: object,
                                           words: str) -> None:
    update(pytester, versions["v1"])
    lock = pytester.path / "savedmodel.lock.json"
    lock.write_text(edit(lock.read_text()))  # type: ignore[operator]
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v1']}", "--savedmodel-checks=contract")
    assert words in result.stdout.str(), result.stdout.str()[-2000:]
    assert "--savedmodel-update-contract" in result.stdout.str()


def test_a_model_new_since_the_lock_is_a_risk_that_says_how_to_add_it(pytester: pytest.Pytester,
                                                                     versions: dict[str, Path]) -> None:
    """Adding a model to a project with a lock used to fail its contract item with a LockError."""
    update(pytester, versions["v1"])
    result = pytester.runpytest(*ARGS, f"--savedmodel=other={versions['v1']}", "--savedmodel-checks=contract")
    result.assert_outcomes(passed=2)  # load, contract (with its risk)
    result.stdout.fnmatch_lines(["*other*contract*risk", "savedmodel:other::contract: risk: model 'other' is not in "
                                 "the contract lock *savedmodel.lock.json (it locks: m); run with "
                                 "--savedmodel-update-contract to add it"])
    result = pytester.runpytest(*ARGS, f"--savedmodel=other={versions['v1']}", "--savedmodel-checks=contract",
                                "--savedmodel-strict")
    result.assert_outcomes(passed=1, failed=1)


def test_forbidden_ops_fail_without_a_lock(pytester: pytest.Pytester, versions: dict[str, Path]) -> None:
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v1']}", "--savedmodel-checks=contract",
                                "--savedmodel-forbid-ops=Mul,ReadFile")
    result.assert_outcomes(failed=1, passed=1)
    assert "op 'Mul': (none) -> Mul  OP_FORBIDDEN (breaking)" in result.stdout.str()


@pytest.fixture(scope="module")
def baseline_pair(zoo_dir: Path) -> tuple[Path, Path]:
    from tests import modelzoo

    m, w = modelzoo.iris(), modelzoo.iris_weights()
    nudged = {k: (v * np.float32(1.00001)).astype(np.float32) for k, v in w.items()}
    return (m.export_raw(zoo_dir / "prod" / "1", w).parent, m.export_raw(zoo_dir / "cand" / "2", nudged).parent)


def test_baseline_movement_reports_and_passes_then_gates_with_a_baseline_tolerance(
        pytester: pytest.Pytester, baseline_pair: tuple[Path, Path]) -> None:
    prod, cand = baseline_pair
    args = [*ARGS, f"--savedmodel=iris={cand}", f"--savedmodel-baseline={prod}", "-k", "baseline"]
    result = pytester.runpytest(*args, "--savedmodel-report=report.json")
    result.assert_outcomes(passed=3)
    # passing, the gate still says what moved: per output how often and how far, then the largest movers
    result.stdout.fnmatch_lines([
        "*savedmodel:iris:baseline::serving_default::movement[[]baseline~raw[]]: how far predictions moved*",
        "  class_ids: 0 of * rows changed (0.0%), largest move 0",
        "  logits: max abs *, rel * at [[]*[]]  baseline=* raw=*", "    inputs of that row: {'PetalLength': *"])
    movers = json.loads((pytester.path / "report.json").read_text())["movers"]
    (item, ranked), = movers.items()
    assert item.endswith("movement[baseline~raw]") and [m["output"] for m in ranked] == ["logits", "probabilities"]
    assert ranked[0]["max_abs"] > ranked[1]["max_abs"] > 0  # class_ids did not move and is not listed
    assert set(ranked[0]["inputs"]) == {"PetalLength", "PetalWidth", "SepalLength", "SepalWidth"}
    # the general tolerance does not make it a gate; a baseline tolerance does (shrunk, like a parity failure)
    pytester.runpytest(*args, "--savedmodel-rtol=1e-9", "--savedmodel-atol=0").assert_outcomes(passed=3)
    result = pytester.runpytest(*args, "--savedmodel-baseline-rtol=1e-9", "--savedmodel-baseline-atol=0")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*savedmodel:iris:baseline::serving_default::movement[[]baseline~raw[]]*",
                                 "*baseline and raw disagree*", "*output '*': * elements differ; max abs error*",
                                 "*inputs of row *"])


def test_a_marker_that_contradicts_the_lock_is_reported_as_such(pytester: pytest.Pytester,
                                                                versions: dict[str, Path]) -> None:
    update(pytester, versions["v1"])  # locks x: float32
    pytester.makepyfile(test_client="""
        import pytest

        @pytest.mark.savedmodel_signature(inputs={"x": "float64"})
        def test_client_sends_doubles(savedmodel):
            pass

        @pytest.mark.savedmodel_signature("serving_defualt")
        def test_typo(savedmodel):
            pass

        @pytest.mark.savedmodel_signature(inputs={"x": "float32"}, outputs={"y": ("float32", [None])})
        def test_agrees(savedmodel):
            pass
    """)
    # v2 takes float64: the marker matches the model, but not the lock the team reviewed
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v2']}", "--savedmodel-checks=load", "test_client.py")
    result.assert_outcomes(passed=1, errors=3)  # the load item passes
    out = result.stdout.str()
    assert ("@pytest.mark.savedmodel_signature('serving_default') on test_client.py::test_client_sends_doubles "
            "contradicts the contract lock") in out
    assert "(models.m.signatures.serving_default):" in out
    assert "input 'x': the marker says dtype float64, the lock says float32" in out
    assert "One of them is wrong: fix the marker, or refresh the lock with --savedmodel-update-contract" in out
    assert "the lock has no signature 'serving_defualt' for model 'm' (it locks: serving_default)" in out
    # the third marker agrees with the lock; it then meets the model, which changed
    assert "input 'x': expected dtype float32, got float64" in out
    # on v1 the third marker agrees with the lock and the model; the other two still contradict the lock
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={versions['v1']}", "--savedmodel-checks=load", "test_client.py")
    result.assert_outcomes(passed=2, errors=2)

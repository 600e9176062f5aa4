"""The planner and the catalogue's checks on plain specs and fake runners: no TensorFlow, no model files read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pytest_savedmodel.catalogue import CHECKS, run_check
from pytest_savedmodel.context import CheckContext
from pytest_savedmodel.errors import ContractViolation, ModelCheckFailure, ParityMismatch
from pytest_savedmodel.plan import build_plan
from pytest_savedmodel.planned import PlannedCheck, Side
from pytest_savedmodel.runners.fake import FakeRunner
from pytest_savedmodel.settings import OPTIONS, ModelArg, Settings
from pytest_savedmodel.spec import ModelSpec, SignatureSpec, TensorSpec, dtype_by_name

F32 = dtype_by_name("float32")
SIG = SignatureSpec("serving_default", "tensorflow/serving/predict", {"x": TensorSpec("x", F32, (None,), "x:0")},
                    {"y": TensorSpec("y", F32, (None,), "y:0")})


def _artifacts(tmp_path: Path, settings: Settings, *, tf2: bool = False) -> object:
    from pytest_savedmodel.artifacts import Artifacts

    arts = Artifacts(settings)
    for e in arts.all():
        assert e.ref is not None
        e.spec = ModelSpec(e.ref, (frozenset({"serve"}),), {"serving_default": SIG}, object_graph=tf2)
    return arts


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "1" / "saved_model.pb").write_bytes(b"")  # located, never read: the spec is given
    return tmp_path / "m"


def _ids(plan: list[PlannedCheck]) -> list[str]:
    return [p.nodeid for p in plan]


def test_the_planner_plans_every_path_from_the_registry(tmp_path: Path, model_dir: Path) -> None:
    arg = ModelArg("m", str(model_dir), tmp_path)
    frozen = tmp_path / "frozen.pb"
    s = Settings(models=(arg,), paths={"frozen": (ModelArg(None, str(frozen), tmp_path),), "freeze": True},
                 server="none")
    plan = build_plan(_artifacts(tmp_path, s), s)  # type: ignore[arg-type]
    assert _ids(plan) == [
        "savedmodel:m::load",
        "savedmodel:m::serving_default::signature", "savedmodel:m::serving_default::outputs",
        "savedmodel:m::serving_default::finite", "savedmodel:m::serving_default::determinism",
        "savedmodel:m::serving_default::batch",
        "savedmodel:m:frozen::load", "savedmodel:m:frozen::serving_default::parity[raw~frozen]",
        "savedmodel:m:freeze::serving_default::parity[raw~freeze]",
    ]
    frozen_parity = plan[7]
    assert frozen_parity.left == Side("raw", "savedmodel:m", "serving_default")
    assert frozen_parity.right == Side("frozen", "savedmodel:m", "serving_default", str(frozen))
    # a frozen graph has no version of its own: the item shows the version of the SavedModel it is compared with
    assert frozen_parity.info() == {"model": "m:frozen", "version": 1, "signature": "serving_default",
                                    "pair": "raw~frozen"}


def test_a_tf2_export_gets_the_eager_path_and_served_paths_follow_the_server_mode(tmp_path: Path,
                                                                                  model_dir: Path) -> None:
    s = Settings(models=(ModelArg("m", str(model_dir), tmp_path),), checks=frozenset({"parity"}))
    ids = _ids(build_plan(_artifacts(tmp_path, s, tf2=True), s))  # type: ignore[arg-type]
    assert ids == ["savedmodel:m::load", "savedmodel:m::serving_default::parity[raw~eager]",
                   "savedmodel:m::serving_default::parity[raw~grpc]", "savedmodel:m::serving_default::parity[raw~rest]"]
    s = Settings(models=(ModelArg("m", str(model_dir), tmp_path),), checks=frozenset({"parity"}), server="none")
    assert _ids(build_plan(_artifacts(tmp_path, s), s)) == ["savedmodel:m::load"]  # type: ignore[arg-type]
    s = Settings(models=(ModelArg("m", str(model_dir), tmp_path),), checks=frozenset({"parity"}), server="none",
                 paths={"eager": True})  # --savedmodel-eager: TF1 exports too
    assert "savedmodel:m::serving_default::parity[raw~eager]" in _ids(build_plan(_artifacts(tmp_path, s), s))  # type: ignore[arg-type]


def test_planning_imports_no_tensorflow(tmp_path: Path, model_dir: Path) -> None:
    code = f"""
import sys
from pathlib import Path
from tests.unit.test_engine import _artifacts
from pytest_savedmodel.plan import build_plan
from pytest_savedmodel.settings import ModelArg, Settings
s = Settings(models=(ModelArg("m", {str(model_dir)!r}, Path({str(tmp_path)!r})),), paths={{"freeze": True}})
plan = build_plan(_artifacts(Path({str(tmp_path)!r}), s), s)
print(len(plan), "tensorflow" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2]).stdout.split()
    assert out == ["13", "False"]


def test_the_checks_option_is_derived_from_the_catalogue() -> None:
    opt = next(o for o in OPTIONS if o.flag == "--savedmodel-checks")
    assert opt.default == ",".join(CHECKS)
    assert CHECKS[:3] == ("load", "signature", "outputs") and "parity" in CHECKS and "golden" in CHECKS


def _parity(fn_left: object, fn_right: object, **kw: object) -> CheckContext:
    planned = PlannedCheck("savedmodel:m", ("serving_default", "parity[raw~grpc]"), "parity", "m",
                           signature="serving_default", pair="raw~grpc", left=Side("raw"), right=Side("grpc"))
    runners = {"raw": FakeRunner(SIG, fn_left, name="raw"), "grpc": FakeRunner(SIG, fn_right, name="grpc")}  # type: ignore[arg-type]
    return CheckContext(planned, Settings(), signature=SIG, runners=runners, **kw)  # type: ignore[arg-type]


def test_parity_passes_on_agreeing_fakes_and_records_figures() -> None:
    ctx = _parity(lambda f: {"y": f["x"] * 2}, lambda f: {"y": f["x"] * 2})
    result = run_check(ctx)
    assert result.examples > 0 and result.worst_output == "y" and result.max_abs == 0.0
    assert result.samples and all(o == "y" for o, _, _ in result.samples)


def test_parity_fails_on_a_skew_with_a_shrunk_input() -> None:
    ctx = _parity(lambda f: {"y": f["x"] * 2}, lambda f: {"y": f["x"] * 2 + (np.abs(f["x"]) > 3)})
    with pytest.raises(ParityMismatch) as info:
        run_check(ctx)
    assert "raw" in str(info.value) and "grpc" in str(info.value) and "'y'" in str(info.value)
    assert ctx.result.max_abs >= 1.0 and ctx.result.worst_output == "y"


_COUNTER = iter(range(10**9))  # a stateful fake: each call answers differently


@pytest.mark.parametrize(("check", "fn", "error", "words"), [
    ("finite", lambda f: {"y": f["x"] * np.nan}, ModelCheckFailure, "output 'y' is not finite"),
    ("outputs", lambda f: {"y": f["x"].astype(np.float64)}, ContractViolation, "declared float32, got float64"),
    ("determinism", lambda f, n=_COUNTER: {"y": f["x"] + next(n)}, ModelCheckFailure,
     "the same inputs gave different outputs"),
])
def test_model_checks_on_a_fake(check: str, fn: object, error: type[Exception], words: str) -> None:
    planned = PlannedCheck("savedmodel:m", ("serving_default", check), check, "m", signature="serving_default",
                           right=Side("raw"))
    ctx = CheckContext(planned, Settings(), signature=SIG, runners={"raw": FakeRunner(SIG, fn)},  # type: ignore[arg-type]
                       label="m")
    with pytest.raises(error, match=words):
        run_check(ctx)


class _FakeLock:
    def __init__(self, old: dict[str, object], new: dict[str, object]) -> None:
        self.entries = old, new

    def contract_entries(self, planned: PlannedCheck) -> tuple[object, object, str, str]:
        return (*self.entries, "the contract lock lock.json", "m v2")


def _entry(dtype: str) -> dict[str, object]:
    return {"tag_sets": [["serve"]], "ops": ["Mul"], "signatures": {"serving_default": {
        "method_name": "tensorflow/serving/predict", "inputs": {"x": {"dtype": dtype, "shape": [-1]}},
        "outputs": {"y": {"dtype": "float32", "shape": [-1]}}}}}


@pytest.mark.parametrize("allow", [frozenset(), frozenset({"INPUT_DTYPE_CHANGED"})])
def test_contract_check_on_lock_entries(allow: frozenset[str]) -> None:
    planned = PlannedCheck("savedmodel:m", ("contract",), "contract", "m")
    settings = Settings(allow=allow)
    ctx = CheckContext(planned, settings, session=_FakeLock(_entry("float32"), _entry("int64")))
    if allow:
        run_check(ctx)
    else:
        with pytest.raises(ContractViolation, match="m v2: 1 breaking change"):
            run_check(ctx)
    (change,) = ctx.result.changes or []
    assert change["rule"] == "INPUT_DTYPE_CHANGED" and change["allowed"] == bool(allow)
    assert change["against"] == "the contract lock lock.json"

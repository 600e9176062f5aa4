"""rollout[grpc]: the candidate rolls in over the baseline on a live server while requests flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.serving

ARGS = ["-p", "no:cacheprovider", "--savedmodel-examples=3", "--savedmodel-rows=0", "--savedmodel-server=emulator"]


@pytest.fixture(scope="module")
def deploy(zoo_dir: Path) -> tuple[Path, Path]:
    """The Iris example in production, and retrained (other initial weights): answers differ."""
    from tests import modelzoo

    m = modelzoo.iris()
    return (m.export_raw(zoo_dir / "rollout" / "prod" / "1", m.train()).parent,
            m.export_raw(zoo_dir / "rollout" / "cand" / "2", m.train(init_seed=7)).parent)


def test_a_rollout_under_load_is_answered_by_one_version_at_a_time(pytester: pytest.Pytester,
                                                                  deploy: tuple[Path, Path]) -> None:
    prod, cand = deploy
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={cand}", f"--savedmodel-baseline=iris={prod}",
                                "--savedmodel-rollout", "-k", "rollout", "--savedmodel-report=r.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*iris:baseline*serving_default*rollout[[]grpc[]]*requests from 4 threads while version 2 replaced "
        "version 1 (AVAILABLE, version 1 unloaded, after * s): none failed*ok"])
    (row,) = json.loads((pytester.path / "r.json").read_text())["results"]
    assert row["check"] == "rollout[grpc]" and row["examples"] > 8
    note = row["note"]
    old, new = (int(note.split(f"only the {who} gives: ")[1].split(",")[0]) for who in ("baseline", "candidate"))
    assert old > 0 and new > 0  # both versions answered, each with its own answers


def test_without_the_option_there_is_no_rollout_item(pytester: pytest.Pytester, deploy: tuple[Path, Path]) -> None:
    prod, cand = deploy
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={cand}", f"--savedmodel-baseline=iris={prod}",
                                "--collect-only", "-q")
    assert "rollout" not in result.stdout.str()


@pytest.mark.parametrize(("extra", "words"), [
    (["--savedmodel-server=docker"], "--savedmodel-rollout needs a server it starts itself over a model directory it "
                                     "owns (--savedmodel-server=emulator, binary or auto), not docker"),
    (["--savedmodel-server=url:localhost:8500,http://localhost:8501"], "not url: Docker binds fixed version"),
])
def test_rollout_needs_a_server_of_its_own(pytester: pytest.Pytester, deploy: tuple[Path, Path], extra: list[str],
                                           words: str) -> None:
    prod, cand = deploy
    result = pytester.runpytest(f"--savedmodel=iris={cand}", f"--savedmodel-baseline=iris={prod}",
                                "--savedmodel-rollout", *extra)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_rollout_needs_a_baseline(pytester: pytest.Pytester, deploy: tuple[Path, Path]) -> None:
    result = pytester.runpytest(f"--savedmodel=iris={deploy[1]}", "--savedmodel-rollout")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--savedmodel-rollout needs --savedmodel-baseline: the model in production the candidate rolls in over" \
        in result.stderr.str()

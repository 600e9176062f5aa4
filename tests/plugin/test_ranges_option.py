"""--savedmodel-range from the outside: generation stays inside it (sweep included); names checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_range_keeps_generated_inputs_where_the_model_is_defined(pytester: pytest.Pytester,
                                                                   zoo_dir: Path) -> None:
    from tests import modelzoo

    model = modelzoo.nan_region(zoo_dir / "ranged_nan")  # y = sqrt(x + 10): NaN for x < -10
    args = ["-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel=m={model}", "-k", "finite"]
    pytester.runpytest(*args).assert_outcomes(failed=1)  # finite finds x < -10
    pytester.runpytest(*args, "--savedmodel-range=m:x=-10..50").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nsavedmodel_range =\n    x=0..\n")  # an ini line, every model, open above
    pytester.runpytest(*args).assert_outcomes(passed=1)


@pytest.fixture(scope="session")
def half(zoo_dir: Path) -> Path:
    from tests import modelzoo

    return modelzoo.half_plus_two(zoo_dir / "ranged_half")


@pytest.mark.parametrize(("arg", "words"), [
    ("--savedmodel-range=mm:x=0..1", "--savedmodel-range='mm:x=0..1': no model named 'mm'. Did you mean 'm'?"),
    ("--savedmodel-range=m:z=0..1", "no input or feature 'z' in m."),
    ("--savedmodel-range=x=1..0", "--savedmodel-range='x=1..0': LO 1 is greater than HI 0"),
    ("--savedmodel-schema=n=s.pbtxt", "--savedmodel-schema=n=...: no model named 'n'."),
])
def test_bad_range_and_schema_names_end_the_run_at_start_up(pytester: pytest.Pytester, half: Path, arg: str,
                                                            words: str) -> None:
    model = half
    (pytester.path / "s.pbtxt").write_text('feature { name: "x" type: FLOAT }\n')
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel=m={model}", arg)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()

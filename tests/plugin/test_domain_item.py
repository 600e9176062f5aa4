"""The domain item: what a model does with values just outside what its graph accepts (issue: a clean Keras
model must pass with no option, and the item must report the embedding's and the lookups' behaviour)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def keras_model(zoo_dir: Path) -> Path:
    from tests import zoo_keras

    return zoo_keras.keras_features(zoo_dir / "domain_keras")


def test_the_domain_item_reports_what_keras_layers_do_outside_their_domains(pytester: pytest.Pytester,
                                                                            keras_model: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel={keras_model}",
                                "--savedmodel-checks=load,domain", "-v")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    row = next(line for line in out.splitlines() if "  domain  " in line)
    # Embedding(20): row 20 does not exist; Keras 3 wraps negative ids (-1 is row 19), so -1 is answered
    assert "ids=20" in row.split("answered")[0] and "ids=-1" in row.split("answered")[1]
    # StringLookup / IntegerLookup without OOV buckets assert on unseen keys
    assert "color='__oov__'" in row.split("answered")[0] and "code=43" in row.split("answered")[0]
    # the lookup with an OOV bucket and the hashing layer have no domain: not probed
    assert "shade" not in row and "city" not in row


@pytest.mark.parametrize(("policy", "outcome", "words"), [
    ("reject", "failed", "does not reject every value outside its inputs' domains (--savedmodel-domain=reject)"),
    ("accept", "failed", "does not answer every value outside its inputs' domains (--savedmodel-domain=accept)"),
])
def test_a_domain_policy_makes_it_a_gate(pytester: pytest.Pytester, keras_model: Path, policy: str, outcome: str,
                                        words: str) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel={keras_model}",
                                "--savedmodel-checks=domain", f"--savedmodel-domain={policy}")
    assert result.parseoutcomes().get(outcome) == 1
    result.stdout.fnmatch_lines([f"*{words}*", "*ids=*(domain: in [[]0, 19[]] from *)*"])


def test_a_bad_policy_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--savedmodel=/a", "--savedmodel-domain=rejct")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--savedmodel-domain='rejct': use report, reject or accept. Did you mean reject?" in result.stderr.str()

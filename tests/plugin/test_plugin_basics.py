"""The plugin from the outside (pytester): loading cost, options, ids, markers and error words."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_plugin_loaded_does_not_import_tensorflow(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_plain(pytestconfig):
            assert pytestconfig.pluginmanager.hasplugin("savedmodel")
            heavy = [m for m in ("tensorflow", "grpc", "numpy", "hypothesis.extra.numpy") if m in sys.modules]
            assert heavy == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_help_lists_options_and_ini_keys(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*pytest-savedmodel*", "*--savedmodel=*NAME=*DIR*", "*--savedmodel-rtol=X*",
                                 "*savedmodel_server (string)*"])


def test_markers_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*savedmodel_signature(signature='serving_default'*"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--savedmodel-checks=finite,speed"], "unknown check(s) ['speed']; known checks: load,"),
        (["--savedmodel-rtol=abc"], "--savedmodel-rtol='abc': expected a number"),
        (["--savedmodel-rtol=-1"], "a tolerance cannot be negative"),
        (["--savedmodel-max-batch=0"], "--savedmodel-max-batch=0: must be at least 1"),
        (["--savedmodel=a b=x"], "may hold letters, digits"),
        (["--savedmodel-training-default=nokey"], "expected KEY=VALUE"),
        (["--savedmodel=x=/a", "--savedmodel=x=/b"], "two models are named 'x'"),
        (["--savedmodel=/a", "--savedmodel-parsing=nope=/b"], "no --savedmodel named 'nope'"),
        (["--savedmodel-latency-requests=1"], "--savedmodel-latency-requests=1: must be at least 2"),
        (["--savedmodel-latency-requests=1000000"], "at most 100000 (the checks are bounded)"),
        (["--savedmodel-concurrency=0"], "--savedmodel-concurrency=0: must be at least 1"),
        (["--savedmodel-concurrency=65"], "--savedmodel-concurrency=65: at most 64"),
        (["--savedmodel-latency-regression=0.5"], "--savedmodel-latency-regression=0.5: must be at least 1"),
        (["--savedmodel-max-p99-ms=0"], "--savedmodel-max-p99-ms=0.0: must be a positive number of milliseconds"),
        (["--savedmodel=/a", "--savedmodel-baseline=/b", "--savedmodel-baseline=/c"], "model 'a' has two baselines"),
        (["--savedmodel=/a", "--savedmodel-baseline=other=/b"], "--savedmodel-baseline=/b: no --savedmodel named"),
        (["--savedmodel=/a", "--savedmodel-server=emulater"],
         "--savedmodel-server='emulater': unknown mode; did you mean --savedmodel-server=emulator? use one of auto,"),
        (["--savedmodel=/a", "--savedmodel-server=dokcer:tfs:2.15"],
         "did you mean --savedmodel-server=docker:tfs:2.15?"),
        (["--savedmodel=/a", "--savedmodel-max-input-bytes=10"], "--savedmodel-max-input-bytes=10: give at least 1024"),
        (["--savedmodel=/a", "--savedmodel-server=url:localhost:8500"], "url: needs GRPC_TARGET,REST_URL"),
        (["--savedmodel=/a", "--savedmodel-timeout=0"], "--savedmodel-timeout=0.0: give a number of seconds above 0"),
        (["--savedmodel=/a", "--savedmodel-server-timeout=-1"], "--savedmodel-server-timeout=-1.0: give a number"),
        (["--savedmodel=/a", "--savedmodel-rows=-1"], "--savedmodel-rows=-1: give a number of rows, 0 or more"),
        (["--savedmodel=/a", "--savedmodel-rows=2000000"], "--savedmodel-rows=2000000: at most 1000000"),
        (["--savedmodel=/a", "--savedmodel-examples=0"], "--savedmodel-examples=0: must be at least 1"),
        (["--savedmodel=/a", "--savedmodel-golden-atol=-1"], "--savedmodel-golden-atol=-1.0: a tolerance cannot be "
                                                             "negative"),
        (["--savedmodel=/a", "--savedmodel-baseline-rtol=-0.1"], "--savedmodel-baseline-rtol=-0.1: a tolerance "
                                                                 "cannot be negative"),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], words: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_missing_model_dir_fails_the_load_item_with_words(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--savedmodel=export/nope", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*savedmodel:nope::load*", "*[[]ModelNotFound[]] no such directory: export/nope*"])


def test_ini_keys_work_and_paths_are_relative_to_rootdir(pytester: pytest.Pytester, testdata: Path) -> None:
    pytester.makeini(
        f"""
        [pytest]
        savedmodel = half={testdata / "saved_model_half_plus_two_cpu"}
        savedmodel_checks = load,signature
        savedmodel_server = none
        """
    )
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["savedmodel:half::load", "savedmodel:half::serving_default::signature"])
    assert "finite" not in result.stdout.str()

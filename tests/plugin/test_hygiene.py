"""What a run leaves around it: nothing under HOME, no crash where pytest's cache cannot be written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_a_cache_that_cannot_be_written_is_a_warning_not_a_crash(pytester: pytest.Pytester, zoo_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only checkout: pytest's cache dir cannot be made (here .pytest_cache is a file, which also holds
    for root, who can write anywhere). pytest warns and goes on; so do we, with a temporary directory."""
    from tests import modelzoo

    model = modelzoo.half_plus_two(zoo_dir / "hygiene_half")
    tmp = pytester.path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    (pytester.path / ".pytest_cache").write_text("not a directory")
    result = pytester.runpytest_subprocess("--savedmodel-server=none", f"--savedmodel={model}",
                                           "--savedmodel-examples=5", "-W", "default")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines([
        "*PytestWarning: pytest-savedmodel: could not create savedmodel-hypothesis under *.pytest_cache "
        "(Not a directory); using *savedmodel-hypothesis-* instead",
    ])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert [p.name for p in tmp.iterdir() if p.name.startswith("savedmodel-")] == []  # removed at the end


def test_nothing_is_written_under_home(pytester: pytest.Pytester, zoo_dir: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras (imported with TensorFlow) would create ~/.keras/keras.json and matplotlib (the HTML report)
    ~/.cache/matplotlib: both point at a directory of the run unless the user set them or has their own."""
    from tests import modelzoo

    model = modelzoo.half_plus_two(zoo_dir / "hygiene_home")
    home = pytester.path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("KERAS_HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--savedmodel-server=none",
                                           f"--savedmodel={model}", "--savedmodel-examples=5",
                                           "--savedmodel-report=r.html")
    result.assert_outcomes(passed=6)
    assert (pytester.path / "r.html").exists()
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
    assert os.environ.get("KERAS_HOME") is None  # and the variables are not left set in this process


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_reports_and_the_lock_get_the_users_umask(pytester: pytest.Pytester, zoo_dir: Path, umask: int,
                                                  mode: int) -> None:
    """They were written through mkstemp, whose 0600 a rename kept: a CI artifact nobody else could read."""
    import stat

    from tests import modelzoo

    model = modelzoo.half_plus_two(zoo_dir / f"hygiene_umask_{umask:o}")
    previous = os.umask(umask)
    try:
        result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel={model}",
                                    "--savedmodel-examples=3", "--savedmodel-update-contract",
                                    "--savedmodel-report=r.json", "--savedmodel-report=r.md")
    finally:
        os.umask(previous)
    result.assert_outcomes(passed=8)
    for name in ("r.json", "r.md", "savedmodel.lock.json"):
        assert stat.S_IMODE((pytester.path / name).stat().st_mode) == mode, name

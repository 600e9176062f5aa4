"""Report files written from data: JSON for CI, HTML with deviation plots, Markdown."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

ARGS = ["-p", "no:cacheprovider", "--savedmodel-examples=15", "--savedmodel-server=none",
        "--savedmodel-checks=parse_spec,parity", "-k", "serving_default"]


def test_json_html_and_markdown_reports_of_a_planted_skew(pytester: pytest.Pytester,
                                                          iris_pair_int_cast: tuple[Path, Path]) -> None:
    raw, parsing = iris_pair_int_cast
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}",
                                "--savedmodel-report=out.json", "--savedmodel-report=out.html",
                                "--savedmodel-report=out.md")
    result.assert_outcomes(failed=2)
    doc = json.loads((pytester.path / "out.json").read_text())
    assert doc["format"] == "pytest-savedmodel-report/1"
    verdicts = {r["check"]: r["verdict"] for r in doc["results"]}
    assert verdicts == {"parity[raw~parsing]": "FAILED", "parse_spec[raw~parsing]": "FAILED"}
    assert any("parsed as int64 but the raw input is float32" in f["text"] for f in doc["failures"])
    deviations = doc["deviations"]["savedmodel:iris:parsing::serving_default::parity[raw~parsing]"]
    assert deviations and {d["output"] for d in deviations} >= {"logits", "probabilities"}
    html = (pytester.path / "out.html").read_text()
    assert "<h2>Deviations between paths</h2>" in html and "iris:parsing: logits" in html
    png = html.split("data:image/png;base64,")[1].split("'")[0]
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
    md = (pytester.path / "out.md").read_text()
    assert md.startswith("# pytest-savedmodel report") and "| parity[raw~parsing] |" in md


def test_report_path_is_checked_before_the_run(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--savedmodel-report=out.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--savedmodel-report=out.txt: the file name must end in .json, .html, .htm, .md" in result.stderr.str()
    result = pytester.runpytest("--savedmodel-report=nodir/out.json")
    assert "directory nodir does not exist" in result.stderr.str()


def test_no_report_is_written_unless_asked(pytester: pytest.Pytester, iris_pair: tuple[Path, Path]) -> None:
    raw, parsing = iris_pair
    before = {p.name for p in pytester.path.iterdir()}
    pytester.runpytest(*ARGS, f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}")
    assert {p.name for p in pytester.path.iterdir()} == before


def test_junit_properties_on_generated_items(pytester: pytest.Pytester, iris_pair: tuple[Path, Path]) -> None:
    import xml.etree.ElementTree as ET

    raw, parsing = iris_pair
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}",
                                "--junitxml=out.xml", "-W", "error::pytest.PytestWarning")
    result.assert_outcomes(passed=2)
    cases = ET.parse(pytester.path / "out.xml").getroot().iter("testcase")
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    parity = props["parity[raw~parsing]"]
    assert parity["savedmodel.check"] == "parity" and parity["savedmodel.pair"] == "raw~parsing"
    assert parity["savedmodel.examples"] == "15" and parity["savedmodel.max_abs"] == "0"

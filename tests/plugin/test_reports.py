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
    # the contract both exports offer, with the parse spec that carries the planted int64
    contract = doc["contract"]
    assert set(contract) == {"savedmodel:iris", "savedmodel:iris:parsing"}
    raw_inputs = contract["savedmodel:iris"]["signatures"]["serving_default"]["inputs"]
    assert raw_inputs["PetalWidth"] == {"dtype": "float32", "shape": [-1]}
    features = contract["savedmodel:iris:parsing"]["signatures"]["serving_default"]["parse_spec"]["features"]
    assert "int64" in {f["dtype"] for f in features.values()}
    assert "<h2>Contract</h2>" in html and "tf.Example feature PetalWidth" in html
    assert "## Contract" in md and "| savedmodel:iris | serving_default (tensorflow/serving/predict) | input " in md


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


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_junit_properties_on_generated_items(pytester: pytest.Pytester, iris_pair: tuple[Path, Path],
                                             xdist: list[str]) -> None:
    import xml.etree.ElementTree as ET

    raw, parsing = iris_pair
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}",
                                "--junitxml=out.xml", "-W", "error::pytest.PytestWarning", *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*iris*serving_default*parity[[]raw~parsing[]]*16*ok*"])  # 15 + the sweep batch
    cases = ET.parse(pytester.path / "out.xml").getroot().iter("testcase")
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    parity = props["parity[raw~parsing]"]
    assert parity["savedmodel.check"] == "parity" and parity["savedmodel.pair"] == "raw~parsing"
    # 15 Hypothesis examples, the sweep batch, 2,000 bulk rows
    assert parity["savedmodel.examples"] == "2016" and parity["savedmodel.max_abs"] == "0"


def test_html_report_of_a_planted_skew_shows_its_plot_in_headless_chromium(
        pytester: pytest.Pytester, iris_pair_int_cast: tuple[Path, Path], tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("screenshot_report", Path(__file__).parents[2] / "scripts" /
                                                  "screenshot_report.py")
    assert spec is not None and spec.loader is not None
    shot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shot)
    if shot.find_browser() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    raw, parsing = iris_pair_int_cast
    pytester.runpytest(*ARGS, f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}",
                       "--savedmodel-report=out.html").assert_outcomes(failed=2)
    png = tmp_path / "report.png"
    shot.screenshot(pytester.path / "out.html", png, width=1000, height=1600)
    from matplotlib import image

    pixels = image.imread(str(png))[:, :, :3]
    assert pixels.shape[:2] == (1600, 1000)
    # the plot's markers are matplotlib's default blue (#1f77b4) and the tolerance line red: the browser drew them
    blue = (abs(pixels - [0x1F / 255, 0x77 / 255, 0xB4 / 255]).max(axis=2) < 0.08).sum()
    red = ((pixels[:, :, 0] > 0.9) & (pixels[:, :, 1] < 0.15) & (pixels[:, :, 2] < 0.15)).sum()
    assert blue > 200 and red > 100, (blue, red)


def test_the_header_names_the_seed_and_a_seed_replays_the_run(pytester: pytest.Pytester, zoo_dir: Path) -> None:
    import numpy as np

    from tests import modelzoo

    m, w = modelzoo.iris(), modelzoo.iris_weights()
    # Scaling only the last layer scales the logits: the probabilities move, the argmax (class_ids) cannot, so
    # the parity check passes whatever inputs a seed draws (scaling every layer flipped a class on some seeds).
    last = max(int(k[1:]) for k in w)
    nudged = {k: (v * np.float32(1.001) if int(k[1:]) == last else v).astype(np.float32) for k, v in w.items()}
    prod = m.export_raw(zoo_dir / "seed" / "prod" / "1", w).parent
    cand = m.export_raw(zoo_dir / "seed" / "cand" / "1", nudged).parent
    args = ["-p", "no:cacheprovider", "--savedmodel-server=none", "--savedmodel-examples=20",
            f"--savedmodel=iris={cand}", f"--savedmodel-baseline={prod}", "--savedmodel-rtol=1", "-k", "movement",
            "--savedmodel-report=r.json"]

    def deviations(*extra: str) -> list[object]:
        result = pytester.runpytest(*args, *extra)
        result.assert_outcomes(passed=1)
        doc = json.loads((pytester.path / "r.json").read_text())
        return [doc["header"], list(doc["deviations"].values())]

    header, _ = deviations()
    line = next(h for h in header if "generated checks: 20 Hypothesis examples and up to 2000 bulk rows per check; "
                                     "seed " in h)
    assert line.endswith(")") and "(replay with --savedmodel-seed=" in line
    header, first = deviations("--hypothesis-seed=4242")  # Hypothesis's own option is honoured
    assert ("  generated checks: 20 Hypothesis examples and up to 2000 bulk rows per check; seed 4242 (replay with "
            "--savedmodel-seed=4242)") in header
    assert deviations("--savedmodel-seed=4242")[1] == first  # the same seed draws the same inputs
    assert deviations("--savedmodel-seed=7")[1] != first


def _table(out: str) -> list[list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "savedmodel summary" in line)
    table = []
    for line in lines[start + 1:]:
        if line.startswith(("model ", "-----")) or not line.strip() or "items ok or skipped" in line:
            continue
        if line.split()[-1] not in ("ok", "FAILED", "ERROR", "skipped", "risk"):
            break
        table.append(line.split())
    return table


def test_quiet_runs_show_only_what_needs_a_look_and_rows_keep_their_order_under_xdist(
        pytester: pytest.Pytester, zoo_dir: Path, iris_pair: tuple[Path, Path]) -> None:
    from tests import modelzoo

    nan = modelzoo.nan_region(zoo_dir / "quiet_nan")
    raw, parsing = iris_pair
    args = ["-p", "no:cacheprovider", "--savedmodel-examples=15", "--savedmodel-server=none", "--savedmodel-seed=5",
            f"--savedmodel=nan={nan}", f"--savedmodel=iris={raw}", f"--savedmodel-parsing=iris={parsing}"]
    quiet = pytester.runpytest(*args, "-q")
    table = _table(quiet.stdout.str())
    failed = [row for row in table if row[-1] == "FAILED"]
    assert len(failed) == 1 and failed[0][:4] == ["nan", "1", "serving_default", "finite"]
    # the rest needs a look too: the parsing export's classification signature has no raw partner
    assert {row[-1] for row in table if row not in failed} == {"risk"}
    assert {row[0] for row in table if row[-1] == "risk"} == {"iris:parsing"}
    quiet.stdout.fnmatch_lines(["* of * items ok or skipped (all rows without -q)"])
    serial = _table(pytester.runpytest(*args).stdout.str())
    spread = _table(pytester.runpytest(*args, "-n", "2").stdout.str())
    assert len(serial) > 10 and [r[:4] for r in spread] == [r[:4] for r in serial]  # model, version, signature, check
    assert [r[0] for r in serial] == sorted(r[0] for r in serial)  # grouped by model

"""Report files: ``--savedmodel-report=FILE.json|.html|.md``. Built from data, never from scraped text.

The HTML report embeds one PNG per output with the deviations between paths
across every generated example (matplotlib, Agg backend, headless). Without
matplotlib the report is written without plots and says how to get them.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_savedmodel._files import atomic_write
from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.results import CheckResult

__all__ = ["ReportData", "report_data", "write_report"]

SUFFIXES = (".json", ".html", ".htm", ".md")


@dataclass
class ReportData:
    """Everything a report shows."""

    header: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    samples: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)  # item id -> samples
    tolerance: dict[str, float] = field(default_factory=dict)
    movers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # item id -> outputs by largest delta
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # contract item id -> classified changes
    contract: dict[str, Any] = field(default_factory=dict)  # export -> signatures, parse spec, ops (lock layout)
    counterexamples: dict[str, str] = field(default_factory=dict)  # failed item id -> .npz of its shrunk inputs
    results: list[dict[str, Any]] = field(default_factory=list)  # typed rows for JSON (numbers are numbers)
    moved: list[CheckResult] = field(default_factory=list)  # the results with movers, for the text sections
    movement: dict[str, dict[str, Any]] = field(default_factory=dict)  # movement item id -> per-output movement

    def as_json(self) -> dict[str, Any]:
        def num(x: float) -> float | str:
            return x if math.isfinite(x) else str(x)

        return {
            "format": "pytest-savedmodel-report/1",
            "header": self.header,
            "tolerance": self.tolerance,
            "results": self.results or self.rows,
            "failures": self.failures,
            "deviations": {k: [{"output": o, "abs": num(a), "rel": num(r)} for o, a, r in v]
                           for k, v in self.samples.items()},
            "movers": self.movers,
            "movement": self.movement,
            "contract": self.contract,
            "contract_changes": self.changes,
            "counterexamples": self.counterexamples,
        }


def report_data(results: list[tuple[CheckResult, str, str]], *, header: list[str], failures: list[dict[str, str]],
                contract: dict[str, Any], tolerance: dict[str, float]) -> ReportData:
    """A report from the items' typed results: (result, outcome, when) per item, in run order."""
    from pytest_savedmodel.report import summary_row

    def num(x: float) -> float | str:
        return x if math.isfinite(x) else str(x)

    rows = [summary_row(*x) for x in results]
    typed = []
    for (r, _, _), row in zip(results, rows):
        typed.append({"id": r.nodeid, "model": r.model, "export": r.export, "version": r.version,
                      "signature": r.signature,
                      "check": r.item, "kind": r.check, "pair": r.pair, "examples": r.examples,
                      "max_abs": num(r.max_abs) if r.worst_output else None,
                      "max_rel": num(r.max_rel) if r.worst_output else None, "worst_output": r.worst_output or None,
                      "note": r.note or None, "figures": r.figures, "risks": list(r.risks), "movement": r.movement,
                      "verdict": row["verdict"]})
    return ReportData(
        header=header, rows=rows, failures=failures, contract=contract,
        tolerance=tolerance, results=typed,
        samples={r.nodeid: list(r.samples) for r, _, _ in results if r.samples},
        movers={r.nodeid: r.ranked_movers() for r, _, _ in results if r.movers},
        moved=[r for r, _, _ in results if r.movers],
        movement={r.nodeid: r.movement for r, _, _ in results if r.movement is not None},
        changes={r.nodeid: r.changes for r, _, _ in results if r.changes is not None},
        counterexamples={r.nodeid: r.counterexample for r, _, _ in results if r.counterexample},
    )


def check_report_path(path: str, *, root: Path | None = None) -> Path:
    """Validate the option value early: a known suffix and an existing parent directory."""
    given = Path(path)
    p = given if given.is_absolute() or root is None else root / given
    if p.suffix.lower() not in SUFFIXES:
        raise UsageError(f"--savedmodel-report={path}: the file name must end in {', '.join(SUFFIXES)} "
                         f"(the suffix picks the format)")
    if not p.parent.exists():
        raise UsageError(f"--savedmodel-report={path}: directory {given.parent} does not exist")
    return p


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write(path, data)


def _plots(data: ReportData) -> dict[str, str]:
    """output name -> base64 PNG of the deviations of every path pair over all examples."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    by_output: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for item, samples in data.samples.items():
        pair = item.split("::")[-1]
        model = item.split("::")[0].removeprefix("savedmodel:")
        for output, abs_err, _ in samples:
            by_output[f"{model}: {output}"][pair].append(abs_err)
    pngs: dict[str, str] = {}
    atol, rtol = data.tolerance.get("atol", 0.0), data.tolerance.get("rtol", 0.0)
    for output, pairs in sorted(by_output.items()):
        fig, ax = plt.subplots(figsize=(7, 3.2), dpi=90)
        for pair, errs in sorted(pairs.items()):
            ys = [max(e, 1e-12) for e in errs]
            ax.plot(range(len(ys)), ys, marker="o", markersize=3, linestyle="none", label=pair)
        ax.axhline(max(atol, 1e-12), color="red", linewidth=1, linestyle="--", label=f"atol {atol:g} (rtol {rtol:g})")
        ax.set_yscale("log")
        ax.set_xlabel("generated example")
        ax.set_ylabel("max |a - b|")
        ax.set_title(f"deviation between paths: {output}")
        ax.legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        pngs[output] = base64.b64encode(buf.getvalue()).decode()
    return pngs


def _shape_text(shape: Any) -> str:
    return "unknown rank" if shape is None else "[" + ", ".join("?" if d == -1 else str(d) for d in shape) + "]"


def contract_rows(contract: dict[str, Any]) -> list[dict[str, str]]:
    """One row per signature tensor and parse-spec feature of every export (for the HTML and Markdown reports)."""
    rows = []
    for export, entry in contract.items():
        if "error" in entry:
            rows.append({"model": export, "signature": "", "tensor": "", "dtype": "", "shape": "",
                         "note": entry["error"]})
            continue
        for key, sig in entry.get("signatures", {}).items():
            for kind in ("inputs", "outputs"):
                for alias, t in sig.get(kind, {}).items():
                    rows.append({"model": export, "signature": f"{key} ({sig.get('method_name', '')})",
                                 "tensor": f"{kind[:-1]} {alias}", "dtype": t["dtype"],
                                 "shape": _shape_text(t["shape"]), "note": t.get("encoding", "")})
            for fkey, f in ((sig.get("parse_spec") or {}).get("features") or {}).items():
                default = f.get("default")
                rows.append({"model": export, "signature": f"{key} ({sig.get('method_name', '')})",
                             "tensor": f"tf.Example feature {fkey}", "dtype": f["dtype"],
                             "shape": _shape_text(f["shape"]),
                             "note": f"{f['kind']}" + ("" if default is None else f", default {default}")})
    return rows


def _html_table(rows: list[dict[str, Any]], *, verdict: bool = False) -> list[str]:
    esc = html.escape
    if not rows:
        return []
    cols = list(rows[0])
    out = ["<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>"]
    for r in rows:
        cls = f" class='{esc(str(r.get('verdict', '')))}'" if verdict else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{esc(str(r[c]))}</td>" for c in cols) + "</tr>")
    out.append("</table>")
    return out


def _change_rows(data: ReportData) -> list[dict[str, str]]:
    return [{"item": item, "change": c["change"], "against": c["against"],
             "verdict": "allowed" if c["allowed"] else ("FAILED" if c["severity"] == "breaking" else c["severity"])}
            for item, changes in data.changes.items() for c in changes]


def _movement_html(item: str, movement: dict[str, Any]) -> list[str]:
    """One movement item: per output, rows moved and a bar per bucket of the rows' largest moves (plain HTML)."""
    esc = html.escape
    out = [f"<h3>{esc(item)}</h3>",
           f"<p>tolerance: rtol={esc(str(movement.get('rtol')))} atol={esc(str(movement.get('atol')))}</p>"]
    for name, m in sorted(movement.get("outputs", {}).items()):
        if m.get("note"):
            out.append(f"<p><b>{esc(name)}</b>: {esc(m['note'])}</p>")
            continue
        what = "changed" if m.get("exact") else "moved beyond tolerance"
        out.append(f"<p><b>{esc(name)}</b>: {m['moved']} of {m['rows']} rows {what} "
                   f"({float(m['share']):.1%}), largest move {esc(str(m['max_abs']))}</p>")
        hist = m.get("histogram")
        if hist:
            top = max(hist.values()) or 1
            out.append("<table class='hist'><tr><th>largest move in a row</th><th>rows</th><th></th></tr>")
            for bucket, n in hist.items():
                width = round(300 * n / top)
                out.append(f"<tr><td>{esc(bucket)}</td><td>{n}</td><td><div style='background:#69c;height:10px;"
                           f"width:{width}px'></div></td></tr>")
            out.append("</table>")
    return out


def _html(data: ReportData) -> str:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>pytest-savedmodel report</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
             ".FAILED,.ERROR{background:#fdd}.ok{background:#efe}pre{background:#f6f6f6;padding:1em;"
             "white-space:pre-wrap}</style></head><body>",
             "<h1>pytest-savedmodel report</h1>"]
    parts += [f"<div>{esc(line)}</div>" for line in data.header]
    if data.rows:
        parts.append("<h2>Results</h2>")
        parts += _html_table(data.rows, verdict=True)
    if data.changes:
        changes = _change_rows(data)
        parts.append("<h2>Contract changes</h2>")
        parts += _html_table(changes, verdict=True) if changes else ["<p>No change.</p>"]
    plots = _plots(data)
    parts.append("<h2>Deviations between paths</h2>")
    if plots:
        for output, png in plots.items():
            parts.append(f"<h3>{esc(output)}</h3><img alt='deviations {esc(output)}' "
                         f"src='data:image/png;base64,{png}'>")
    elif data.samples:
        parts.append("<p>Plots need matplotlib: pip install 'pytest-savedmodel[report]'</p>")
    else:
        parts.append("<p>No parity checks ran.</p>")
    if data.movement:
        parts.append("<h2>Prediction movement against the baseline</h2>")
        for item, movement in data.movement.items():
            parts += _movement_html(item, movement)
    if data.moved:
        from pytest_savedmodel.report import format_movers

        parts.append("<h2>Outputs that moved most</h2>")
        for result in data.moved:
            parts.append(f"<pre>{esc(chr(10).join(format_movers(result)))}</pre>")
    if data.failures:
        parts.append("<h2>Findings</h2>")
        for f in data.failures:
            parts.append(f"<h3>{esc(f['id'])}</h3><pre>{esc(f['text'])}</pre>")
    if data.contract:
        parts.append("<h2>Contract</h2>")
        parts += _html_table(contract_rows(data.contract))
    parts.append("</body></html>")
    return "\n".join(parts)


def _markdown(data: ReportData) -> str:
    lines = ["# pytest-savedmodel report", ""] + [f"- {h}" for h in data.header] + [""]
    def table(rows: list[dict[str, Any]]) -> list[str]:
        if not rows:
            return []
        cols = list(rows[0])
        return (["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                + ["| " + " | ".join(str(r[c]).replace("|", "\\|") for c in cols) + " |" for r in rows])

    lines += table(data.rows)
    changes = _change_rows(data)
    if changes:
        lines += ["", "## Contract changes", "", *table(changes)]
    if data.movement:
        from pytest_savedmodel.movement import format_movement

        lines += ["", "## Prediction movement against the baseline"]
        for item, movement in data.movement.items():
            lines += ["", "```", *format_movement(item, movement), "```"]
    if data.moved:
        from pytest_savedmodel.report import format_movers

        lines += ["", "## Outputs that moved most"]
        for result in data.moved:
            lines += ["", "```", *format_movers(result), "```"]
    for f in data.failures:
        lines += ["", f"## {f['id']}", "", "```", f["text"], "```"]
    if data.contract:
        lines += ["", "## Contract", "", *table(contract_rows(data.contract))]
    return "\n".join(lines) + "\n"


def write_report(path: Path, data: ReportData) -> None:
    """Write ``data`` in the format the suffix of ``path`` names."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(data.as_json(), indent=2, sort_keys=True, allow_nan=False, default=str) + "\n"
    elif suffix == ".md":
        text = _markdown(data)
    else:
        text = _html(data)
    _atomic_write(path, text.encode("utf-8"))

"""Text for people: the report header and the end-of-run summary. No TensorFlow import."""

from __future__ import annotations

from typing import Any

from pytest_savedmodel._lazy import tf_version
from pytest_savedmodel.results import CheckResult

__all__ = ["format_movers", "format_risks", "format_table", "header_lines", "summary_row"]


def header_lines(suite: Any) -> list[str]:
    """``suite``: a :class:`~pytest_savedmodel.session.Session` (settings, serves, exports, artifacts).

    After the exports: each export's identical signatures (``serve = serving_default (tested once)``), its
    raw~parsing signature pairs and its parsing signatures that no raw signature pairs with.
    """
    from pytest_savedmodel import __version__

    lines = [f"savedmodel: pytest-savedmodel {__version__}, TensorFlow {tf_version()}"]
    if suite.settings.seed is not None:
        s = suite.settings
        rows = f" and up to {s.rows} bulk rows" if s.rows else ""
        lines.append(f"  generated checks: {s.examples} Hypothesis examples{rows} per check; seed {s.seed} (replay "
                     f"with --savedmodel-seed={s.seed})")
    mode = suite.settings.server
    if suite.serves:
        from pytest_savedmodel.serving.modes import parse_mode, resolve_mode

        resolved = mode
        if parse_mode(mode)[0] == "auto":
            kind, found = resolve_mode(mode)
            resolved = f"auto: tensorflow_model_server at {found}" if kind == "binary" else \
                "auto: built-in emulator (tensorflow_model_server is not on PATH)"
        lines.append(f"  served paths: --savedmodel-server={resolved} (started in the background before the first "
                     f"test, if a selected test is served)")
    else:
        lines.append("  served paths: off (--savedmodel-server=none)")
    for export in suite.exports:
        if export.ref is not None:
            v = f" version {export.ref.version}" if export.ref.version is not None else ""
            lines.append(f"  {export.collector}: {export.ref.path}{v} (tags {','.join(sorted(export.ref.tags))})")
        else:
            lines.append(f"  {export.collector}: {export.arg.path} (not found: see the load item)")
    artifacts: Any = getattr(suite, "artifacts", None)
    for export in suite.exports if artifacts is not None else ():
        pairing = artifacts.pairing(export) if export.ref is not None else None  # reads saved_model.pb
        lines += [f"  {line}" for line in (pairing.notes(export.collector) if pairing is not None else ())]
    return lines


def _verdict(outcome: str, when: str, risks: bool = False) -> str:
    if outcome == "passed":
        return "risk" if risks else "ok"
    if outcome == "skipped":
        return "skipped"
    return "FAILED" if when == "call" else "ERROR"


def summary_row(result: CheckResult, outcome: str, when: str) -> dict[str, str]:
    """One summary row from an item's typed result."""
    examples = str(result.examples) if result.examples else "-"  # "-": a static check, nothing was run
    worst = ""
    if result.note and result.check in ("movement", "golden"):  # how often predictions moved says more
        worst = result.note
    elif result.worst_output:
        worst = f"{result.max_abs:.6g} / {result.worst_rel:.6g} ({result.worst_output})"  # one output's errors
    elif result.note:
        worst = result.note
    return {
        "model": result.export,
        "version": "" if result.version is None else str(result.version),
        "signature": result.signature,
        "check": result.item,
        "examples": examples,
        "worst abs / rel": worst,
        "verdict": _verdict(outcome, when, bool(result.risks)),
    }


def format_risks(results: list[CheckResult]) -> list[str]:
    """Every risk of passed items, under its item: what a reviewer should look at before a deploy."""
    out = []
    for r in results:
        for risk in r.risks:
            out.append(f"{r.nodeid}: risk: {risk}")
    if out:
        out.append("(risks pass; --savedmodel-strict makes them fail)")
    return out


def format_table(rows: list[dict[str, str]]) -> list[str]:
    """A fixed-width text table of ``rows`` (all with the same keys)."""
    if not rows:
        return []
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    line = "  ".join(c.ljust(widths[c]) for c in cols).rstrip()
    out = [line, "  ".join("-" * widths[c] for c in cols)]
    out += ["  ".join(r[c].ljust(widths[c]) for c in cols).rstrip() for r in rows]
    return out


def _short(value: object, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def format_movers(result: CheckResult, *, top: int = 5) -> list[str]:
    """The outputs that moved most between a pair of paths, largest first, with the inputs that moved them."""
    left, right, movers = result.left, result.right, result.ranked_movers()
    if not movers:
        return [f"{result.nodeid}: no output moved (all identical on every generated input)"]
    lines = [f"{result.nodeid}: outputs that moved most"]
    for m in movers[:top]:
        where = f" at {list(m['index'])}" if m.get("index") else ""
        vals = f"  {left}={m.get(left)!r} {right}={m.get(right)!r}" if left in m and right in m else ""
        lines.append(f"  {m['output']}: max abs {float(m['max_abs']):.6g}, rel {float(m['max_rel']):.6g}{where}{vals}")
        if m.get("inputs") is not None:
            lines.append(f"    inputs of that row: {_short(m['inputs'])}")
    return lines

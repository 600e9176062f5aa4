"""Text for people: the report header and the end-of-run summary. No TensorFlow import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_savedmodel._lazy import tf_version

if TYPE_CHECKING:
    from pytest_savedmodel.auto import AutoSuite

__all__ = ["format_movers", "format_table", "header_lines", "summary_row"]


def header_lines(suite: AutoSuite) -> list[str]:
    """Lines for ``pytest_report_header``: models, versions, TensorFlow."""
    from pytest_savedmodel import __version__

    lines = [f"savedmodel: pytest-savedmodel {__version__}, TensorFlow {tf_version()}"]
    if suite.settings.seed is not None:
        lines.append(f"  generated checks: Hypothesis seed {suite.settings.seed} (replay with "
                     f"--savedmodel-seed={suite.settings.seed})")
    mode = suite.settings.server
    if suite.serves:
        import shutil

        resolved = mode
        if mode.strip().lower() == "auto":
            found = shutil.which("tensorflow_model_server")
            resolved = f"auto: tensorflow_model_server at {found}" if found else \
                "auto: built-in emulator (tensorflow_model_server is not on PATH)"
        lines.append(f"  served paths: --savedmodel-server={resolved} (started on first use)")
    else:
        lines.append("  served paths: off (--savedmodel-server=none)")
    for export in suite.exports:
        if export.ref is not None:
            v = f" version {export.ref.version}" if export.ref.version is not None else ""
            lines.append(f"  {export.collector}: {export.ref.path}{v} (tags {','.join(sorted(export.ref.tags))})")
        else:
            lines.append(f"  {export.collector}: {export.arg.path} (not found: see the load item)")
    return lines


def _verdict(outcome: str, when: str) -> str:
    if outcome == "passed":
        return "ok"
    if outcome == "skipped":
        return "skipped"
    return "FAILED" if when == "call" else "ERROR"


def summary_row(nodeid: str, outcome: str, when: str, props: dict[str, str]) -> dict[str, str]:
    """One summary row from a test report's ``savedmodel.*`` user properties (works under xdist)."""
    check = nodeid.rsplit("::", 1)[-1]
    examples = props.get("savedmodel.examples", "")
    if examples == "0":
        examples = "-"  # a static check: nothing was run
    worst = ""
    if "savedmodel.max_abs" in props:
        worst = f"{props['savedmodel.max_abs']} / {props['savedmodel.max_rel']} ({props['savedmodel.worst_output']})"
    elif "savedmodel.note" in props:
        worst = props["savedmodel.note"]
    return {
        "model": props.get("savedmodel.model", ""),
        "version": props.get("savedmodel.version", ""),
        "signature": props.get("savedmodel.signature", ""),
        "check": check,
        "examples": examples,
        "worst abs / rel": worst,
        "verdict": _verdict(outcome, when),
    }


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


def format_movers(nodeid: str, movers: list[dict[str, Any]], *, top: int = 5) -> list[str]:
    """The outputs that moved most between a pair of paths, largest first, with the inputs that moved them."""
    pair = nodeid.rsplit("[", 1)[-1].rstrip("]") if nodeid.endswith("]") else ""
    left, _, right = pair.partition("~")
    if not movers:
        return [f"{nodeid}: no output moved (all identical on every generated input)"]
    lines = [f"{nodeid}: outputs that moved most"]
    for m in movers[:top]:
        where = f" at {list(m['index'])}" if m.get("index") else ""
        vals = f"  {left}={m.get(left)!r} {right}={m.get(right)!r}" if left in m and right in m else ""
        lines.append(f"  {m['output']}: max abs {float(m['max_abs']):.6g}, rel {float(m['max_rel']):.6g}{where}{vals}")
        if m.get("inputs") is not None:
            lines.append(f"    inputs of that row: {_short(m['inputs'])}")
    return lines

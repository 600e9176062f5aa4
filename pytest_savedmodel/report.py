"""Text for people: the report header and the end-of-run summary. No TensorFlow import."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_savedmodel._lazy import tf_version

if TYPE_CHECKING:
    from pytest_savedmodel.auto import AutoSuite

__all__ = ["header_lines"]


def header_lines(suite: AutoSuite) -> list[str]:
    """Lines for ``pytest_report_header``: models, versions, TensorFlow."""
    from pytest_savedmodel import __version__

    lines = [f"savedmodel: pytest-savedmodel {__version__}, TensorFlow {tf_version()}"]
    for export in suite.exports:
        if export.ref is not None:
            v = f" version {export.ref.version}" if export.ref.version is not None else ""
            lines.append(f"  {export.collector}: {export.ref.path}{v} (tags {','.join(sorted(export.ref.tags))})")
        else:
            lines.append(f"  {export.collector}: {export.arg.path} (not found: see the load item)")
    return lines

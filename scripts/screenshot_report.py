"""Open a pytest-savedmodel HTML report in headless Chromium and save a screenshot (PNG).

    python scripts/screenshot_report.py report.html shot.png [--width 1280] [--height 2400]

Uses Debian's chromium (apt-get install chromium) or any Chromium/Chrome on PATH; CHROMIUM=/path overrides.
The browser runs headless with a throwaway profile and no network features, and is killed if it takes longer
than --timeout seconds. Exit status 0 when the PNG was written, 2 when no browser was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The Chromium to use: $CHROMIUM, else the first of BROWSERS on PATH."""
    given = os.environ.get("CHROMIUM")
    if given:
        return given if shutil.which(given) else None
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def screenshot(report: Path, out: Path, *, width: int = 1280, height: int = 2400, timeout: float = 90.0) -> None:
    """Render ``report`` headless and write the PNG ``out``; RuntimeError with the browser's output on failure."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found: apt-get install chromium (or set CHROMIUM=/path/to/chrome)")
    with tempfile.TemporaryDirectory(prefix="savedmodel-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={out.resolve()}", report.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{browser} exited {proc.returncode} without writing {out}:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args(argv)
    if not args.report.is_file():
        print(f"no such report: {args.report}", file=sys.stderr)
        return 1
    try:
        screenshot(args.report, args.out, width=args.width, height=args.height, timeout=args.timeout)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

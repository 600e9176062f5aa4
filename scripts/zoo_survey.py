"""Run the zero-code gate on every model of the test zoo, as a user would, and print what it said.

    python scripts/zoo_survey.py [--served]

Builds the zoo the tests build (Keras 3 features model, tf.Module raw+parsing pair, Estimator-style heads and
pair, with their planted variants) into a temporary directory, runs ``pytest --savedmodel=...`` with no other
option (``--served``: the served paths too, through the emulator; default: ``--savedmodel-server=none``) in a
fresh process per model, and prints a Markdown table: items, verdicts, wall time.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def zoo(base: Path) -> list[tuple[str, list[str], str]]:
    """(model, the pytest arguments, what it is) per zoo entry."""
    from tests import zoo_estimator, zoo_keras, zoo_pairs

    out: list[tuple[str, list[str], str]] = [
        ("keras features", [f"--savedmodel=k={zoo_keras.keras_features(base / 'keras')}"], "clean"),
        ("keras features, ids + 1", [f"--savedmodel=k={zoo_keras.keras_features(base / 'keras1', off_by_one=True)}"],
         "planted"),
        ("tf.Module raw + parsing", [f"--savedmodel=m={zoo_pairs.two_signatures(base / 'pair')}"], "clean"),
        ("tf.Module, parsing scales x by 1.02",
         [f"--savedmodel=m={zoo_pairs.two_signatures(base / 'pair_scaled', scale=1.02)}"], "planted"),
        ("Estimator heads (one SavedModel)", [f"--savedmodel=e={zoo_estimator.estimator_heads(base / 'heads')}"],
         "clean"),
        ("Estimator heads, parse default differs",
         [f"--savedmodel=e={zoo_estimator.estimator_heads(base / 'heads_d', zip_default='UNK')}"], "planted"),
    ]
    raw, parsing = zoo_estimator.estimator_pair(base / "epair")
    out.append(("Estimator raw + parsing exports", [f"--savedmodel=e={raw}", f"--savedmodel-parsing=e={parsing}"],
                "clean"))
    raw, parsing = zoo_estimator.estimator_pair(base / "epair_s", age_scale=1.02)
    out.append(("Estimator exports, parsing scales age by 1.02",
                [f"--savedmodel=e={raw}", f"--savedmodel-parsing=e={parsing}"], "planted"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--served", action="store_true", help="the served paths too (the emulator)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "run").mkdir()
        entries = zoo(base / "zoo")
        print("| model | kind | items | verdicts | wall |")
        print("|---|---|---|---|---|")
        for name, argv, kind in entries:
            server = [] if args.served else ["--savedmodel-server=none"]
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *server, *argv],
                                  cwd=base / "run", capture_output=True, text=True, check=False)
            took = time.perf_counter() - start
            verdicts = re.findall(r"\s(ok|risk|FAILED|ERROR|skipped)$", proc.stdout, flags=re.M)
            counts = {v: verdicts.count(v) for v in ("ok", "risk", "FAILED", "ERROR", "skipped") if v in verdicts}
            last = proc.stdout.strip().splitlines()[-1].strip("= ") if proc.stdout.strip() else proc.stderr[-200:]
            print(f"| {name} | {kind} | {last} | {', '.join(f'{n} {v}' for v, n in counts.items())} | {took:.1f} s |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

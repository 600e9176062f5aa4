"""Wall time of a three-model run with the served paths on: serial, and ``-n 2`` with one server per worker
("before") and with one server shared by the workers ("after", serving/shared.py).

    python benchmarks/xdist_speed.py [--repeat N] [--checks CHECKS]

Exports the Iris example to a temporary directory and serves it beside two of TF Serving's test models
(``../shared/tfserving-testdata``: half_plus_two, half_plus_three), with the emulator. "before" runs the same
code with sharing switched off by a one-line plugin (``-p`` of a module that makes ``xdist_run()`` None), so
both columns come from the same checkout. Each run is a fresh ``pytest`` process, as a user would start it;
the table gives the median of ``--repeat`` runs, the CPU time all of its processes used (pytest, the workers,
the emulator: ``getrusage(RUSAGE_CHILDREN)``), which divided by the cores bounds the wall time from below, and
the number of emulators each run started.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "tfserving-testdata"
NO_SHARING = """
from pytest_savedmodel.serving import shared
shared.xdist_run = lambda: None
"""
COUNT_STARTS = """
import os
from pytest_savedmodel.serving import launcher
_start = launcher.ModelServer.start
def start(self):
    with open(os.environ["XDIST_SPEED_STARTS"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    return _start(self)
launcher.ModelServer.start = start
"""


def run(models: list[str], extra: list[str], plugins: list[str], *, cwd: Path) -> tuple[float, float, int, str]:
    starts = cwd / "starts.txt"
    starts.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")]),
           "XDIST_SPEED_STARTS": str(starts), "TF_CPP_MIN_LOG_LEVEL": "2"}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "xdist_speed_count",
            *[a for p in plugins for a in ("-p", p)], "--savedmodel-server=emulator", "--savedmodel-seed=1",
            *[f"--savedmodel={m}" for m in models], *extra]
    start, used = time.perf_counter(), _children_cpu()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    took, cpu = time.perf_counter() - start, _children_cpu() - used
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pytest failed ({proc.returncode}): {tail}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    n = len(starts.read_text().split()) if starts.exists() else 0
    return took, cpu, n, tail


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process (pytest, its workers, the emulator)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--checks", default="", help="--savedmodel-checks (default: every check)")
    args = parser.parse_args()
    import tensorflow as tf

    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, TF {tf.__version__}\n")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        subprocess.run([sys.executable, str(REPO / "examples" / "iris" / "iris_model.py"), "--out",
                        str(base / "iris")], check=True, capture_output=True)
        models = [f"iris={base / 'iris' / 'raw'}", f"half={TESTDATA / 'saved_model_half_plus_two_cpu'}",
                  f"three={TESTDATA / 'saved_model_half_plus_three'}"]
        cwd = base / "run"
        cwd.mkdir()
        (cwd / "xdist_speed_count.py").write_text(COUNT_STARTS)
        (cwd / "xdist_speed_no_sharing.py").write_text(NO_SHARING)
        checks = [f"--savedmodel-checks={args.checks}"] if args.checks else []
        runs = {"serial": ([], []), "-n 2, a server per worker (before)": (["-n", "2"], ["xdist_speed_no_sharing"]),
                "-n 2, one shared server (after)": (["-n", "2"], [])}
        cores = len(os.sched_getaffinity(0))
        print(f"| run | wall time (s) | CPU time, all processes (s) | CPU / {cores} cores: the least wall time it "
              f"allows (s) | emulators started | pytest's last line |")
        print("|---|---|---|---|---|---|")
        for label, (extra, plugins) in runs.items():
            times, cpus, starts, tail = [], [], 0, ""
            for _ in range(args.repeat):
                took, cpu, starts, tail = run(models, [*extra, *checks], plugins, cwd=cwd)
                times.append(took)
                cpus.append(cpu)
            cpu = statistics.median(cpus)
            print(f"| {label} | {statistics.median(times):.1f} | {cpu:.1f} | {cpu / cores:.1f} | {starts} | {tail} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run TF Serving's own integration test (tensorflow_model_server_test.py) against the emulator.

The test file and its base class (``tensorflow_serving/model_servers/tensorflow_model_server_test.py`` and
``test_util/tensorflow_model_server_test_base.py``) start ``$TEST_SRCDIR/tf_serving/tensorflow_serving/
model_servers/tensorflow_model_server`` with the real server's flags and talk to it over gRPC, REST and a UNIX
socket. This script lays out that runfiles tree in a scratch directory, with a ``tensorflow_model_server`` that
execs ``python -m pytest_savedmodel.serving.emulator`` and the test data of the checkout, then runs the test
file with this interpreter and prints one line per test. It fetches nothing: everything comes from the checkout,
this repository and the installed packages.

Getting a checkout (any one of):

    git clone --depth 1 https://github.com/tensorflow/serving /tmp/tfserving
    # or, from a bare mirror:  git --git-dir=MIRROR archive HEAD | tar -x -C /tmp/tfserving
    # (a mirror missing LFS/large blobs: export the tree file by file with git cat-file, skipping those)

Then:

    make tfserving-suite TFSERVING=/tmp/tfserving
    .venv/bin/python scripts/tfserving_suite.py /tmp/tfserving [-k testPredictUDS] [--keep]

What the harness needs that may be missing is shimmed in the scratch directory, never installed: ``portpicker``
(a free loopback port) when it is not importable. ``tensorflow_serving.model_servers.test_util`` is added to the
installed ``tensorflow_serving`` package's search path from the checkout.

Expected (TF 2.21, Keras 3, tensorflow/serving 9d981c5): 28 of 31 pass. The three others cannot pass against
any server here:

* ``test_tf_text``: ``testdata/tf_text_regression/01/saved_model.pb`` is a large/LFS object missing from such a
  checkout (and with TF 2.21 the test itself stops first: it reads ``flags.os.environ``, which TF's ``flags``
  module no longer has);
* ``test_sequential_keras_saved_model_save`` and ``test_distrat_sequential_keras_saved_model_save``: they need a
  Keras 2 export, whose serving signature names its input ``x`` after the Input layer; Keras 3 names it
  ``inputs``, so the server rightly answers INVALID_ARGUMENT "Signature input alias: inputs(...) not found in
  request" to the test's ``x``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST = "tensorflow_serving/model_servers/tensorflow_model_server_test.py"
BASE = "tensorflow_serving/model_servers/test_util/tensorflow_model_server_test_base.py"

_SERVER = """#!/bin/sh
# tensorflow_model_server for TF Serving's test harness: the pytest-savedmodel emulator.
PYTHONPATH={repo}${{PYTHONPATH:+:$PYTHONPATH}} exec {python} -m pytest_savedmodel.serving.emulator "$@"
"""
_PORTPICKER = '''"""pick_unused_port() for the test harness: a free loopback TCP port."""
import socket


def pick_unused_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
'''
_RUNNER = '''"""Run TF Serving's test file as __main__, with its test_util importable from the checkout."""
import os
import runpy
import sys

import tensorflow_serving

overlay = os.path.join(os.environ["TFS_SUITE_OVERLAY"], "tensorflow_serving")
tensorflow_serving.__path__.append(overlay)
test = sys.argv[1]
sys.argv = [test] + sys.argv[2:]
runpy.run_path(test, run_name="__main__")
'''


def layout(checkout: Path, work: Path) -> tuple[Path, Path]:
    """The runfiles tree and the Python overlay under ``work``; returns (TEST_SRCDIR, runner script)."""
    src = checkout / "tensorflow_serving"
    for rel in (TEST, BASE):
        if not (checkout / rel).is_file():
            raise SystemExit(f"{checkout} is not a tensorflow/serving checkout: {rel} is missing")
    srcdir = work / "runfiles"
    root = srcdir / "tf_serving" / "tensorflow_serving"
    (root / "model_servers").mkdir(parents=True, exist_ok=True)
    (root / "servables").mkdir(parents=True, exist_ok=True)
    (root / "servables" / "tensorflow").symlink_to(src / "servables" / "tensorflow")
    server = root / "model_servers" / "tensorflow_model_server"
    server.write_text(_SERVER.format(repo=REPO, python=sys.executable))
    server.chmod(0o755)
    overlay = work / "overlay"
    util = overlay / "tensorflow_serving" / "model_servers" / "test_util"
    util.mkdir(parents=True)
    for d in (util.parent, util):
        (d / "__init__.py").write_text("")
    (util / Path(BASE).name).symlink_to(checkout / BASE)
    try:
        import portpicker  # noqa: F401
    except ImportError:
        (overlay / "portpicker.py").write_text(_PORTPICKER)
    runner = work / "run_test.py"
    runner.write_text(_RUNNER)
    return srcdir, runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout (or export) of github.com/tensorflow/serving")
    parser.add_argument("-k", dest="tests", action="append", default=[],
                        help="run only this test (method name; repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for the whole run (default 1800)")
    args = parser.parse_args(argv)
    checkout = args.checkout.resolve()
    work = Path(tempfile.mkdtemp(prefix="tfserving-suite-"))
    try:
        srcdir, runner = layout(checkout, work)
        tmp = work / "tmp"
        tmp.mkdir()
        env = dict(os.environ, TEST_SRCDIR=str(srcdir), TEST_TMPDIR=str(tmp), TFS_SUITE_OVERLAY=str(work / "overlay"),
                   PYTHONPATH=os.pathsep.join([str(work / "overlay"), str(REPO),
                                               *filter(None, [os.environ.get("PYTHONPATH")])]),
                   TF_CPP_MIN_LOG_LEVEL="2")
        names = [f"TensorflowModelServerTest.{t}" for t in args.tests]
        cmd = [sys.executable, str(runner), str(checkout / TEST), *names]
        print("$", " ".join(cmd), flush=True)
        log = work / "suite.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp,
                                    start_new_session=True)
            try:
                code = proc.wait(timeout=args.timeout)
            except subprocess.TimeoutExpired:
                code = 124
            finally:  # the harness kills its servers at exit; a timed-out run's servers go with its group
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        text = log.read_text(errors="replace")
        results = re.findall(r"^\[\s+(OK|FAILED|SKIPPED)\s*\]\s+TensorflowModelServerTest\.(\w+)", text, re.M)
        if not results:
            results = [(r.upper(), n) for n, r in re.findall(r"^(\w+) \(__main__\.\S+\) \.\.\. (ok|FAIL|ERROR|skipped)",
                                                            text, re.M)]
        for status, name in results:
            print(f"{status:8} {name}")
        tail = [ln for ln in text.splitlines() if re.match(r"^(Ran \d+ tests|OK|FAILED \()", ln)]
        print("\n".join(tail) or text[-3000:])
        if code != 0:
            print(f"(full log: {log})" if args.keep else "(rerun with --keep to read the full log)")
        return code
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

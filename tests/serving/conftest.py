"""One emulator process for the acceptance tests, serving TF Serving's own test models by config file."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_savedmodel.serving.launcher import _free_port
from tests.processes import FIXTURE_SERVERS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: a small bound, so the size-limit tests send megabytes, not the default 64 MiB
MAX_REQUEST_BYTES = 4 * 1024 * 1024

CONFIG = """
model_config_list {{
  config {{ name: "default" base_path: "{t}/saved_model_half_plus_two_cpu" model_platform: "tensorflow" }}
  config {{ name: "tf2" base_path: "{t}/saved_model_half_plus_two_tf2_cpu" model_platform: "tensorflow" }}
  config {{
    name: "half_plus_two" base_path: "{t}/saved_model_half_plus_two_2_versions" model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 123 }} }}
    version_labels {{ key: "Version_Label" value: 123 }}
  }}
  config {{ name: "half_plus_three" base_path: "{t}/saved_model_half_plus_three" model_platform: "tensorflow" }}
  config {{ name: "counter" base_path: "{t}/saved_model_counter" model_platform: "tensorflow" }}
  config {{ name: "matrix" base_path: "{t}/matrix_half_plus_two" model_platform: "tensorflow" }}
  config {{ name: "wire" base_path: "{w}" model_platform: "tensorflow" }}
}}
"""


@dataclass
class Emulator:
    grpc: str
    rest: str
    process: subprocess.Popen[bytes]
    log: Path
    max_request_bytes: int = 0


def wait_available(target: str, names: list[str], process: subprocess.Popen[bytes], log: Path,
                   timeout: float = 90.0) -> None:
    from pytest_savedmodel.serving.client import model_versions

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"emulator exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if all(any(s == "AVAILABLE" for _, s, _ in model_versions(target, n, timeout=2)) for n in names):
                return
        except Exception:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"emulator not AVAILABLE in {timeout} s:\n{log.read_text()[-3000:]}")


EMULATOR = [sys.executable, "-m", "pytest_savedmodel.serving.emulator"]


@contextlib.contextmanager
def emulator_process(args: list[str], log: Path, target: str, names: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """The emulator started with ``args`` (output to ``log``, watching this process), once ``names`` are
    AVAILABLE at ``target``; stopped (terminate, then kill) on the way out if it still runs."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([*EMULATOR, *args, f"--parent_pid={os.getpid()}"], stdout=out,
                                stderr=subprocess.STDOUT)
    FIXTURE_SERVERS.add(proc.pid)
    try:
        wait_available(target, names, proc, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def emulator(testdata: Path, zoo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    from tests import modelzoo

    wire = modelzoo.wire_types(zoo_dir / "wire")
    d = tmp_path_factory.mktemp("emulator")
    config = d / "models.config"
    config.write_text(CONFIG.format(t=testdata.resolve(), w=wire.resolve()))
    g, r = _free_port(), _free_port()
    log = d / "server.log"
    names = ["default", "tf2", "half_plus_two", "half_plus_three", "counter", "matrix", "wire"]
    with emulator_process([f"--port={g}", f"--rest_api_port={r}", f"--model_config_file={config}",
                           "--max_num_load_retries=0", f"--max_request_bytes={MAX_REQUEST_BYTES}",
                           "--file_system_poll_wait_seconds=0"], log, f"127.0.0.1:{g}", names) as proc:
        yield Emulator(f"127.0.0.1:{g}", f"http://127.0.0.1:{r}", proc, log, MAX_REQUEST_BYTES)

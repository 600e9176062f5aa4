"""A small, bounded fuzz run of the shared emulator (benchmarks/fuzz_emulator.py has the 10,000-request one)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.serving


def _fuzzer() -> Any:
    spec = importlib.util.spec_from_file_location("fuzz_emulator", Path(__file__).parents[2] / "benchmarks" /
                                                  "fuzz_emulator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_generated_rest_bodies_and_grpc_requests_never_crash_the_emulator(emulator: Any) -> None:
    fuzz = _fuzzer()
    stats = fuzz.fuzz(emulator.grpc, emulator.rest, emulator.process.pid, requests=400, seconds=60)
    assert stats.sent >= 300, stats.statuses  # bounded by count, not cut short by the time limit
    assert stats.failures == [], "\n".join(stats.failures[:10])
    assert emulator.process.poll() is None
    # both APIs were exercised on both sides: answers and rejections
    answers = set(stats.statuses)
    assert {"HTTP 200", "HTTP 400", "gRPC OK", "gRPC INVALID_ARGUMENT"} <= answers, stats.statuses


def test_the_fuzzer_flags_a_server_error_and_a_non_json_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks themselves can fail (against a stand-in transport)."""
    fuzz = _fuzzer()

    class Response:
        def __init__(self, status: int, text: str) -> None:
            self.status_code, self.text = status, text

        def json(self) -> Any:
            import json

            return json.loads(self.text)

    answers = iter([Response(500, '{"error": "boom"}'), Response(400, "<html>bad</html>"), Response(400, "{}"),
                    Response(404, '{"error": "Servable not found"}')])
    monkeypatch.setattr("requests.request", lambda *a, **k: next(answers))
    stats = fuzz.FuzzStats()
    for _ in range(4):
        fuzz.check_rest(stats, "http://127.0.0.1:1", "POST", "/v1/models/x:predict", "{}")
    assert len(stats.failures) == 3
    assert "HTTP 500" in stats.failures[0] and "non-JSON body" in stats.failures[1]
    assert "without an 'error' string" in stats.failures[2]

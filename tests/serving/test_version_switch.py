"""A version switch never fails a request in flight (TF Serving's servable handles): the emulator takes the old
version out of service at once, and its session closes only when the last request that resolved it is done."""

from __future__ import annotations

import gc
import shutil
import weakref
from pathlib import Path

import numpy as np
import pytest

from pytest_savedmodel.serving.emulator.servables import AVAILABLE, END, ModelConfig, ModelManager

pytestmark = pytest.mark.serving


def test_a_request_holding_the_unloaded_version_still_runs_then_the_version_goes(testdata: Path,
                                                                                  tmp_path: Path) -> None:
    base = tmp_path / "half"
    shutil.copytree(testdata / "saved_model_half_plus_two_cpu" / "00000123", base / "1")
    manager = ModelManager([ModelConfig("half", str(base))], tags=["serve"], max_retries=0)
    manager.poll()
    spec = type("Spec", (), {"name": "half", "WhichOneof": lambda self, _: None})()
    held = manager.resolve(spec)  # a request resolved version 1 and is about to run
    sig = held.signature_def("serving_default")
    feeds = {sig.inputs["x"].name: np.array([2.0], np.float32)}
    fetches = [sig.outputs["y"].name]

    shutil.copytree(base / "1", base / "2")
    manager.poll()  # version 2 loads; version 1, no longer aspired, is unloaded
    assert manager.states["half"][2].state == AVAILABLE and manager.states["half"][1].state == END
    assert manager.resolve(spec).version == 2  # new requests go to version 2
    assert held.run(feeds, fetches)[0].tolist() == [3.0]  # the one in flight still runs on version 1

    gone = weakref.ref(held)
    del held
    gc.collect()
    assert gone() is None  # the last handle released: version 1 is freed

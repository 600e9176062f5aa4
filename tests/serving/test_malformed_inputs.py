"""The table of malformed inputs: for each, the error class and the words we promise.

Every row builds its bad input under ``tmp_path``, runs the public entry point a
user reaches, and checks: the exception class (or HTTP status / gRPC code for the
emulator rows), the words, that it returned within the row's time bound (no hang),
that the message is ours (no bare TensorFlow traceback), and that nothing was
written to the working directory. Rows that start servers also check that no
process they started survives.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from pytest_savedmodel.errors import (
    CallTimeout,
    InvalidArgument,
    ModelLoadError,
    ModelNotFound,
    RunnerError,
    ServerStartError,
    SignatureNotFound,
    TagSetNotFound,
    TooLarge,
    UsageError,
)
from pytest_savedmodel.lock import LockError, locked_model, read_lock
from pytest_savedmodel.schema import SchemaError, read_schema

pytestmark = pytest.mark.serving


@dataclass
class Env:
    tmp: Path
    testdata: Path
    iris: dict[str, Path]
    emulator: Any

    def copy(self, name: str = "saved_model_half_plus_two_cpu") -> Path:
        dst = self.tmp / name
        shutil.copytree(self.testdata / name, dst)
        return dst

    def version_dir(self, base: Path) -> Path:
        return next(p for p in base.iterdir() if p.is_dir())


def _find(path: Path | str, **kw: Any) -> Any:
    from pytest_savedmodel.locate import find_model

    return find_model(path, **kw)


def _inspect(path: Path, **kw: Any) -> Any:
    from pytest_savedmodel.signatures import inspect_model

    return inspect_model(_find(path, **kw))


def _predict_raw(path: Path) -> Any:
    from pytest_savedmodel.runners.raw import RawRunner

    ref = _find(path)
    sig = _inspect(path).signature("serving_default")
    with RawRunner(ref, sig) as runner:
        return runner.predict({"x": np.array([[1.0]], np.float32)})


def _iris_sig(env: Env) -> Any:
    return _inspect(env.iris["raw"]).signature("serving_default")


def _marker(*args: Any, **kwargs: Any) -> Any:
    from pytest_savedmodel.markers import contract_from_marker

    return contract_from_marker(pytest.mark.savedmodel_signature(*args, **kwargs).mark)


def _shim(env: Env, body: str) -> str:
    path = env.tmp / "bin" / "tensorflow_model_server"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return f"binary:{path}"


def _serve(env: Env, mode: str, timeout: float = 5) -> Any:
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel

    ref = _find(env.testdata / "saved_model_half_plus_two_cpu")
    server = ModelServer.create(mode, models=[ServedModel("half", ref.path, ref.version or 1)],
                                log_dir=env.tmp / "log", startup_timeout=timeout)
    try:
        server.start()
    finally:
        server.stop()


def _lock_file(env: Env, text: str) -> Path:
    path = env.tmp / "savedmodel.lock.json"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------------ the rows


def missing_path(env: Env) -> object:
    return _find("export/nope", root=env.tmp)


def file_instead_of_dir(env: Env) -> object:
    (env.tmp / "model.h5").write_bytes(b"HDF")
    return _find(env.tmp / "model.h5")


def empty_base_dir(env: Env) -> object:
    (env.tmp / "empty").mkdir()
    return _find(env.tmp / "empty")


def version_dirs_without_savedmodel(env: Env) -> object:
    for v in ("1", "2"):
        (env.tmp / "m" / v).mkdir(parents=True)
    return _find(env.tmp / "m")


def non_numeric_versions_only(env: Env) -> object:
    (env.tmp / "m" / "latest").mkdir(parents=True)
    (env.tmp / "m" / "v2").mkdir()
    return _find(env.tmp / "m")


def truncated_saved_model_pb(env: Env) -> object:
    pb = env.version_dir(env.copy()) / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:200])
    return _inspect(pb.parent)


def random_bytes_saved_model_pb(env: Env) -> object:
    d = env.tmp / "m" / "1"
    d.mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(np.random.default_rng(0).bytes(1024))
    return _inspect(d)


def pbtxt_syntax_error(env: Env) -> object:
    d = env.tmp / "m" / "1"
    d.mkdir(parents=True)
    (d / "saved_model.pbtxt").write_text("meta_graphs {\n  meta_info_def { tags: serve }\n")
    return _inspect(d)


def missing_variables_dir(env: Env) -> object:
    v = env.version_dir(env.copy())
    shutil.rmtree(v / "variables")
    return _predict_raw(v)


def truncated_variables_data(env: Env) -> object:
    v = env.version_dir(env.copy())
    data = next((v / "variables").glob("variables.data-*"))
    data.write_bytes(data.read_bytes()[:3])
    return _predict_raw(v)


def unknown_tag_set(env: Env) -> object:
    return _inspect(env.testdata / "saved_model_half_plus_two_cpu", tags=frozenset({"serve", "gpu"}))


def unknown_signature(env: Env) -> object:
    return _inspect(env.testdata / "saved_model_half_plus_two_cpu").signature("serving_defualt")


def rest_signature_with_no_inputs(env: Env) -> object:
    from pytest_savedmodel.runners.rest import RestRunner

    sig = _inspect(env.testdata / "saved_model_counter").signature("get_counter")
    return RestRunner(sig, base_url=env.emulator.rest, model_name="counter")


def unsupported_dtype(env: Env) -> object:
    from pytest_savedmodel.spec import SignatureSpec, TensorSpec, dtype_by_name
    from pytest_savedmodel.strategies import feature_dicts

    sig = SignatureSpec("s", "m", {"handle": TensorSpec("handle", dtype_by_name("variant"), (None,))}, {})
    return feature_dicts(sig)


def corrupt_contract_lock(env: Env) -> object:
    return read_lock(_lock_file(env, '{"format": "pytest-savedmodel-lock/1",\n "models": {\n  "m": [1, 2,\n'))


def lock_edited_to_invalid(env: Env) -> object:
    doc = {"format": "pytest-savedmodel-lock/1", "models": {"m": {
        "tag_sets": [["serve"]], "ops": [], "golden": {}, "signatures": {"serving_default": {
            "method_name": "tensorflow/serving/predict", "inputs": {"x": {"dtype": "flaot32", "shape": [-1]}},
            "outputs": {}}}}}}
    return read_lock(_lock_file(env, json.dumps(doc)))


def lock_for_another_model(env: Env) -> object:
    doc = {"format": "pytest-savedmodel-lock/1", "models": {"fraud": {
        "tag_sets": [], "ops": [], "golden": {}, "signatures": {}}}}
    path = _lock_file(env, json.dumps(doc))
    return locked_model(read_lock(path), "iris", path)


def marker_unknown_key(env: Env) -> object:
    return _marker(input={"x": "float32"})


def marker_wrong_type(env: Env) -> object:
    return _marker(outputs=["y"])


def marker_dtype_typo(env: Env) -> object:
    return _marker(inputs={"x": "flaot32"})


def strategy_range_inverted(env: Env) -> object:
    from pytest_savedmodel.strategies import feature_dicts

    return feature_dicts(_iris_sig(env), ranges={"SepalLength": (8.0, 4.0)})


def strategy_batch_size_zero(env: Env) -> object:
    from pytest_savedmodel.strategies import feature_dicts

    return feature_dicts(_iris_sig(env), batch_size=0)


def checkpoint_prefix_without_meta(env: Env) -> object:
    from pytest_savedmodel.runners.graph import CheckpointRunner

    for suffix in (".index", ".data-00000-of-00001"):
        (env.tmp / ("model.ckpt" + suffix)).write_bytes(b"")
    return CheckpointRunner(env.tmp / "model.ckpt", _iris_sig(env))._ensure()


def frozen_pb_not_a_graphdef(env: Env) -> object:
    from pytest_savedmodel.runners.graph import FrozenRunner

    (env.tmp / "frozen.pb").write_bytes(b"\x08\x96\x01 not a graph")
    return FrozenRunner(env.tmp / "frozen.pb", _iris_sig(env))._ensure()


def tensor_name_not_in_graph(env: Env) -> object:
    from pytest_savedmodel.runners.graph import FrozenRunner

    runner = FrozenRunner(env.iris["frozen"], _iris_sig(env), tensor_map={"logits": "logitz:0"})
    return runner._ensure()


def schema_that_does_not_parse(env: Env) -> object:
    (env.tmp / "schema.pbtxt").write_text('feature {\n  name: "x"\n  type: FLOT\n}\n')
    return read_schema(env.tmp / "schema.pbtxt")


def server_binary_not_found(env: Env) -> object:
    return _serve(env, f"binary:{env.tmp / 'nope' / 'tensorflow_model_server'}")


def port_already_taken(env: Env) -> object:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "pytest_savedmodel.serving.emulator", f"--port={port}",
             f"--model_base_path={env.testdata / 'saved_model_half_plus_two_cpu'}", "--model_name=half"],
            capture_output=True, text=True, timeout=120, check=False)
    raise ServerStartError(f"exit {proc.returncode}: {proc.stdout[-400:]}{proc.stderr[-400:]}")


def server_exits_at_start(env: Env) -> object:
    return _serve(env, _shim(env, 'echo "E external/flag: unknown flag --rest_api_host" >&2\nexit 1\n'))


def server_never_available(env: Env) -> object:
    return _serve(env, _shim(env, 'echo "still loading the model"\nexec sleep 600\n'), timeout=1)


def server_killed_mid_run(env: Env) -> object:
    from pytest_savedmodel.runners.grpc import GrpcRunner
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel

    ref = _find(env.testdata / "saved_model_half_plus_two_cpu")
    sig = _inspect(ref.path).signature("serving_default")
    with ModelServer.create("emulator", models=[ServedModel("half", ref.path, ref.version or 1)],
                            log_dir=env.tmp / "log") as server:
        runner = GrpcRunner(sig, target=server.grpc_target, model_name="half", timeout=5)
        runner.predict({"x": np.array([[1.0]], np.float32)})
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        return runner.predict({"x": np.array([[1.0]], np.float32)})


def newest_version_interrupted(env: Env) -> object:
    base = env.copy()  # holds version 00000123; an export of 124 was cut short
    (base / "00000124" / "variables").mkdir(parents=True)
    return _find(base)


def newest_version_dangling_link(env: Env) -> object:
    base = env.copy()
    (base / "00000200").symlink_to(env.tmp / "exports" / "200")
    return _find(base)


def _with_call_timeout(seconds: float, call: Callable[[], object]) -> object:
    import pytest_savedmodel.deadline as deadline

    before = deadline.call_timeout()
    deadline.set_call_timeout(seconds)
    try:
        return call()
    finally:
        deadline.set_call_timeout(before)


def model_that_loops_forever(env: Env) -> object:
    from pytest_savedmodel.runners.raw import RawRunner
    from tests import modelzoo

    path = modelzoo.looping(env.tmp / "looping")
    runner = RawRunner(_find(path), _inspect(path).signature("serving_default"))
    return _with_call_timeout(1.0, lambda: runner.predict({"x": np.array([2.0, -1.0], np.float32)}))


def served_model_that_loops_forever(env: Env) -> object:
    from pytest_savedmodel.runners.grpc import GrpcRunner
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel
    from tests import modelzoo

    ref = _find(modelzoo.looping(env.tmp / "looping"))
    sig = _inspect(ref.path).signature("serving_default")

    def call() -> object:
        with ModelServer.create("emulator", models=[ServedModel("looping", ref.path, 1)],
                                log_dir=env.tmp / "log") as server:
            return GrpcRunner(sig, target=server.grpc_target, model_name="looping").predict(
                {"x": np.array([-1.0], np.float32)})

    return _with_call_timeout(2.0, call)


def huge_declared_input(env: Env) -> object:
    from pytest_savedmodel.sizes import check_sizes
    from tests import modelzoo

    path = modelzoo.huge_input(env.tmp / "huge")
    check_sizes(_inspect(path).signature("serving_default"), bound=64 * 2**20)
    return None


def huge_declared_output(env: Env) -> object:
    from pytest_savedmodel.sizes import check_sizes
    from tests import modelzoo

    path = modelzoo.huge_output(env.tmp / "huge_out")
    check_sizes(_inspect(path).signature("serving_default"), bound=64 * 2**20)
    return None


def _rest(env: Env, body: bytes | str) -> object:
    r = requests.post(f"{env.emulator.rest}/v1/models/default:predict", data=body, timeout=30)
    raise HttpError(r.status_code, r.headers.get("Content-Type", ""), r.text)


def rest_body_not_json(env: Env) -> object:
    return _rest(env, b"instances=1.0&x=2")


def rest_body_deeply_nested(env: Env) -> object:
    return _rest(env, '{"instances": ' + "[" * 500 + "1.0" + "]" * 500 + "}")


def rest_body_over_size_bound(env: Env) -> object:
    return _rest(env, b'{"instances": [' + b"1.0," * (env.emulator.max_request_bytes // 4) + b"1.0]}")


def grpc_message_over_bound(env: Env) -> object:
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from pytest_savedmodel.serving.client import channel
    from pytest_savedmodel.serving.tensorproto import to_proto

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(to_proto(np.zeros(env.emulator.max_request_bytes // 4 + 16, np.float32)))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel(env.emulator.grpc))
    try:
        return stub.Predict(request, timeout=30)
    except grpc.RpcError as exc:
        raise GrpcError(exc.code().name, exc.details() or "") from None


class HttpError(Exception):
    def __init__(self, status: int, content_type: str, body: str) -> None:
        super().__init__(f"HTTP {status} {content_type}: {body[:500]}")


class GrpcError(Exception):
    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details[:500]}")


Row = tuple[Callable[[Env], object], type[BaseException], list[str], float]

TABLE: list[Row] = [
    (missing_path, ModelNotFound, ["no such directory: export/nope", "Directories in ",
                                   "case/export does not exist either"], 5),
    (file_instead_of_dir, ModelNotFound, ["model.h5 is a file, not a directory"], 5),
    (empty_base_dir, ModelNotFound, ["holds no saved_model.pb and no numeric version directories",
                                     "(empty directory)"], 5),
    (version_dirs_without_savedmodel, ModelNotFound, ["version directories under", "(1, 2)",
                                                      "contain no saved_model.pb"], 5),
    (non_numeric_versions_only, ModelNotFound, ["no numeric version directories", "latest/", "v2/"], 5),
    (truncated_saved_model_pb, ModelLoadError, ["saved_model.pb", "truncated"], 10),
    (random_bytes_saved_model_pb, ModelLoadError, ["is not a valid SavedModel protobuf (1024 bytes",
                                                   "re-export the model"], 10),
    (pbtxt_syntax_error, ModelLoadError, ["saved_model.pbtxt is not a valid text SavedModel: 2:25",
                                           "Expected string but found: 'serve'"], 10),
    (missing_variables_dir, ModelLoadError, ["TensorFlow could not load the SavedModel",
                                             "The directory has no variables/ subdirectory: copy it along with "
                                             "saved_model.pb"], 30),
    (truncated_variables_data, ModelLoadError, ["OutOfRangeError: Read less bytes than requested",
                                                "Restoring the variables failed", "is truncated or corrupt",
                                                "variables.data-00000-of-00001 (3 bytes)"], 30),
    (unknown_tag_set, TagSetNotFound, ["has no MetaGraph with tag-set 'gpu,serve'",
                                       "Tag-sets in this SavedModel: serve", "--savedmodel-tags"], 10),
    (unknown_signature, SignatureNotFound, ["signature 'serving_defualt' not found",
                                            "Did you mean 'serving_default'?", "'regress_x_to_y'"], 10),
    (rest_signature_with_no_inputs, UsageError, ["signature 'get_counter' has no inputs, and TF Serving's REST "
                                                 "API cannot call it", "Call it over gRPC"], 10),
    (unsupported_dtype, InvalidArgument, ["dtype variant has no numpy equivalent to draw values from"], 5),
    (corrupt_contract_lock, LockError, ["savedmodel.lock.json:4:1: not valid JSON",
                                        "regenerate it with --savedmodel-update-contract"], 5),
    (lock_edited_to_invalid, LockError, ["models.m.signatures.serving_default.inputs.x.dtype:",
                                         "Did you mean 'float32'?"], 5),
    (lock_for_another_model, LockError, ["has no model 'iris' (it locks: fraud)",
                                         "--savedmodel=fraud=DIR"], 5),
    (marker_unknown_key, UsageError, ["@pytest.mark.savedmodel_signature: ",
                                      "unexpected keyword argument 'input'"], 5),
    (marker_wrong_type, UsageError, ["outputs=['y']: give a dict {tensor name: dtype or (dtype, shape)}"], 5),
    (marker_dtype_typo, UsageError, ["inputs['x']:", "Did you mean 'float32'?"], 5),
    (strategy_range_inverted, InvalidArgument, ["SepalLength: min_value=8.0 is greater than max_value=4.0"], 5),
    (strategy_batch_size_zero, InvalidArgument, ["batch_size=0 must be an int >= 1 or a strategy of ints"], 5),
    (checkpoint_prefix_without_meta, ModelNotFound, ["no model.ckpt.meta, and the meta graph is needed",
                                                     "save_meta_graph=False?", "model.ckpt.index"], 10),
    (frozen_pb_not_a_graphdef, ModelLoadError, ["frozen.pb is not a GraphDef"], 10),
    (tensor_name_not_in_graph, RunnerError, ["output 'logits' is tensor 'logitz:0', which is not in the graph"],
     20),
    (schema_that_does_not_parse, SchemaError, ["schema.pbtxt:3:9: not a valid TFMD schema"], 5),
    (server_binary_not_found, ServerStartError, ["tensorflow_model_server' not found",
                                                 "--savedmodel-server=emulator"], 10),
    (port_already_taken, ServerStartError, ["exit 255", "Failed to start server", "ddress already in use"], 120),
    (server_exits_at_start, ServerStartError, ["exited with status 1 before its models became AVAILABLE",
                                               "--- server log (last lines) ---",
                                               "unknown flag --rest_api_host"], 15),
    (server_never_available, ServerStartError, ["did not make model(s) half AVAILABLE within 1 s",
                                                "still loading the model", "--savedmodel-server-timeout"], 15),
    (server_killed_mid_run, RunnerError, ["UNAVAILABLE", "the server is not answering"], 120),
    (rest_body_not_json, HttpError, ["HTTP 400 application/json", "JSON Parse error"], 10),
    (rest_body_deeply_nested, HttpError, ["HTTP 400 application/json",
                                          "JSON Parse error: nesting deeper than 128 levels"], 10),
    (rest_body_over_size_bound, HttpError, ["HTTP 413 application/json", "bytes is larger than the",
                                            "--max_request_bytes"], 20),
    (grpc_message_over_bound, GrpcError, ["RESOURCE_EXHAUSTED", "larger than max"], 20),
    (newest_version_interrupted, ModelNotFound, ["the newest version under", "is 00000124 (TF Serving serves the "
                                                 "highest numeric child)", "holds no saved_model.pb (contents: "
                                                 "variables/)", "would not fall back to an older one",
                                                 "--savedmodel-version=123"], 5),
    (newest_version_dangling_link, ModelNotFound, ["is 00000200", "is a dangling symlink",
                                                   "200, which does not exist"], 5),
    (model_that_loops_forever, CallTimeout, ["raw path: looping v1 signature 'serving_default' did not answer "
                                             "within 1 s (--savedmodel-timeout) on inputs {'x': [2.0, -1.0]}",
                                             "A model that loops forever"], 20),
    (served_model_that_loops_forever, CallTimeout, ["grpc path: model 'looping' at 127.0.0.1:",
                                                    "did not answer within 2 s (--savedmodel-timeout) on inputs "
                                                    "{'x': [-1.0]}"], 60),
    (huge_declared_input, TooLarge, ["input 'x' declares [-1, 50000000] float32: 200 MB per row, over the 67.1 MB "
                                     "bound", "Nothing was allocated", "--savedmodel-max-input-bytes"], 15),
    (huge_declared_output, TooLarge, ["output 'y' declares [-1, 100000000] float32: 400 MB per row"], 15),
]


def _children() -> set[int]:
    """Live (non-zombie) processes whose parent is this test process."""
    out = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[1] == str(os.getpid()) and fields[0] != "Z":
            out.add(int(stat_file.parent.name))
    return out


def test_the_table_has_every_promised_row() -> None:
    assert len(TABLE) >= 30 and len({row[0].__name__ for row in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("case", "error", "words", "bound_s"), TABLE, ids=[row[0].__name__ for row in TABLE])
def test_malformed_input(case: Callable[[Env], object], error: type[BaseException], words: list[str],
                         bound_s: float, tmp_path: Path, testdata: Path, iris_graphs: dict[str, Path],
                         emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    before = _children()
    env = Env(tmp_path / "case", testdata, iris_graphs, emulator)
    env.tmp.mkdir()
    start = time.monotonic()
    with pytest.raises(error) as info:
        case(env)
    took = time.monotonic() - start
    text = str(info.value)
    missing = [w for w in words if w not in text]
    assert not missing, f"{case.__name__}: {missing} not in:\n{text}"
    assert took < bound_s, f"{case.__name__} took {took:.1f} s (bound {bound_s} s)"
    assert "Traceback (most recent call last)" not in text
    assert list(workdir.iterdir()) == [], "wrote into the working directory"
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children() - before == set(), "a process it started is still running"

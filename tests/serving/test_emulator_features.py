"""The emulator's TF Serving features beyond predict/classify/regress, each through a real emulator process:
every flag of main.cc accepted, gRPC on a UNIX socket, the Prometheus page, .tflite versions, config reload
(file poll and HandleReloadConfigRequest), the profiler and health services. Sources are cited in the modules."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from pytest_savedmodel.serving.launcher import _free_port
from tests.serving.conftest import EMULATOR, emulator_process

pytestmark = pytest.mark.serving

#: every flag name of tensorflow_serving/model_servers/main.cc:88-315 (tensorflow::Flag("...")), with a value
MAIN_CC_FLAGS = [
    "--port=0", "--grpc_socket_path=S", "--rest_api_port=0", "--rest_api_num_threads=2", "--rest_api_timeout_in_ms=9",
    "--rest_api_enable_cors_support=true", "--enable_batching=false", "--allow_version_labels_for_unavailable_models",
    "--batching_parameters_file=", "--enable_per_model_batching_parameters=false", "--model_config_file=",
    "--model_config_file_poll_wait_seconds=0", "--model_name=m", "--model_base_path=/m", "--num_load_threads=2",
    "--num_unload_threads=2", "--max_num_load_retries=0", "--load_retry_interval_micros=1",
    "--file_system_poll_wait_seconds=0", "--flush_filesystem_caches=false", "--tensorflow_session_parallelism=1",
    "--tensorflow_session_config_file=", "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1",
    "--use_alts_credentials=false", "--ssl_config_file=", "--platform_config_file=",
    "--per_process_gpu_memory_fraction=0.5", "--saved_model_tags=serve", "--grpc_channel_arguments=a=1",
    "--grpc_max_threads=4", "--enable_model_warmup=false", "--num_request_iterations_for_warmup=2", "--version=false",
    "--monitoring_config_file=", "--remove_unused_fields_from_bundle_metagraph=true", "--prefer_tflite_model=true",
    "--num_tflite_pools=2", "--num_tflite_interpreters_per_pool=1", "--enable_signature_method_name_check=false",
    "--xla_cpu_compilation_enabled=true", "--xla_gpu_compilation_enabled=false", "--enable_profiler=true",
    "--thread_pool_factory_config_file=", "--mixed_precision=bf16", "--skip_initialize_tpu=true",
    "--enable_grpc_healthcheck_service=true", "--enable_serialization_as_tensor_content=false",
]


def run_quick(*args: str) -> subprocess.CompletedProcess[str]:
    """An emulator that stops before loading TensorFlow (a usage or startup error)."""
    return subprocess.run([*EMULATOR, *args], capture_output=True, text=True, timeout=60)


def lite_model(version_dir: Path, *, signature_defs: dict[str, Any] | None = None) -> Path:
    """half_plus_two as TF Serving's test .tflite has it: input tensor ``x`` [1,1], output ``y``; optionally with
    SignatureDefs stored in ``signature_defs_metadata`` (TFLite's signature_def_util.cc layout)."""
    import tensorflow as tf

    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        x = tf.compat.v1.placeholder(tf.float32, [1, 1], name="x")
        y = tf.add(tf.multiply(x, 0.5), 2.0, name="y")
        data = tf.compat.v1.lite.TFLiteConverter.from_session(sess, [x], [y]).convert()
    if signature_defs is not None:
        from flatbuffers import flexbuffers
        from tensorflow.lite.tools import flatbuffer_utils

        model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
        fbb = flexbuffers.Builder()
        with fbb.Map():
            for key, value in signature_defs.items():
                fbb.Key(key)
                raw = value if isinstance(value, bytes) else value.SerializeToString()
                fbb._WriteBlob(raw, append_zero=True, type_=flexbuffers.Type.STRING)
        buffer = type(model.buffers[0])()
        buffer.data = list(fbb.Finish())
        model.buffers.append(buffer)
        entry = type(model.metadata[0])()
        entry.name, entry.buffer = b"signature_defs_metadata", len(model.buffers) - 1
        model.metadata.append(entry)
        data = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / "model.tflite").write_bytes(data)
    return version_dir.parent


def signature(inputs: dict[str, str], outputs: dict[str, str]) -> Any:
    from tensorflow.core.protobuf import meta_graph_pb2

    sig = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    for side, names in ((sig.inputs, inputs), (sig.outputs, outputs)):
        for alias, name in names.items():
            side[alias].name = name
            side[alias].dtype = 1
    return sig


def config_text(models: dict[str, Path]) -> str:
    entries = "".join(f'  config {{ name: "{n}" base_path: "{p}" model_platform: "tensorflow" }}\n'
                      for n, p in models.items())
    return "model_config_list {\n" + entries + "}\n"


@dataclass
class Features:
    grpc: str
    rest: str
    socket: Path
    config: Path
    models: dict[str, Path]
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def features(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Features]:
    d = tmp_path_factory.mktemp("features")
    models = {"half": testdata.resolve() / "saved_model_half_plus_two_cpu",
              "lite": lite_model(d / "lite" / "00000123"),
              "lite_sig": lite_model(d / "lite_sig" / "7", signature_defs={
                  "serving_default": signature({"in": "x:0"}, {"out": "y:0"})})}
    config = d / "models.config"
    config.write_text(config_text(models))
    monitoring = d / "monitoring.txt"
    monitoring.write_text('prometheus_config { enable: true path: "/metrics" }\n')
    g, r = _free_port(), _free_port()
    sock = d / "g.sock"
    log = d / "server.log"
    ignored = ["--num_load_threads=2", "--flush_filesystem_caches=false", "--num_unload_threads=2",
               "--xla_cpu_compilation_enabled=true", "--enable_model_warmup=false", "--mixed_precision=bf16"]
    with emulator_process([f"--port={g}", f"--rest_api_port={r}", f"--model_config_file={config}",
                           "--model_config_file_poll_wait_seconds=1", "--prefer_tflite_model=true",
                           f"--grpc_socket_path={sock}", f"--monitoring_config_file={monitoring}",
                           "--enable_grpc_healthcheck_service", "--max_num_load_retries=0",
                           "--file_system_poll_wait_seconds=0", *ignored], log, f"127.0.0.1:{g}", list(models)) as proc:
        yield Features(f"127.0.0.1:{g}", f"http://127.0.0.1:{r}", sock, config, models, proc, log)


def predict(target: str, model: str, x: Any, *, alias: str = "x", timeout: float = 10) -> Any:
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from pytest_savedmodel.serving.client import channel
    from pytest_savedmodel.serving.tensorproto import to_proto

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs[alias].CopyFrom(to_proto(np.asarray(x, np.float32) if isinstance(x, list) else x))
    with channel(target) as ch:
        return prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict(request, timeout=timeout)


# ---------------------------------------------------------------------------------------------------- flags
def test_every_flag_of_main_cc_is_accepted() -> None:
    from pytest_savedmodel.serving.emulator.flags import IGNORED, REFUSED, Flags, parse_flags

    flags, unknown = parse_flags(MAIN_CC_FLAGS)
    assert unknown == []
    assert flags.per_process_gpu_memory_fraction == 0.5 and flags.prefer_tflite_model and flags.num_tflite_pools == 2
    names = {a[2:].split("=")[0] for a in MAIN_CC_FLAGS}
    assert set(IGNORED) | set(REFUSED) <= names <= set(Flags.__dataclass_fields__)


def test_accepted_flags_make_no_noise(features: Features) -> None:
    text = features.log.read_text()
    assert "unknown argument" not in text and "usage:" not in text
    assert f"Running gRPC ModelServer at UNIX socket {features.socket} ..." in text


def test_unknown_argument_is_reported_with_the_usage_and_startup_goes_on() -> None:
    """main.cc:333-335: "unknown argument: <first>" and the usage on stdout; the server still starts (here it then
    stops on --port=0 without a socket, main.cc's BuildAndStart check)."""
    out = run_quick("--no_such_flag=1", "--port=0")
    assert out.returncode == 255
    assert out.stdout.startswith("unknown argument: --no_such_flag=1\nusage: python -m pytest_savedmodel")
    assert "--prefer_tflite_model=False" in out.stdout
    assert "Failed to start server. Error: At least one of server_options.grpc_port or " \
           "server_options.grpc_socket_path must be set." in out.stdout


def test_bad_value_and_help_print_the_usage_and_exit_255() -> None:
    out = run_quick("--port=abc")
    assert (out.returncode, out.stderr.strip()) == (255, "Couldn't interpret value abc for flag port.")
    assert out.stdout.startswith("usage:")
    out = run_quick("--help")
    assert out.returncode == 255 and "--grpc_socket_path=''" in out.stdout
    assert "(emulator: accepted, ignored: the emulator runs on CPU)" in out.stdout


def test_the_three_parallelism_flags_together_are_refused_as_tf_serving_does() -> None:
    """server.cc:256-263: session parallelism, or intra- and inter-op separately, not all three."""
    out = run_quick("--model_base_path=/m", "--tensorflow_session_parallelism=2",
                    "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1")
    assert out.returncode == 255
    assert out.stdout.strip() == (
        "Failed to start server. Error: Either configure server_options.tensorflow_session_parallelism or "
        "(server_options.tensorflow_intra_op_parallelism, server_options.tensorflow_inter_op_parallelism) "
        "separately. You cannot configure all.")


@pytest.mark.parametrize(("threads", "intra", "inter"), [((0, 0), 0, 0), ((1, 2), 1, 2)])
def test_each_session_gets_the_thread_counts(testdata: Path, threads: tuple[int, int], intra: int,
                                             inter: int) -> None:
    from pytest_savedmodel.serving.emulator.servables import Servable

    servable = Servable("half", 123, testdata / "saved_model_half_plus_two_cpu" / "00000123", ["serve"], threads)
    config = servable.session._config
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (intra, inter)
    servable.close()


def test_tls_flags_are_refused_with_the_reason() -> None:
    out = run_quick("--ssl_config_file=/etc/ssl.conf", "--model_base_path=/m")
    assert out.returncode == 255
    assert out.stdout.strip() == ("Failed to start server. Error: --ssl_config_file is not supported by the emulator: "
                                  "the emulator serves plaintext gRPC on loopback only; TLS is not available")
    out = run_quick("--use_alts_credentials", "--model_base_path=/m")
    assert "--use_alts_credentials is not supported by the emulator: the emulator serves plaintext gRPC on " \
           "loopback only; ALTS is not available" in out.stdout
    out = run_quick("--use_alts_credentials", "--ssl_config_file=/x", "--model_base_path=/m")
    assert "Error: Either use_alts_credentials must be false or ssl_config_file must be empty." in out.stdout


# ---------------------------------------------------------------------------------------------------- UDS
def test_grpc_on_the_unix_socket_through_our_runner_and_url_mode(features: Features, testdata: Path,
                                                                  tmp_path: Path) -> None:
    from pytest_savedmodel.locate import find_model
    from pytest_savedmodel.runners.grpc import GrpcRunner
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel
    from pytest_savedmodel.signatures import inspect_model

    sig = inspect_model(find_model(testdata / "saved_model_half_plus_two_cpu")).signature("serving_default")
    with GrpcRunner(sig, target=f"unix:{features.socket}", model_name="half") as runner:
        assert runner.predict({"x": np.array([[2.0]], np.float32)})["y"].tolist() == [[3.0]]
    served = ServedModel("half", testdata / "saved_model_half_plus_two_cpu" / "00000123", 123)
    with ModelServer.create(f"url:unix:{features.socket},{features.rest}", models=[served], log_dir=tmp_path) as s:
        assert s.grpc_target == f"unix:{features.socket}" and s.alive()


def test_url_mode_names_the_unix_form_when_misused() -> None:
    from pytest_savedmodel.errors import UsageError
    from pytest_savedmodel.serving.launcher import parse_mode

    assert parse_mode("url:unix:/tmp/s.sock,http://127.0.0.1:8501") == ("url", "unix:/tmp/s.sock,http://127.0.0.1:8501")
    with pytest.raises(UsageError, match=re.escape("or url:unix:/tmp/tfs.sock,http://localhost:8501")):
        parse_mode("url:unix:/tmp/s.sock")


def test_socket_only_server_removes_its_socket_at_exit(testdata: Path, tmp_path: Path) -> None:
    sock, log = tmp_path / "only.sock", tmp_path / "server.log"
    with emulator_process(["--port=0", f"--grpc_socket_path={sock}", "--model_name=half",
                           f"--model_base_path={testdata.resolve() / 'saved_model_half_plus_two_cpu'}",
                           "--enable_profiler=false"], log, f"unix:{sock}", ["half"]) as proc:
        assert predict(f"unix:{sock}", "half", [[2.0]]).outputs["y"].float_val == [3.0]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert not sock.exists()


def test_a_socket_path_that_cannot_be_bound_says_so(tmp_path: Path) -> None:
    from pytest_savedmodel.serving.emulator.grpc_service import start_grpc_server

    bad = tmp_path / "missing-dir" / "g.sock"
    with pytest.raises(OSError, match=f"could not bind gRPC to the UNIX socket {bad}"):
        start_grpc_server(None, host="127.0.0.1", port=0, max_message_bytes=1024,  # type: ignore[arg-type]
                          socket_path=str(bad))


# ---------------------------------------------------------------------------------------------------- monitoring
def test_prometheus_page_counts_and_times_requests(features: Features) -> None:
    predict(features.grpc, "half", [[2.0]])
    assert requests.post(f"{features.rest}/v1/models/half:predict", json={"instances": [[1.0]]}, timeout=10).ok
    with pytest.raises(Exception, match="Servable not found"):
        predict(features.grpc, "nope", [[2.0]])
    page = requests.get(f"{features.rest}/metrics", timeout=10)
    assert page.headers["Content-Type"] == "text/plain"
    text = page.text
    for line in ("# TYPE :tensorflow:serving:request_count counter",
                 "# TYPE :tensorflow:serving:request_latency histogram",
                 "# TYPE :tensorflow:serving:runtime_latency histogram",
                 '{model_name="nope",status="NOT_FOUND"} 1'):
        assert line in text
    assert ':tensorflow:serving:request_latency_bucket{model_name="half",API="Predict",entrypoint="GRPC",le="10"}' \
           in text
    assert ':tensorflow:serving:request_latency_count{model_name="half",API="predict",entrypoint="REST"} 1' in text
    assert ':tensorflow:serving:runtime_latency_bucket{model_name="half",API="Predict",runtime="TF1",le="+Inf"}' \
           in text
    assert requests.get(f"{features.rest}/monitoring/prometheus/metrics", timeout=10).status_code == 404


def test_histogram_buckets_and_page_format() -> None:
    from pytest_savedmodel.serving.emulator.metrics import Registry

    reg = Registry()
    reg.request_latency('m"1', "Predict", "GRPC", 11)
    reg.request_latency('m"1', "Predict", "GRPC", 5e9)
    reg.examples("m", 3)
    lines = reg.page().splitlines()
    assert lines[0] == "# TYPE :tensorflow:serving:request_count counter"
    assert ':tensorflow:serving:request_latency_bucket{model_name="m\\"1",API="Predict",entrypoint="GRPC",le="10"} 0' \
           in lines
    assert ':tensorflow:serving:request_latency_bucket{model_name="m\\"1",API="Predict",entrypoint="GRPC",le="18"} 1' \
           in lines
    assert ':tensorflow:serving:request_latency_bucket{model_name="m\\"1",API="Predict",entrypoint="GRPC",' \
           'le="+Inf"} 2' in lines
    assert ':tensorflow:serving:request_latency_sum{model_name="m\\"1",API="Predict",entrypoint="GRPC"} 5e+09' \
           in lines
    assert ':tensorflow:serving:request_example_count_total{model="m"} 3' in lines


def test_monitoring_config_errors_use_tf_servings_words(tmp_path: Path) -> None:
    from pytest_savedmodel.serving.emulator.metrics import monitoring_path
    from pytest_savedmodel.serving.emulator.status import ServingError

    with pytest.raises(ServingError, match=f"^NOT_FOUND: {tmp_path}/none; No such file or directory$"):
        monitoring_path(str(tmp_path / "none"))
    bad = tmp_path / "bad.txt"
    bad.write_text("prometheus_config { enable: maybe }")
    with pytest.raises(ServingError, match=f"^INVALID_ARGUMENT: Invalid protobuf file: '{bad}'$"):
        monitoring_path(str(bad))
    off = tmp_path / "off.txt"
    off.write_text("prometheus_config { enable: false }")
    assert monitoring_path(str(off)) is None


# ---------------------------------------------------------------------------------------------------- tflite
def test_tflite_version_predicts_with_the_generated_signature(features: Features) -> None:
    response = predict(features.grpc, "lite", np.array([2.0], np.float32))
    assert response.outputs["y"].float_val == [3.0] and response.model_spec.version.value == 123
    assert response.model_spec.signature_name == "serving_default"
    body = requests.get(f"{features.rest}/v1/models/lite/metadata", timeout=10).json()
    sig = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict" and sig["inputs"]["x"]["name"] == "x"


def test_tflite_version_with_stored_signature_defs(features: Features) -> None:
    response = predict(features.grpc, "lite_sig", np.array([[4.0]], np.float32), alias="in")
    assert response.outputs["out"].float_val == [4.0] and response.model_spec.version.value == 7


def test_tflite_refuses_a_request_of_another_dtype(features: Features) -> None:
    with pytest.raises(Exception) as info:
        predict(features.grpc, "lite", np.array([2.0], np.float64))
    assert info.value.code().name == "INVALID_ARGUMENT"  # type: ignore[attr-defined]
    assert info.value.details() == ("Input tensor x of the TFLite model is float32, the request's is float64 "  # type: ignore[attr-defined]
                                    "(the emulator does not copy bytes across dtypes)")


def test_tflite_load_errors_use_tf_servings_words(tmp_path: Path) -> None:
    from pytest_savedmodel.serving.emulator.status import ServingError
    from pytest_savedmodel.serving.emulator.tflite_servable import TfLiteServable

    junk = tmp_path / "junk" / "1"
    junk.mkdir(parents=True)
    (junk / "model.tflite").write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ServingError, match=r"^INVALID_ARGUMENT: Cannot build FlatBufferModel from buffer\.$"):
        TfLiteServable("junk", 1, junk)
    wrong = lite_model(tmp_path / "wrong" / "1", signature_defs={"s": signature({"in": "nope:0"}, {"out": "y:0"})})
    with pytest.raises(ServingError) as info:
        TfLiteServable("wrong", 1, wrong / "1")
    assert info.value.message == "Unknown tensor 'nope:0'.\n\tSignature input in references an unknown tensor"
    garbled = lite_model(tmp_path / "garbled" / "1", signature_defs={"s": b"\xff\xff\xff"})
    with pytest.raises(ServingError, match=r"^INTERNAL: Cannot parse signature def found in flatbuffer\.$"):
        TfLiteServable("garbled", 1, garbled / "1")


# ---------------------------------------------------------------------------------------------------- reload
def _reload(target: str, config_text_: str) -> Any:
    from google.protobuf import text_format
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    from pytest_savedmodel.serving.client import channel

    request = model_management_pb2.ReloadConfigRequest(metric_names=["/tensorflow/serving/request_count"])
    text_format.Parse(config_text_, request.config)
    with channel(target) as ch:
        stub = model_service_pb2_grpc.ModelServiceStub(ch)
        return stub.HandleReloadConfigRequest(request, timeout=60)


def _states(target: str, name: str) -> list[tuple[int, str, str]]:
    from pytest_savedmodel.serving.client import model_versions

    try:
        return model_versions(target, name, timeout=5)
    except Exception:
        return []


def test_config_file_poll_adds_and_removes_models(features: Features, testdata: Path) -> None:
    three = {**features.models, "three": testdata.resolve() / "saved_model_half_plus_three"}
    features.config.write_text(config_text(three))
    deadline = time.monotonic() + 30
    while ("AVAILABLE" not in [s for _, s, _ in _states(features.grpc, "three")]) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert predict(features.grpc, "three", np.array([2.0], np.float32)).outputs["y"].float_val == [4.0]
    features.config.write_text(config_text(features.models))
    while _states(features.grpc, "three") != [(123, "END", "")] and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _states(features.grpc, "three") == [(123, "END", "")]
    with pytest.raises(Exception, match=r"Servable not found for request: Latest\(three\)"):
        predict(features.grpc, "three", np.array([2.0], np.float32))
    features.config.write_text("model_config_list { config { name: ")
    time.sleep(1.5)
    assert "Failed to read ModelServerConfig file: Invalid protobuf file:" in features.log.read_text()
    features.config.write_text(config_text(features.models))


def test_handle_reload_config_request(features: Features, testdata: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    (broken / "1").mkdir(parents=True)
    with_broken = config_text({**features.models, "broken": broken})
    from grpc import RpcError

    with pytest.raises(RpcError) as info:
        _reload(features.grpc, with_broken)
    assert info.value.code().name == "UNKNOWN"  # type: ignore[attr-defined]
    assert info.value.details().startswith(  # type: ignore[attr-defined]
        "1 model(s) did not become available: {{{name: broken version: 1} due to error: ")
    assert info.value.details().endswith("/broken/1/{saved_model.pbtxt|saved_model.pb}}, }")  # type: ignore[attr-defined]
    response = _reload(features.grpc, config_text(features.models))
    assert response.status.error_code == 0 and response.metric[0].name == "/tensorflow/serving/request_count"
    assert [s for _, s, _ in _states(features.grpc, "half")] == ["AVAILABLE"]
    with pytest.raises(RpcError) as info:
        _reload(features.grpc, "custom_model_config { }")
    assert info.value.details() == ("ServerModelConfig type not supported by HandleReloadConfigRequest. Only "  # type: ignore[attr-defined]
                                    "ModelConfigList is currently supported")


# ---------------------------------------------------------------------------------------------------- profiler, health
def test_profiler_trace_writes_a_real_trace(features: Features, tmp_path: Path) -> None:
    from tensorflow.tsl.profiler.protobuf import profiler_options_pb2

    from pytest_savedmodel.serving.client import channel
    from pytest_savedmodel.serving.emulator.protos import messages

    m = messages()
    opts = profiler_options_pb2.ProfileOptions(duration_ms=400, host_tracer_level=2)
    request = m["tensorflow.ProfileRequest"](opts=opts.SerializeToString(), repository_root=str(tmp_path),
                                             session_id="run1", host_name="emu")
    with channel(features.grpc) as ch:
        call = ch.unary_unary("/tensorflow.ProfilerService/Profile", request_serializer=lambda r: r.SerializeToString(),
                              response_deserializer=m["tensorflow.ProfileResponse"].FromString)
        future = call.future(request, timeout=30)
        for _ in range(4):
            predict(features.grpc, "half", [[2.0]])
            time.sleep(0.05)
        response = future.result()
        monitor = ch.unary_unary("/tensorflow.ProfilerService/Monitor",
                                 request_serializer=lambda r: r.SerializeToString(),
                                 response_deserializer=m["tensorflow.MonitorResponse"].FromString)
        with pytest.raises(Exception) as info:
            monitor(m["tensorflow.MonitorRequest"](), timeout=10)
    assert response.empty_trace is False
    assert (tmp_path / "run1" / "emu.xplane.pb").stat().st_size > 100
    assert (info.value.code().name, info.value.details()) == ("UNIMPLEMENTED", "unimplemented.")  # type: ignore[attr-defined]


def test_health_service(features: Features) -> None:
    from pytest_savedmodel.serving.client import channel
    from pytest_savedmodel.serving.emulator.protos import messages

    m = messages()
    with channel(features.grpc) as ch:
        check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda r: r.SerializeToString(),
                               response_deserializer=m["grpc.health.v1.HealthCheckResponse"].FromString)
        assert check(m["grpc.health.v1.HealthCheckRequest"](service="PredictionService"), timeout=10).status == 1
        with pytest.raises(Exception) as info:
            check(m["grpc.health.v1.HealthCheckRequest"](service="Nope"), timeout=10)
    assert (info.value.code().name, info.value.details()) == ("NOT_FOUND", "service name unknown")  # type: ignore[attr-defined]

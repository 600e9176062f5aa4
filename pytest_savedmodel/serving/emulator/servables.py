"""Model configs, version policies and loaded servables, following TF Serving's ServerCore.

* Every child of a base path whose name parses as an int64 is a version
  (``00000123`` is 123); other names are ignored; the first of two names with
  the same number wins.
* Policies: ``latest {num_versions}`` (default 1), ``all {}``, ``specific {versions}``.
* Each aspired version is loaded with the TF1 session loader into its own Graph
  and Session; a failed load is retried ``max_num_load_retries`` times and then
  stays visible as END with its error, as GetModelStatus shows it.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pytest_savedmodel.heap import settle
from pytest_savedmodel.serving.emulator.status import CODE_NAMES, ServingError, from_tf_error

#: The session-run timeout of the request being answered, in ms (0: none). gRPC sets it from the client's
#: deadline and REST from --rest_api_timeout_in_ms, as TF Serving does; the run then ends with DEADLINE_EXCEEDED.
RUN_TIMEOUT_MS: contextvars.ContextVar[int] = contextvars.ContextVar("run_timeout_ms", default=0)

__all__ = ["RUN_TIMEOUT_MS", "Loaded", "ModelConfig", "ModelManager", "Servable", "VersionState", "configs_from_file",
           "configs_from_proto"]

log = logging.getLogger("tfs-emulator")

START, LOADING, AVAILABLE, UNLOADING, END = 10, 20, 30, 40, 50


@dataclass
class ModelConfig:
    """One entry of a ModelServerConfig."""

    name: str
    base_path: str
    policy: tuple[str, Any] = ("latest", 1)
    labels: dict[str, int] = field(default_factory=dict)
    platform: str = "tensorflow"


def configs_from_file(path: str) -> list[ModelConfig]:
    """Read a text-format ModelServerConfig; TF Serving's wording on failure."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    try:
        text = Path(path).read_text()
        proto = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except (OSError, text_format.ParseError) as exc:
        log.error("Error parsing text-format tensorflow.serving.ModelServerConfig: %s", exc)
        raise ServingError("INVALID_ARGUMENT", f"Invalid protobuf file: '{path}'") from None
    if proto.WhichOneof("config") != "model_config_list":
        raise ServingError("INVALID_ARGUMENT", "ServerModelConfig type not supported: only model_config_list is")
    return configs_from_proto(proto)


def configs_from_proto(proto: Any) -> list[ModelConfig]:
    """The model_config_list entries of a ModelServerConfig message."""
    configs = []
    for c in proto.model_config_list.config:
        kind = c.model_version_policy.WhichOneof("policy_choice")
        policy: tuple[str, Any] = ("latest", 1)
        if kind == "latest":
            policy = ("latest", c.model_version_policy.latest.num_versions or 1)
        elif kind == "all":
            policy = ("all", None)
        elif kind == "specific":
            policy = ("specific", frozenset(c.model_version_policy.specific.versions))
        configs.append(ModelConfig(c.name, c.base_path, policy, dict(c.version_labels), c.model_platform or
                                   "tensorflow"))
    return configs


def validate_configs(configs: list[ModelConfig]) -> None:
    """Unique names, absolute base paths, the tensorflow platform."""
    seen: set[str] = set()
    for c in configs:
        if c.name in seen:
            raise ServingError("INVALID_ARGUMENT", f"Illegal to list model {c.name} multiple times in config list")
        seen.add(c.name)
        if not (c.base_path.startswith("/") or "://" in c.base_path):
            raise ServingError("INVALID_ARGUMENT", f"Expected model {c.name} to have an absolute path or URI; got "
                                                   f"base_path()={c.base_path}")
        if c.platform != "tensorflow":
            raise ServingError("INVALID_ARGUMENT", f"Model {c.name} requests unsupported platform {c.platform}")


class Loaded(Protocol):
    """What a loaded version offers the request handlers: a SavedModel :class:`Servable` or a TFLite one."""

    name: str
    version: int
    meta_graph_def: Any

    def signature_def(self, name: str) -> Any | None: ...

    def run(self, feeds: dict[str, Any], fetches: list[str]) -> list[Any]: ...

    def close(self) -> None: ...


@dataclass
class VersionState:
    """What GetModelStatus reports for one version."""

    version: int
    state: int = START
    error_code: int = 0
    error_message: str = ""


class Servable:
    """One loaded version: its Graph, Session and MetaGraphDef."""

    def __init__(self, name: str, version: int, path: Path, tags: list[str], threads: tuple[int, int] = (0, 0)) -> None:
        from pytest_savedmodel._lazy import import_tf

        tf = import_tf()
        self.name, self.version, self.path = name, version, path
        self.graph = tf.Graph()
        intra, inter = threads  # the session's thread pools (server.cc:256-279); 0: TensorFlow chooses
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=intra, inter_op_parallelism_threads=inter)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        with self.graph.as_default():
            self.meta_graph_def = tf.compat.v1.saved_model.loader.load(self.session, tags, str(path))
        self._outputs: dict[str, Any] = {}
        self.lock = threading.Lock()

    def signature_def(self, name: str) -> Any | None:
        return self.meta_graph_def.signature_def.get(name) if name in self.meta_graph_def.signature_def else None

    def run(self, feeds: dict[str, Any], fetches: list[str]) -> list[Any]:
        """Feed tensors as the C++ server does: no static-shape checks, no dtype casts."""
        try:
            feed_map = {self._output(n): v for n, v in feeds.items()}
            fetch_list = [self._output(n) for n in fetches]
        except (KeyError, ValueError) as exc:
            raise ServingError("INVALID_ARGUMENT", str(exc)) from None
        import tensorflow as tf
        from tensorflow.python.client import pywrap_tf_session

        options = None
        timeout_ms = RUN_TIMEOUT_MS.get()
        if timeout_ms > 0:  # TF Serving: RunOptions.timeout_in_ms from the gRPC deadline or --rest_api_timeout_in_ms
            from tensorflow.core.protobuf import config_pb2

            options = pywrap_tf_session.TF_NewBufferFromString(
                config_pb2.RunOptions(timeout_in_ms=timeout_ms).SerializeToString())
        try:
            return list(self.session._call_tf_sessionrun(options, feed_map, fetch_list, [], None))
        except tf.errors.OpError as exc:
            raise from_tf_error(exc) from None
        finally:
            if options is not None:
                pywrap_tf_session.TF_DeleteBuffer(options)

    def _output(self, name: str) -> Any:
        """The graph tensor ``name`` as a TF_Output, looked up once per name."""
        out = self._outputs.get(name)
        if out is None:
            out = self._outputs[name] = self.graph.get_tensor_by_name(name)._as_tf_output()
        return out

    def close(self) -> None:
        self.session.close()


def _versions_on_disk(base: str, name: str) -> dict[int, Path]:
    root = Path(base)
    if not root.is_dir():
        log.error("Could not find base path %s for servable %s", base, name)
        return {}
    found: dict[int, Path] = {}
    for child in sorted(root.iterdir()):
        if child.name.isdigit() and child.is_dir() and int(child.name) < 2**63:
            v = int(child.name)
            if v in found:
                log.warning("Multiple versions found for %s version %d; ignoring %s", name, v, child)
                continue
            found[v] = child
    if not found:
        log.warning("No versions of servable %s found under base path %s. Did you forget to name your leaf "
                    "directory as a number (eg. '/1/')?", name, base)
    return found


class ModelManager:
    """Loads aspired versions and answers which servable a request means."""

    def __init__(self, configs: list[ModelConfig], *, tags: list[str], max_retries: int = 5,
                 retry_interval_s: float = 60.0, prefer_tflite: bool = False, tflite_pools: int = 1,
                 allow_unavailable_labels: bool = False, threads: tuple[int, int] = (0, 0)) -> None:
        self.configs = {c.name: c for c in configs}
        self.tags = tags
        self.max_retries = max_retries
        self.retry_interval_s = retry_interval_s
        self.prefer_tflite, self.tflite_pools = prefer_tflite, tflite_pools
        self.allow_unavailable_labels = allow_unavailable_labels
        self.threads = threads  # (intra-op, inter-op) threads of each session
        self.servables: dict[tuple[str, int], Loaded] = {}
        self.states: dict[str, dict[int, VersionState]] = {c.name: {} for c in configs}
        self.lock = threading.RLock()
        self.poll_lock = threading.RLock()  # one poll or reload at a time

    def aspired(self, config: ModelConfig) -> dict[int, Path]:
        on_disk = _versions_on_disk(config.base_path, config.name)
        kind, arg = config.policy
        if kind == "all":
            return on_disk
        if kind == "specific":
            return {v: p for v, p in on_disk.items() if v in arg}
        return {v: on_disk[v] for v in sorted(on_disk)[-int(arg):]}

    def _load(self, name: str, version: int, path: Path) -> None:
        state = self.states[name].setdefault(version, VersionState(version))
        state.state = LOADING
        for attempt in range(self.max_retries + 1):
            try:
                servable = self._open(name, version, path)
            except Exception as exc:  # TF raises many kinds; all end the load the same way
                err = exc if isinstance(exc, ServingError) else from_tf_error(exc) if hasattr(
                    exc, "error_code") else ServingError("UNKNOWN", str(exc))
                log.error("Loading servable: {name: %s version: %d} failed: %s", name, version, err.message)
                if attempt < self.max_retries:
                    time.sleep(self.retry_interval_s)
                    continue
                state.state, state.error_code, state.error_message = END, _code_number(err.code), err.message
                return
            with self.lock:
                self.servables[(name, version)] = servable
                state.state, state.error_code, state.error_message = AVAILABLE, 0, ""
            log.info("Successfully loaded servable version {name: %s version: %d}", name, version)
            settle()  # requests then parse without full collections over TensorFlow's objects (heap.py)
            return

    def _open(self, name: str, version: int, path: Path) -> Loaded:
        """saved_model_bundle_factory.cc:132: model.tflite when preferred and present, else the SavedModel."""
        if self.prefer_tflite:
            from pytest_savedmodel.serving.emulator.tflite_servable import TfLiteServable, has_tflite

            if has_tflite(path):
                return TfLiteServable(name, version, path, self.tflite_pools)
        return Servable(name, version, path, self.tags, self.threads)

    def _unload(self, name: str, version: int) -> None:
        """Take the version out of service. Requests that resolved it before still run on it: TF Serving's
        handles keep a servable alive until the last one is released, so no request in flight fails during a
        version switch. Here the handle is the Python reference a request holds; its session closes when the last
        one goes (CPython frees it then; closing it here cancelled in-flight runs: "Run call was cancelled")."""
        with self.lock:
            self.servables.pop((name, version))
        self.states[name][version].state = END
        log.info("Unloaded servable version {name: %s version: %d}", name, version)

    def poll(self) -> None:
        """Bring loaded versions in line with the aspired ones: load new versions first, then unload the ones no
        longer aspired, but only once an aspired version is AVAILABLE (TF Serving's availability-preserving
        policy), or when the model has no aspired version left."""
        with self.poll_lock:
            for config in list(self.configs.values()):
                want = self.aspired(config)
                for version, path in sorted(want.items()):
                    st = self.states[config.name].get(version)
                    if st is None or (st.state == END and not st.error_message and (config.name, version) not in
                                      self.servables):
                        self._load(config.name, version, path)
                serving = any((config.name, v) in self.servables for v in want)
                for (name, version) in list(self.servables):
                    if name == config.name and version not in want and (serving or not want):
                        self._unload(name, version)

    def reload(self, configs: list[ModelConfig], *, wait_s: float = 1.0) -> None:
        """ServerCore::ReloadConfig (server_core.cc:480-560): validate, apply the new list exactly (models not in
        it are unloaded, their versions END), then wait until every newly added model is AVAILABLE."""
        validate_configs(configs)  # every platform is "tensorflow" (so none can change, server_core.cc:157-181)
        with self.poll_lock:
            self.check_labels(configs)
            added = [c.name for c in configs if c.name not in self.configs]
            removed = [n for n in self.configs if n not in {c.name for c in configs}]
            with self.lock:
                self.configs = {c.name: c for c in configs}
                for c in configs:
                    self.states.setdefault(c.name, {})
            for name in removed:
                for (n, version) in list(self.servables):
                    if n == name:
                        self._unload(n, version)
            self.poll()
        while True:  # WaitUntilModelsAvailable (server_core.cc:328-364): new models only
            failed = [(n, v, s) for n in added for v, s in self.states.get(n, {}).items()
                      if s.state == END and s.error_message]
            if failed:
                detail = "".join(f"{{{{name: {n} version: {v}}} due to error: {CODE_NAMES.get(s.error_code)}: "
                                 f"{s.error_message}}}, " for n, v, s in failed)
                raise ServingError("UNKNOWN", f"{len(failed)} model(s) did not become available: {{{detail}}}")
            if all(any((n, v) in self.servables for v in self.states.get(n, {})) for n in added):
                return
            time.sleep(wait_s)
            self.poll()

    def check_labels(self, configs: list[ModelConfig]) -> None:
        """UpdateModelVersionLabelMap (server_core.cc:560-600): a label may only name an AVAILABLE version, unless
        --allow_version_labels_for_unavailable_models (and then not re-point a label already in use)."""
        for c in configs:
            old = self.configs.get(c.name)
            for label, version in c.labels.items():
                state = self.states.get(c.name, {}).get(version)
                repointed = old is not None and label in old.labels and old.labels[label] != version
                if (state is None or state.state != AVAILABLE) and (repointed or not self.allow_unavailable_labels):
                    raise ServingError("FAILED_PRECONDITION", f"Request to assign label to version {version} of "
                                                              f"model {c.name}, which is not currently available "
                                                              f"for inference")

    def failures(self) -> list[tuple[str, int, str]]:
        return [(n, v, s.error_message) for n, vs in self.states.items() for v, s in vs.items()
                if s.state == END and s.error_message]

    def all_available(self) -> bool:
        for config in self.configs.values():
            states = self.states[config.name]
            if not states or any(s.state != AVAILABLE for s in states.values() if not s.error_message):
                return False
        return True

    def resolve(self, model_spec: Any, *, has_spec: bool = True) -> Loaded:
        """The servable a request's ModelSpec names, with TF Serving's error wording."""
        if not has_spec:
            raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
        name = model_spec.name
        if not name:
            raise ServingError("INVALID_ARGUMENT", "ModelSpec has no name specified.")
        with self.lock:
            loaded = sorted(v for (n, v) in self.servables if n == name)
            choice = model_spec.WhichOneof("version_choice")
            if choice == "version":
                version = model_spec.version.value
                if version not in loaded:
                    raise ServingError("NOT_FOUND", f"Servable not found for request: Specific({name}, {version})")
                return self.servables[(name, version)]
            if choice == "version_label":
                label = model_spec.version_label
                config = self.configs.get(name)
                if config is None or label not in config.labels:
                    raise ServingError("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
                version = config.labels[label]
                if version not in loaded:
                    raise ServingError("NOT_FOUND", f"Servable not found for request: Specific({name}, {version})")
                return self.servables[(name, version)]
            if not loaded:
                raise ServingError("NOT_FOUND", f"Servable not found for request: Latest({name})")
            return self.servables[(name, loaded[-1])]

    def close(self) -> None:
        with self.lock:
            for s in self.servables.values():
                s.close()
            self.servables.clear()


def _code_number(code: str) -> int:
    from pytest_savedmodel.serving.emulator.status import CODE_NUMBERS

    return CODE_NUMBERS.get(code, 2)

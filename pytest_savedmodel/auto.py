"""The zero-code suite: which checks to run for the models a user named. No pytest here.

:class:`AutoSuite` turns :class:`~pytest_savedmodel.config.Settings` into a
list of :class:`PlannedCheck` (an id path and a callable). The pytest layer
wraps each in an item; a notebook or script can run them directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_savedmodel import checks as C
from pytest_savedmodel.compare import Tolerance
from pytest_savedmodel.config import ModelArg, Settings
from pytest_savedmodel.drift import RULES
from pytest_savedmodel.errors import (
    EnvironmentProblem,
    MissingExtra,
    ParityMismatch,
    RunnerError,
    SavedModelError,
    UsageError,
)
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.spec import Features, ModelRef, ModelSpec, SignatureSpec

__all__ = ["AutoSuite", "Export", "PlannedCheck"]


@dataclass
class Export:
    """One exported artifact of a model: the anchor SavedModel or its parsing twin."""

    model: str
    role: str  # "savedmodel" | "parsing"
    arg: ModelArg
    ref: ModelRef | None = None
    spec: ModelSpec | None = None
    error: SavedModelError | None = None

    @property
    def collector(self) -> str:
        return f"savedmodel:{self.model}" if self.role == "savedmodel" else f"savedmodel:{self.model}:{self.role}"

    @property
    def label(self) -> str:
        return self.ref.label() if self.ref else self.model


@dataclass(frozen=True)
class PlannedCheck:
    """One generated test: where it sits (collector, path) and what it runs."""

    collector: str
    path: tuple[str, ...]
    check: str
    run: Callable[..., None] = field(compare=False)  # run(stats), or run(stats, fixture value) with ``fixture``
    info: dict[str, Any] = field(default_factory=dict, compare=False)
    fixture: str | None = None  # a pytest fixture the check needs (the user's reference model)

    @property
    def nodeid(self) -> str:
        return "::".join((self.collector, *self.path))


RULES_TEXT = {k: v[1] for k, v in RULES.items()}


def _example_method(sig: SignatureSpec) -> str | None:
    """``classify``/``regress`` when TF Serving's Classify/Regress APIs can call ``sig`` (by structure)."""
    if sig.parse_spec is None or set(sig.inputs) != {"inputs"}:
        return None
    outs = set(sig.outputs)
    if outs and outs <= {"classes", "scores"}:
        return "classify"
    if outs == {"outputs"}:
        return "regress"
    return None


def _takes_dense_tensors(sig: SignatureSpec) -> bool:
    """A raw signature fed dense tensors: what graph paths (checkpoint, frozen, freeze) and the reference can run."""
    return sig.parse_spec is None and bool(sig.inputs) and all(t.encoding == "dense" for t in sig.inputs.values())


class AutoSuite:
    """Plans and runs the automatic checks for the models in ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tolerance = Tolerance(settings.rtol, settings.atol)
        self._runners: dict[tuple[str, str, str], Runner] = {}
        self._server: Any = None
        self._server_error: BaseException | None = None
        self._server_dir: str | None = None
        self.database: Any = None  # Hypothesis example database; the plugin puts it under pytest's cache
        self.hypothesis_home: Any = None  # where Hypothesis may write; never the user's working directory
        self.counterexample_dir: Any = None  # --savedmodel-counterexamples, else pytest's cache, else a temp dir
        self._own_home: str | None = None
        self._shapes: dict[tuple[str, str], dict[str, tuple[int | None, ...]]] = {}
        self.exports = self._locate()
        self._planned: list[PlannedCheck] | None = None
        self.baselines: dict[str, Export] = {}  # model name -> the production model it is compared with
        for arg in settings.baselines:
            self._baseline_export(arg)
        self.schema: Any = None
        if settings.schema is not None:
            from pytest_savedmodel.schema import read_schema

            try:
                self.schema = read_schema(settings.schema)
            except (EnvironmentProblem, MissingExtra) as exc:
                raise UsageError(str(exc)) from None

    # ------------------------------------------------------------------ locating
    def _locate(self) -> list[Export]:
        s = self.settings
        exports: list[Export] = []
        names: set[str] = set()
        for arg in s.models:
            exports.append(self._export(arg, "savedmodel", None))
            if exports[-1].model in names:
                raise UsageError(f"--savedmodel: two models are named {exports[-1].model!r}; name them with "
                                 f"NAME=DIR, e.g. --savedmodel=prod={arg.path}")
            names.add(exports[-1].model)
        first = exports[0].model if exports else None
        for arg in s.parsing:
            owner = arg.name or first
            if owner is None:
                owner = None  # a parsing export alone is gated as a model of its own
            elif arg.name and arg.name not in names:
                raise UsageError(f"--savedmodel-parsing={arg.name}={arg.path}: no --savedmodel named {arg.name!r}; "
                                 f"models: {', '.join(sorted(names)) or '(none)'}")
            exports.append(self._export(arg, "parsing", owner))
        return exports

    def _export(self, arg: ModelArg, role: str, owner: str | None) -> Export:
        name = owner if role == "parsing" and owner else arg.name
        try:
            ref = find_model(arg.path, name=name, version=self.settings.version, tags=self.settings.tags,
                             root=arg.root)
        except SavedModelError as exc:
            return Export(name or arg.path.rstrip("/").split("/")[-1] or "model", role, arg, error=exc)
        return Export(ref.name, role if owner else "savedmodel", arg, ref=ref)

    def inspect(self, export: Export) -> ModelSpec:
        """Inspect once; a failure is kept and re-raised by every check of that export."""
        if export.error is not None:
            raise export.error
        if export.spec is None:
            from pytest_savedmodel.signatures import inspect_model

            assert export.ref is not None
            try:
                export.spec = inspect_model(export.ref)
            except SavedModelError as exc:
                export.error = exc
                raise
        return export.spec

    # ------------------------------------------------------------------ runners
    def runner(self, export: Export, sig: SignatureSpec, kind: str = "raw") -> Runner:
        key = (export.collector, sig.key, kind)
        if key not in self._runners:
            assert export.ref is not None
            if kind == "parsing":
                from pytest_savedmodel.runners.parsing import ParsingRunner

                self._runners[key] = ParsingRunner(export.ref, sig, name=f"{export.role}")
            else:
                from pytest_savedmodel.runners.raw import RawRunner

                name = "raw" if export.role == "savedmodel" else export.role
                self._runners[key] = RawRunner(export.ref, sig, name=name)
        return self._runners[key]

    def close(self) -> None:
        for r in self._runners.values():
            r.close()
        self._runners.clear()
        if self._server is not None:
            self._server.stop()
        import shutil

        for d in (self._server_dir, self._own_home):
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)
        self._server_dir = self._own_home = None

    # ------------------------------------------------------------------ served paths
    @property
    def serves(self) -> bool:
        return self.settings.server.strip().lower() != "none" and any(
            self._want(c) for c in ("parity", "golden", "latency", "concurrency"))

    @staticmethod
    def server_name(export: Export) -> str:
        return export.model if export.role == "savedmodel" else f"{export.model}-{export.role}"

    def server(self) -> Any:
        """The session's TF Serving, started on first use (one start attempt; its error is kept)."""
        if self._server_error is not None:
            raise self._server_error
        if self._server is None:
            import tempfile
            from pathlib import Path

            from pytest_savedmodel.serving.launcher import ModelServer, ServedModel

            models = [ServedModel(self.server_name(e), e.ref.path, e.ref.version if e.ref.version is not None else 1)
                      for e in (*self.exports, *self.baselines.values()) if e.ref is not None and e.error is None]
            self._server_dir = tempfile.mkdtemp(prefix="savedmodel-server-")
            try:
                server = ModelServer.create(self.settings.server, models=models, log_dir=Path(self._server_dir),
                                            startup_timeout=self.settings.server_timeout,
                                            tags=tuple(sorted(self.settings.tags)))
                self._server = server.start()
            except BaseException as exc:
                self._server_error = exc
                raise
        return self._server

    def _server_gone(self, exc: RunnerError) -> RunnerError:
        """A served call failed: if the server died, say so with its exit status and log tail."""
        server = self._server
        if server is None or server.alive():
            return exc
        code = server.process.returncode if server.process is not None else None
        return RunnerError(f"{exc}\n{server.describe()} is no longer running (exit status {code}).\n"
                           f"--- server log (last lines) ---\n{server.log_tail(20)}", runner=exc.runner,
                           signature=exc.signature)

    def served_runner(self, export: Export, sig: SignatureSpec, kind: str, method: str = "predict") -> Runner:
        """The session's client for ``export``'s ``sig`` over ``kind`` (grpc or rest), made once."""
        key = (export.collector, sig.key, f"{kind}-{method}")
        if key not in self._runners:
            self._runners[key] = self.new_served_runner(export, sig, kind, method)
        return self._runners[key]

    def new_served_runner(self, export: Export, sig: SignatureSpec, kind: str, method: str = "predict") -> Runner:
        """A new client (its own channel or connection pool); the caller closes it."""
        server = self.server()
        version = export.ref.version if export.ref and export.ref.version is not None else 1
        name = self.server_name(export)
        if kind == "grpc":
            from pytest_savedmodel.runners.grpc import GrpcRunner

            return GrpcRunner(sig, target=server.grpc_target, model_name=name, version=version, method=method)
        from pytest_savedmodel.runners.rest import RestRunner

        fmt = "row" if C.supports_batching(sig) else "columnar"
        return RestRunner(sig, base_url=server.rest_url, model_name=name, version=version, method=method, format=fmt)

    def signature_for_generation(self, export: Export, sig: SignatureSpec) -> SignatureSpec:
        """``sig`` with unknown-rank inputs made concrete (probed once per signature)."""
        key = (export.collector, sig.key)
        if key not in self._shapes:
            shapes: dict[str, tuple[int | None, ...]] = {}
            if sig.parse_spec is not None:
                shapes[sig.parse_spec.input_alias] = (None,)
            rest = {a: t for a, t in sig.inputs.items() if t.shape is None and a not in shapes}
            if rest:
                probe_sig = C.concretize(sig, shapes)
                shapes.update(C.probe_shapes(self.runner(export, probe_sig)))
            self._shapes[key] = shapes
        return C.concretize(sig, self._shapes[key])

    def strategy(self, sig: SignatureSpec, *, min_batch: int = 1, optional: tuple[str, ...] = ()) -> Any:
        from hypothesis import strategies as st

        from pytest_savedmodel.strategies import feature_dicts

        top = max(self.settings.max_batch, min_batch)
        return feature_dicts(sig, batch_size=st.integers(min_batch, top), optional=optional, schema=self.schema)

    def _property(self, body: Callable[[Features], None], strategy: Any, **kwargs: Any) -> None:
        if self.hypothesis_home is None:
            import tempfile

            self.hypothesis_home = self._own_home = tempfile.mkdtemp(prefix="savedmodel-hypothesis-")
        try:
            C.run_property(body, strategy, database=self.database, home=self.hypothesis_home, seed=self.settings.seed,
                           **kwargs)
        except ParityMismatch as exc:
            self._save_counterexample(exc, kwargs.get("stats"), kwargs.get("digest", "parity"))
            raise

    def _save_counterexample(self, exc: ParityMismatch, stats: C.Stats | None, digest: str) -> None:
        """Save the shrunk inputs as .npz and add the reproduce block to the failure."""
        from pathlib import Path

        from pytest_savedmodel.counterexample import file_name, reproduce_block, save_features

        features = exc.fields.get("features")
        if not features:
            return
        if self.counterexample_dir is None:
            import tempfile

            self.counterexample_dir = Path(tempfile.mkdtemp(prefix="savedmodel-counterexamples-"))
        path = Path(self.counterexample_dir) / file_name(getattr(stats, "nodeid", "") or digest)
        try:
            save_features(path, features)
        except OSError as err:
            exc.add_note(f"(could not save the shrunk inputs to {path}: {err.strerror or err})")
            return
        runners = tuple(r for r in (exc.fields.get("left_runner"), exc.fields.get("right_runner")) if r is not None)
        exc.add_note(reproduce_block(path, features, runners, exc.fields.get("left_features")))
        if stats is not None:
            stats.counterexample = str(path)

    # ------------------------------------------------------------------ planning
    def plan(self) -> list[PlannedCheck]:
        """Every check for every export, in a stable order (computed once)."""
        if self._planned is None:
            self._planned = self._plan()
        return list(self._planned)

    def _plan(self) -> list[PlannedCheck]:
        planned: list[PlannedCheck] = []
        for export in self.exports:
            planned.extend(self._plan_export(export))
        for role, args in (("checkpoint", self.settings.checkpoints), ("frozen", self.settings.frozen)):
            for arg in args:
                planned.extend(self._plan_graph(role, arg))
        if self.settings.reference:
            for export in self._anchors():
                planned.extend(self._plan_reference(export))
        if self.settings.freeze:
            for export in self._anchors():
                planned.extend(self._plan_freeze(export))
        planned.extend(self._plan_contract())
        for arg in self.settings.baselines:
            planned.extend(self._plan_baseline(arg))
        return planned

    # ------------------------------------------------------------------ contract lock and baseline
    def _anchors(self) -> list[Export]:
        return [e for e in self.exports if e.role == "savedmodel"]

    def _owner(self, arg: ModelArg) -> str | None:
        """The model an artifact option belongs to: its NAME=, else the first --savedmodel."""
        anchors = self._anchors()
        return arg.name or (anchors[0].model if anchors else None)

    def _graph_args(self, export: Export) -> dict[str, ModelArg]:
        """The graph artifacts given for ``export`` whose golden examples can be replayed: role -> option.

        A TF2 object checkpoint (``--savedmodel-checkpoint-model``) needs the user's fixture, so it is left out."""
        found: dict[str, ModelArg] = {}
        for role, args in (("checkpoint", self.settings.checkpoints), ("frozen", self.settings.frozen)):
            if role == "checkpoint" and self.settings.checkpoint_model:
                continue
            arg = next((a for a in args if self._owner(a) == export.model), None)
            if arg is not None:
                found[role] = arg
        return found

    def live_entry(self, export: Export, *, golden: bool) -> dict[str, Any]:
        from pytest_savedmodel.golden import make_golden
        from pytest_savedmodel.lock import model_entry

        spec = self.inspect(export)
        gold: dict[str, Any] = {}
        if golden:
            for sig in spec.callable_signatures.values():
                if sig.inputs and all(t.dtype.is_data for t in sig.inputs.values()):
                    g = make_golden(self.runner(export, sig, "raw"), self.signature_for_generation(export, sig),
                                    self.tolerance)
                    if g is not None:
                        gold[sig.key] = g
        return model_entry(spec, golden=gold)

    def contract_summary(self) -> dict[str, Any]:
        """Per export: its signatures, parse specs, tag-sets and op count, as the lock writes them (for reports)."""
        from pytest_savedmodel.lock import model_entry

        out: dict[str, Any] = {}
        for export in (*self.exports, *self.baselines.values()):
            try:
                entry = model_entry(self.inspect(export))
            except SavedModelError as exc:
                out[export.collector] = {"error": str(exc).splitlines()[0]}
                continue
            entry.pop("golden", None)
            entry["path"] = str(export.ref.path) if export.ref else None
            out[export.collector] = entry
        return out

    def _lock(self) -> dict[str, Any] | None:
        """The lock's models (writing it first with --savedmodel-update-contract); None without a lock."""
        from pytest_savedmodel.lock import read_lock, write_lock

        path = self.settings.contract
        if path is None:
            return None
        if self.settings.update_contract and not getattr(self, "_lock_written", False):
            models = read_lock(path) if path.is_file() else {}
            for export in self._anchors():
                if export.error is None:
                    models[export.model] = self.live_entry(export, golden=True)
            self.lock_changed = write_lock(path, models)
            self._lock_written = True
        return read_lock(path) if path.is_file() else None

    def _plan_contract(self) -> Iterator[PlannedCheck]:
        if not (self._want("contract") or self._want("golden")):
            return
        lock_path = self.settings.contract
        if lock_path is None or not (lock_path.is_file() or self.settings.update_contract or self.settings.forbid_ops):
            return
        for export in self._anchors():
            if export.error is not None:
                continue
            if self._want("contract"):
                yield PlannedCheck(export.collector, ("contract",), "contract",
                                   functools.partial(self._contract_item, export),
                                   {"model": export.model, "version": export.ref.version if export.ref else None})
            if not self._want("golden"):
                continue
            try:
                lock = self._lock()
            except SavedModelError:
                continue  # the contract item reports it
            entry = (lock or {}).get(export.model, {})
            for key in sorted(entry.get("golden", {})):
                for path in self._golden_paths(export, key):
                    yield PlannedCheck(export.collector, (key, f"golden[{path}]"), "golden",
                                       functools.partial(self._replay, export, key, path),
                                       {"model": export.model, "signature": key, "pair": f"locked~{path}"})

    def _contract_item(self, export: Export, stats: C.Stats) -> None:
        self._check_contract(export, stats)

    @staticmethod
    def _record_changes(stats: C.Stats | None, changes: list[Any], allowed: frozenset[str], against: str) -> None:
        if stats is None:
            return
        stats.changes = [{"rule": c.rule, "severity": c.severity, "change": c.describe(), "against": against,
                          "allowed": c.rule in allowed} for c in changes]
        if changes:
            n = sum(c.severity == "breaking" and c.rule not in allowed for c in changes)
            stats.note = f"{len(changes)} change(s), {n} breaking"

    def _check_contract(self, export: Export, stats: C.Stats | None = None) -> None:
        import warnings

        from pytest_savedmodel.drift import diff_entries, format_changes
        from pytest_savedmodel.errors import ContractViolation
        from pytest_savedmodel.lock import locked_model

        lock = self._lock()
        live = self.live_entry(export, golden=False)
        path = self.settings.contract
        if lock is None:  # no lock: only the op ban applies
            old = {**live, "ops": live["ops"]}
        else:
            old = locked_model(lock, export.model, path)  # type: ignore[arg-type]
        changes = diff_entries(old, live, forbid_ops=self.settings.forbid_ops)
        allowed = self.settings.allow
        breaking = [c for c in changes if c.severity == "breaking" and c.rule not in allowed]
        risks = [c for c in changes if c.severity == "risk"]
        against = f"the contract lock {path}" if lock is not None else "--savedmodel-forbid-ops"
        self._record_changes(stats, changes, allowed, against)
        if breaking:
            raise ContractViolation(
                f"{export.label}: {len(breaking)} breaking change(s) against {against}:\n"
                + format_changes(changes, allowed=allowed, against=against),
                model=export.model, changes=changes)
        for c in risks:
            warnings.warn(f"{export.label}: {c.describe()}: {RULES_TEXT.get(c.rule, '')}", stacklevel=1)

    def _golden_paths(self, export: Export, key: str) -> list[str]:
        """Every path the locked golden inputs of ``key`` can be replayed on: raw, parsing twins, graphs, served."""
        paths = ["raw"]
        try:
            sig = self.inspect(export).signatures.get(key)
        except SavedModelError:
            return paths
        if sig is None:
            return paths  # the contract item reports the missing signature; replay says it too
        for twin in self.exports:
            if twin.role != "savedmodel" and twin.model == export.model and self._parsing_twin(twin, sig) is not None:
                paths.append(twin.role)
        if _takes_dense_tensors(sig):
            paths += list(self._graph_args(export))
        if self.serves and all(t.dtype.is_data for t in sig.inputs.values()):
            paths += ["grpc", "rest"] if sig.inputs else ["grpc"]
        return paths

    def _parsing_twin(self, twin: Export, raw_sig: SignatureSpec) -> SignatureSpec | None:
        """The signature of a parsing export that takes ``raw_sig``'s inputs as tf.Example features."""
        if raw_sig.parse_spec is not None or not raw_sig.inputs:
            return None
        try:
            spec = self.inspect(twin)
        except SavedModelError:
            return None
        for sig in (spec.signatures.get(raw_sig.key), spec.signatures.get("serving_default"),
                    *sorted(spec.callable_signatures.values(), key=lambda s: s.key)):
            if (sig is not None and sig.parse_spec is not None and set(raw_sig.inputs) <= set(sig.parse_spec.keys)
                    and set(raw_sig.outputs) & set(sig.outputs)):
                return sig
        return None

    def _golden_runner(self, export: Export, sig: SignatureSpec, path: str) -> Runner:
        if path == "raw":
            return self.runner(export, sig, "raw")
        if path in ("grpc", "rest"):
            return self.served_runner(export, sig, path)
        graph_arg = self._graph_args(export).get(path)
        if graph_arg is not None:
            return self.graph_runner(export, sig, path, graph_arg.root / graph_arg.path)
        twin = next(e for e in self.exports if e.role == path and e.model == export.model)
        twin_sig = self._parsing_twin(twin, sig)
        assert twin_sig is not None
        return self.runner(twin, twin_sig, "parsing")

    def _replay(self, export: Export, key: str, path: str, stats: C.Stats) -> None:
        from pytest_savedmodel.golden import replay_golden

        lock = self._lock() or {}
        golden = lock.get(export.model, {}).get("golden", {}).get(key)
        sig = self.inspect(export).signature(key)
        runner = self._golden_runner(export, sig, path)
        try:
            stats.examples = replay_golden(runner, golden or {},
                                           where=f"{self.settings.contract}: models.{export.model}.golden.{key}",
                                           observe=stats.observe)
        except RunnerError as exc:
            raise self._server_gone(exc) from None

    def _baseline_export(self, arg: ModelArg) -> Export:
        names = [e.model for e in self._anchors()]
        owner = self._owner(arg)
        if owner not in names:
            raise UsageError(f"--savedmodel-baseline={arg.path}: no --savedmodel named {owner!r}; models: "
                             f"{', '.join(names) or '(none)'}")
        if owner in self.baselines:
            raise UsageError(f"--savedmodel-baseline: model {owner!r} has two baselines; give one per model")
        base = self._export(arg, "baseline", owner)
        base.role, base.model = "baseline", owner
        self.baselines[owner] = base
        return base

    def _plan_baseline(self, arg: ModelArg) -> Iterator[PlannedCheck]:
        owner = self._owner(arg)
        anchor = next(e for e in self._anchors() if e.model == owner)
        base = self.baselines[anchor.model]
        col = f"savedmodel:{owner}:baseline"
        yield PlannedCheck(col, ("load",), "load", lambda stats: self._load_now(base), {"model": f"{owner}:baseline"})
        yield PlannedCheck(col, ("contract",), "contract", lambda stats: self._baseline_contract(base, anchor, stats),
                           {"model": f"{owner}:baseline"})
        try:
            spec, bspec = self.inspect(anchor), self.inspect(base)
        except SavedModelError:
            return
        for sig in self._signatures(spec):
            old = bspec.signatures.get(sig.key)
            if old is None or not sig.inputs or set(old.inputs) != set(sig.inputs):
                continue
            yield PlannedCheck(col, (sig.key, "parity[baseline~raw]"), "parity",
                               self._baseline_parity(base, anchor, old, sig),
                               {"model": f"{owner}:baseline", "signature": sig.key, "pair": "baseline~raw"})

    def _baseline_contract(self, base: Export, anchor: Export, stats: C.Stats | None = None) -> None:
        from pytest_savedmodel.drift import diff_entries, format_changes
        from pytest_savedmodel.errors import ContractViolation

        changes = diff_entries(self.live_entry(base, golden=False), self.live_entry(anchor, golden=False),
                               forbid_ops=self.settings.forbid_ops)
        breaking = [c for c in changes if c.severity == "breaking" and c.rule not in self.settings.allow]
        against = f"the baseline {base.label}"
        self._record_changes(stats, changes, self.settings.allow, against)
        if breaking:
            raise ContractViolation(f"{anchor.label}: {len(breaking)} breaking change(s) against {against}:\n"
                                    + format_changes(changes, allowed=self.settings.allow, against=against),
                                    model=anchor.model, changes=changes)

    def _baseline_parity(self, base: Export, anchor: Export, old: SignatureSpec,
                         sig: SignatureSpec) -> Callable[[C.Stats], None]:
        return self._parity(lambda: self.runner(base, old, "raw"), lambda: self.runner(anchor, sig, "raw"),
                            anchor, sig, digest=f"{anchor.collector}::{sig.key}::baseline")

    # ------------------------------------------------------------------ checkpoint and frozen graphs
    def _plan_graph(self, role: str, arg: ModelArg) -> Iterator[PlannedCheck]:
        names = [e.model for e in self._anchors()]
        owner = self._owner(arg)
        if owner not in names:
            raise UsageError(f"--savedmodel-{role}={arg.name + '=' if arg.name else ''}{arg.path}: "
                             + (f"no --savedmodel named {owner!r}; models: {', '.join(names)}" if names else
                                "give the SavedModel it should agree with, with --savedmodel=DIR"))
        anchor = next(e for e in self.exports if e.role == "savedmodel" and e.model == owner)
        col = f"savedmodel:{owner}:{role}"
        path = arg.root / arg.path
        fixture = self.settings.checkpoint_model if role == "checkpoint" else None
        if fixture is None and self._want("load"):
            yield PlannedCheck(col, ("load",), "load", lambda stats: self._graph_load(anchor, role, path),
                               {"model": f"{owner}:{role}"})
        if not self._want("parity"):
            return
        try:
            spec = self.inspect(anchor)
        except SavedModelError:
            return
        for sig in self._signatures(spec):
            if not _takes_dense_tensors(sig):
                continue
            pair = f"raw~{role}"
            info = {"model": f"{owner}:{role}", "signature": sig.key, "pair": pair}
            if fixture is not None:  # a TF2 object checkpoint, restored into the user's model
                yield PlannedCheck(col, (sig.key, f"parity[{pair}]"), "parity",
                                   self._object_checkpoint_parity(anchor, sig, path, fixture), info, fixture=fixture)
                continue
            yield PlannedCheck(col, (sig.key, f"parity[{pair}]"), "parity", self._graph_parity(anchor, sig, role, path),
                               info)

    def _object_checkpoint_parity(self, anchor: Export, sig: SignatureSpec, path: Any,
                                  fixture: str) -> Callable[..., None]:
        def run(stats: C.Stats, model: Any) -> None:
            from pytest_savedmodel.runners.graph import ObjectCheckpointRunner

            restored = ObjectCheckpointRunner(path, model, sig, fixture=fixture)
            self._parity(lambda: self.runner(anchor, sig, "raw"), lambda: restored, anchor, sig,
                         digest=f"{anchor.collector}::{sig.key}::object-checkpoint")(stats)

        return run

    def graph_runner(self, anchor: Export, sig: SignatureSpec, role: str, path: Any) -> Runner:
        key = (f"savedmodel:{anchor.model}:{role}", sig.key, role)
        if key not in self._runners:
            from pytest_savedmodel.runners.graph import CheckpointRunner, FrozenRunner

            cls = CheckpointRunner if role == "checkpoint" else FrozenRunner
            self._runners[key] = cls(path, sig)
        return self._runners[key]

    def _graph_load(self, anchor: Export, role: str, path: Any) -> None:
        spec = self.inspect(anchor)
        sigs = [s for s in self._signatures(spec) if s.parse_spec is None and s.inputs]
        if sigs:
            self.graph_runner(anchor, sigs[0], role, path)._ensure()  # type: ignore[attr-defined]

    def _graph_parity(self, anchor: Export, sig: SignatureSpec, role: str, path: Any) -> Callable[[C.Stats], None]:
        return self._parity(lambda: self.runner(anchor, sig, "raw"), lambda: self.graph_runner(anchor, sig, role, path),
                            anchor, sig, digest=f"{anchor.collector}::{sig.key}::{role}")

    def _parity(self, left: Callable[[], Runner], right: Callable[[], Runner], export: Export, sig: SignatureSpec,
                *, digest: str) -> Callable[[C.Stats], None]:
        """A parity item: the same generated features for ``sig`` through two runners (made when it runs)."""
        def run(stats: C.Stats) -> None:
            a, b = left(), right()
            gen_sig = self.signature_for_generation(export, sig)

            def body(features: Features) -> None:
                C.check_parity(a, b, features, tolerance=self.tolerance, stats=stats)

            self._property(body, self.strategy(gen_sig), stats=stats, max_examples=self.settings.examples,
                           digest=digest)

        return run

    def _want(self, check: str) -> bool:
        return check in self.settings.checks

    def _signatures(self, spec: ModelSpec) -> list[SignatureSpec]:
        sigs = spec.callable_signatures
        if self.settings.signatures:
            for key in self.settings.signatures:
                spec.signature(key)  # raises SignatureNotFound listing what exists
            return [sigs[k] for k in self.settings.signatures if k in sigs]
        return [sigs[k] for k in sorted(sigs)]

    def _plan_export(self, export: Export) -> Iterator[PlannedCheck]:
        col = export.collector
        yield PlannedCheck(col, ("load",), "load", self._load(export),
                           {"model": export.model, "version": export.ref.version if export.ref else None})
        try:
            spec = self.inspect(export)
            sigs = self._signatures(spec)
        except SavedModelError:
            return  # the load item reports it
        for sig in sigs:
            yield from self._plan_signature(export, sig)
        if export.role == "parsing":
            yield from self._plan_pairs(export, spec)

    def _load(self, export: Export) -> Callable[[C.Stats], None]:
        return lambda stats: self._load_now(export)

    def _load_now(self, export: Export) -> None:
        spec = self.inspect(export)
        from pytest_savedmodel.runners._session import load_session

        assert export.ref is not None
        load_session(export.ref)
        if not spec.callable_signatures:
            raise UsageError(f"{export.label} has no callable signature (only {sorted(spec.signatures)})")

    def _plan_signature(self, export: Export, sig: SignatureSpec) -> Iterator[PlannedCheck]:
        col, key, model = export.collector, sig.key, export.label
        info = {"model": export.model, "version": export.ref.version if export.ref else None, "signature": key}
        if self._want("signature"):
            def static(stats: C.Stats) -> None:
                C.check_signature_graph(model, sig)

            yield PlannedCheck(col, (key, "signature"), "signature", static, info)
        for check in ("outputs", "finite", "determinism"):
            if self._want(check):
                yield PlannedCheck(col, (key, check), check, self._dynamic(export, sig, check), info)
        if self._want("batch") and C.supports_batching(sig):
            yield PlannedCheck(col, (key, "batch"), "batch", self._dynamic(export, sig, "batch"), info)
        if self.serves and sig.inputs and all(t.dtype.is_data for t in sig.inputs.values()):
            for check in ("latency", "concurrency"):
                if self._want(check):
                    for kind in ("grpc", "rest"):
                        yield PlannedCheck(col, (key, f"{check}[{kind}]"), check,
                                           self._load_check(export, sig, kind, check), {**info, "pair": kind})
        if self.serves and self._want("parity") and all(t.dtype.is_data for t in sig.inputs.values()):
            left = "raw" if export.role == "savedmodel" else export.role
            for kind in ("grpc", "rest"):
                if kind == "rest" and not sig.inputs:
                    continue  # TF Serving's REST API cannot call a signature without inputs
                pair = f"{left}~{kind}"
                yield PlannedCheck(col, (key, f"parity[{pair}]"), "parity", self._served(export, sig, kind),
                                   {**info, "pair": pair})
            method = _example_method(sig)
            if method is not None:
                for kind in ("grpc", "rest"):
                    pair = f"parsing~{kind}-{method}"
                    yield PlannedCheck(col, (key, f"parity[{pair}]"), "parity",
                                       self._served(export, sig, kind, method), {**info, "pair": pair})

    def _dynamic(self, export: Export, sig: SignatureSpec, check: str) -> Callable[[C.Stats], None]:
        def run(stats: C.Stats) -> None:
            gen_sig = self.signature_for_generation(export, sig)
            runner = self.runner(export, sig, kind="raw")
            model = export.label

            def body(features: Features) -> None:
                if check == "outputs":
                    C.check_outputs_match(model, sig, runner.predict(features), features)
                elif check == "finite":
                    C.check_finite(model, sig, runner.predict(features), features)
                elif check == "determinism":
                    C.check_determinism(model, runner, features, self.tolerance)
                else:
                    C.check_batch_invariance(model, runner, features, self.tolerance)

            if not sig.inputs:
                stats.examples = 1
                body({})
                return
            min_batch = 2 if check == "batch" else 1
            self._property(body, self.strategy(gen_sig, min_batch=min_batch), stats=stats,
                           digest=f"{export.collector}::{sig.key}::{check}", max_examples=self.settings.examples)

        return run

    def _served(self, export: Export, sig: SignatureSpec, kind: str,
                method: str = "predict") -> Callable[[C.Stats], None]:
        def run(stats: C.Stats) -> None:
            right = self.served_runner(export, sig, kind, method)
            if method == "predict":
                left = self.runner(export, sig, "raw")
                gen_sig = self.signature_for_generation(export, sig)
                strategy = self.strategy(gen_sig) if sig.inputs else None
            else:
                from hypothesis import strategies as st

                from pytest_savedmodel.strategies import example_features

                assert sig.parse_spec is not None
                left = self.runner(export, sig, "parsing")
                strategy = example_features(sig.parse_spec, batch_size=st.integers(1, self.settings.max_batch),
                                            schema=self.schema)

            def body(features: Features) -> None:
                try:
                    C.check_parity(left, right, features, tolerance=self.tolerance, stats=stats)
                except RunnerError as exc:
                    raise self._server_gone(exc) from None

            if strategy is None:
                stats.examples = 1
                body({})
                return
            self._property(body, strategy, stats=stats, max_examples=self.settings.examples,
                           digest=f"{export.collector}::{sig.key}::{kind}-{method}")

        return run

    def _load_check(self, export: Export, sig: SignatureSpec, kind: str, check: str) -> Callable[[C.Stats], None]:
        """latency[KIND]: cold and warm p50/p99; concurrency[KIND]: answers under concurrent load = answers alone."""
        def run(stats: C.Stats) -> None:
            from pytest_savedmodel import latency as L
            from pytest_savedmodel.golden import golden_inputs

            gen_sig = self.signature_for_generation(export, sig)
            what = f"{export.label} signature {sig.key!r} over {kind}"
            try:
                if check == "concurrency":
                    requests = golden_inputs(gen_sig, count=8)
                    stats.examples = L.check_concurrency(lambda: self.new_served_runner(export, sig, kind), requests,
                                                         threads=self.settings.concurrency, tolerance=self.tolerance)
                    stats.note = f"{len(requests)} requests x 2 from {self.settings.concurrency} threads: same answers"
                    return
                features = golden_inputs(gen_sig, count=1)[0]
                base = self.baselines.get(export.model) if export.role == "savedmodel" else None
                base_sig = None
                if base is not None and base.error is None:
                    try:
                        base_sig = self.inspect(base).signatures.get(sig.key)
                    except SavedModelError:
                        base_sig = None
                    if base_sig is not None and set(base_sig.inputs) != set(sig.inputs):
                        base_sig = None
                def measure(target: Export, target_sig: SignatureSpec) -> Any:  # on a new connection
                    runner = self.new_served_runner(target, target_sig, kind)
                    try:
                        return L.measure_latency(lambda: runner.predict(features),
                                                 requests=self.settings.latency_requests)
                    finally:
                        runner.close()

                got = measure(export, sig)
                before = measure(base, base_sig) if base is not None and base_sig is not None else None
                stats.examples = got.requests + 1
                stats.note = got.describe() + (f"; baseline p99 {before.p99_ms:.2f} ms" if before else "")
                stats.extra.update({"cold_ms": f"{got.cold_ms:.3f}", "p50_ms": f"{got.p50_ms:.3f}",
                                    "p99_ms": f"{got.p99_ms:.3f}"})
                if before is not None:
                    stats.extra["baseline_p99_ms"] = f"{before.p99_ms:.3f}"
                L.check_latency(what, got, budget_p99_ms=self.settings.max_p99_ms, baseline=before,
                                ratio=self.settings.latency_regression)
            except RunnerError as exc:
                raise self._server_gone(exc) from None

        return run

    def _plan_freeze(self, anchor: Export) -> Iterator[PlannedCheck]:
        """parity[raw~freeze]: the SavedModel against itself frozen on the fly."""
        if anchor.error is not None or not self._want("parity"):
            return
        try:
            spec = self.inspect(anchor)
        except SavedModelError:
            return
        col = f"savedmodel:{anchor.model}:freeze"
        for sig in self._signatures(spec):
            if not _takes_dense_tensors(sig):
                continue
            yield PlannedCheck(col, (sig.key, "parity[raw~freeze]"), "parity",
                               self._parity(functools.partial(self.runner, anchor, sig, "raw"),
                                            functools.partial(self._freeze_runner, anchor, sig),
                                            anchor, sig, digest=f"{anchor.collector}::{sig.key}::freeze"),
                               {"model": f"{anchor.model}:freeze", "signature": sig.key, "pair": "raw~freeze"})

    def _freeze_runner(self, anchor: Export, sig: SignatureSpec) -> Runner:
        key = (f"savedmodel:{anchor.model}:freeze", sig.key, "freeze")
        if key not in self._runners:
            from pytest_savedmodel.runners.graph import FreezeRunner

            assert anchor.ref is not None
            self._runners[key] = FreezeRunner(anchor.ref, sig)
        return self._runners[key]

    # ------------------------------------------------------------------ the reference (training side)
    def _plan_reference(self, anchor: Export) -> Iterator[PlannedCheck]:
        """parity[reference~raw] and parity[reference~PARSING] per signature, using the user's fixture."""
        if not self._want("parity"):
            return
        try:
            spec = self.inspect(anchor)
        except SavedModelError:
            return
        col = f"savedmodel:{anchor.model}:reference"
        fixture = self.settings.reference
        twins = [e for e in self.exports if e.role != "savedmodel" and e.model == anchor.model]
        for sig in self._signatures(spec):
            if not _takes_dense_tensors(sig):
                continue
            info = {"model": f"{anchor.model}:reference", "signature": sig.key}
            yield PlannedCheck(col, (sig.key, "parity[reference~raw]"), "parity",
                               self._reference_parity(anchor, sig, None), {**info, "pair": "reference~raw"},
                               fixture=fixture)
            for twin in twins:
                twin_sig = self._parsing_twin(twin, sig)
                if twin_sig is not None:
                    pair = f"reference~{twin.role}"
                    yield PlannedCheck(col, (sig.key, f"parity[{pair}]"), "parity",
                                       self._reference_parity(anchor, sig, (twin, twin_sig)), {**info, "pair": pair},
                                       fixture=fixture)

    def _reference_parity(self, anchor: Export, sig: SignatureSpec,
                          twin: tuple[Export, SignatureSpec] | None) -> Callable[..., None]:
        def run(stats: C.Stats, value: Any) -> None:
            from pytest_savedmodel.runners.reference import ReferenceRunner

            reference = ReferenceRunner.from_fixture(value, model=anchor.model, signature=sig,
                                                     fixture=self.settings.reference or "")
            optional: tuple[str, ...] = ()
            if twin is None:
                other = self.runner(anchor, sig, "raw")
            else:
                export, twin_sig = twin
                other = self.runner(export, twin_sig, "parsing")
                assert twin_sig.parse_spec is not None  # features with a parse-spec default may be left out
                optional = tuple(f.key for f in twin_sig.parse_spec.features
                                 if f.key in sig.inputs and (f.default is not None or f.kind != "fixed"))
            gen_sig = self.signature_for_generation(anchor, sig)

            def body(features: Features) -> None:
                C.check_parity(reference, other, features, tolerance=self.tolerance, stats=stats)

            self._property(body, self.strategy(gen_sig, optional=optional), stats=stats,
                           max_examples=self.settings.examples,
                           digest=f"{anchor.collector}::{sig.key}::reference~{other.name}")

        return run

    # ------------------------------------------------------------------ pairs
    def anchor_of(self, export: Export) -> Export | None:
        for e in self.exports:
            if e.role == "savedmodel" and e.model == export.model:
                return e
        return None

    def _plan_pairs(self, export: Export, spec: ModelSpec) -> Iterator[PlannedCheck]:
        anchor = self.anchor_of(export)
        if anchor is None:
            return
        try:
            anchor_spec = self.inspect(anchor)
        except SavedModelError:
            return
        for sig in self._signatures(spec):
            if sig.parse_spec is None:
                continue
            raw_sig = anchor_spec.signatures.get(sig.key) or anchor_spec.signatures.get("serving_default")
            if raw_sig is None or not set(raw_sig.outputs) & set(sig.outputs) or raw_sig.parse_spec is not None:
                continue
            pair = f"raw~{export.role}"
            info = {"model": export.model, "signature": sig.key, "pair": pair}
            if self._want("parse_spec"):
                yield PlannedCheck(export.collector, (sig.key, f"parse_spec[{pair}]"), "parse_spec",
                                   self._pair_spec(raw_sig, sig, export.role), info)
            if self._want("parity"):
                yield PlannedCheck(export.collector, (sig.key, f"parity[{pair}]"), "parity",
                                   self._pair_parity(anchor, export, raw_sig, sig), info)

    def _pair_spec(self, raw_sig: SignatureSpec, sig: SignatureSpec, role: str) -> Callable[[C.Stats], None]:
        def run(stats: C.Stats) -> None:
            C.check_pair_spec(raw_sig, sig, names=("raw", role), training_defaults=self.settings.training_defaults)

        return run

    def _pair_parity(self, anchor: Export, export: Export, raw_sig: SignatureSpec,
                     sig: SignatureSpec) -> Callable[[C.Stats], None]:
        def run(stats: C.Stats) -> None:
            assert sig.parse_spec is not None
            raw = self.runner(anchor, raw_sig, "raw")
            parsing = self.runner(export, sig, "parsing")
            defaults = self.settings.training_defaults
            keys = set(sig.parse_spec.keys)
            missing = sorted(set(raw_sig.inputs) - keys)
            if missing:
                raise UsageError(f"cannot compare: raw inputs {missing} have no feature in the parse spec of "
                                 f"{export.label} signature {sig.key!r} (see the parse_spec check)")
            optional = tuple(
                f.key for f in sig.parse_spec.features
                if f.key in raw_sig.inputs and f.default is not None and f.key in defaults
            )
            gen_sig = self.signature_for_generation(anchor, raw_sig)

            def body(features: Features) -> None:
                filled = dict(features)
                n = len(next(iter(features.values()))) if features else 1
                for k in optional:
                    if k not in filled:
                        spec = raw_sig.inputs[k]
                        value = np.asarray(defaults[k], dtype=spec.dtype.numpy or "float32").reshape(-1)
                        filled[k] = np.broadcast_to(value[:1] if spec.rank == 1 else value,
                                                    (n,) if spec.rank == 1 else (n, *value.shape)).copy()
                C.check_parity(raw, parsing, features, tolerance=self.tolerance, left_features=filled, stats=stats)

            self._property(body, self.strategy(gen_sig, optional=optional), stats=stats,
                           digest=f"{export.collector}::{sig.key}::parity", max_examples=self.settings.examples)

        return run

"""The session: runs planned checks and owns what they share. No pytest here.

It owns the artifacts, the runner cache (closing every runner and TF session it
opened), the lazily started TF Serving, Hypothesis' home and example database,
the counterexample directory and the contract lock (written only when a check
runs, never while planning). Usable without pytest::

    with Session(settings) as s:
        for planned in s.plan():
            result = s.run(planned)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from pytest_savedmodel._files import TempDirs
from pytest_savedmodel.artifacts import Artifact, Artifacts
from pytest_savedmodel.catalogue import run_check
from pytest_savedmodel.context import CheckContext
from pytest_savedmodel.errors import (
    CallTimeout,
    OutOfMemory,
    ParityMismatch,
    RunnerError,
    SameCause,
    SavedModelError,
    Unrunnable,
    UsageError,
    cause_shape,
)
from pytest_savedmodel.lockstate import LockedContract
from pytest_savedmodel.plan import build_plan, check_owners
from pytest_savedmodel.planned import PlannedCheck, Side
from pytest_savedmodel.results import CheckResult
from pytest_savedmodel.runners.base import Runner, Target
from pytest_savedmodel.runners.registry import names, provider
from pytest_savedmodel.serving.keeper import ServerKeeper
from pytest_savedmodel.settings import Settings
from pytest_savedmodel.spec import SignatureSpec

__all__ = ["Session"]


class Session(LockedContract):
    """Plans and runs the automatic checks for the models in ``settings``."""

    def __init__(self, settings: Settings) -> None:
        from pytest_savedmodel.deadline import set_call_timeout

        self.settings = settings
        set_call_timeout(settings.timeout)
        self.artifacts = Artifacts(settings)
        check_owners(self.artifacts, settings)
        from pytest_savedmodel.ranges import GenerationDomains

        self._generation = GenerationDomains(settings, self.artifacts)  # schemas and ranges, checked here
        self.schema: Any = self._generation.schemas.get(None)
        self.database: Any = None  # Hypothesis example database; the plugin puts it under pytest's cache
        self.hypothesis_home: Any = None  # where Hypothesis may write; never the user's working directory
        self.counterexample_dir: Any = settings.counterexamples
        self._runners: dict[Side, Runner] = {}
        self._shapes: dict[tuple[str, str], dict[str, tuple[int | None, ...]]] = {}
        self._serving = ServerKeeper(self._start_server, prepare=_import_server_start)
        self._temp = TempDirs()
        self._planned: list[PlannedCheck] | None = None
        self._lock_written = False
        self._loaded: set[Any] = set()
        self._causes: dict[tuple[str, str], tuple[str, str]] = {}  # (export, signature) -> (item, why)
        self._rejections: dict[tuple[str, str, str], str] = {}  # (export, signature, reason shape) -> item
        self._one_row: dict[tuple[str, str], str | None] = {}  # (export, signature) -> why batch 2 fails
        self._dependent: dict[tuple[str, str], str | None] = {}  # (export, signature) -> why rows depend on the batch

    def schema_for(self, planned: PlannedCheck) -> Any:
        """The schema generation uses for ``planned``'s model: its own (or every model's), ranges laid over it."""
        model = self.artifacts.by_collector(planned.export).model if planned.export else planned.model
        return self._generation.schema_for(model)

    # ------------------------------------------------------------------ life
    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close every runner, TF session and server this session opened; remove its temporary directories."""
        for r in self._runners.values():
            r.close()
        self._runners.clear()
        self._serving.close()
        if "pytest_savedmodel.serving.shared" in sys.modules:  # a failed shared start is also let go of
            sys.modules["pytest_savedmodel.serving.shared"].release_all()
        from pytest_savedmodel.runners import _session

        _session.close_models(self._loaded)
        self._loaded.clear()
        if "pytest_savedmodel.runners.eager" in sys.modules:  # TF2 objects freed while TF is whole: at
            sys.modules["pytest_savedmodel.runners.eager"].close_all()  # interpreter exit, TF 2.15 prints a
            import gc  # TypeError traceback per function (AtomicFunction.__del__)

            gc.collect()
        self._temp.remove()

    def _tempdir(self, prefix: str) -> str:
        return self._temp.make(prefix)

    @property
    def exports(self) -> list[Artifact]:
        return self.artifacts.exports

    @property
    def serves(self) -> bool:
        """Some planned check uses a served path."""
        return self.settings.serves and any(c in self.settings.checks
                                            for c in ("parity", "golden", "latency", "concurrency"))

    # ------------------------------------------------------------------ planning and running
    def plan(self) -> list[PlannedCheck]:
        """Every check, in a stable order (computed once; reads the lock, writes nothing, runs no model)."""
        if self._planned is None:
            self._planned = build_plan(self.artifacts, self.settings, self._read_lock_quietly())
        return list(self._planned)

    def run(self, planned: PlannedCheck, fixture_value: Any = None, *,
            result: CheckResult | None = None) -> CheckResult:
        """Run one planned check; a finding is raised, the figures are in the returned (or given) result."""
        result = result if result is not None else self.new_result(planned)
        sig = None
        export = self.artifacts.by_collector(planned.export) if planned.export else None
        if planned.signature is not None and export is not None:
            try:
                sig = export.inspect().signature(planned.signature)
            except SavedModelError:
                if planned.check != "golden":
                    raise
        ctx = CheckContext(planned, self.settings, result=result, signature=sig, session=self,
                           fixture_value=fixture_value, label=export.label if export else planned.model)
        sides = self._signatures_of(planned)
        for key in sides:
            if key in self._causes:
                item, why = self._causes[key]
                raise SameCause(f"same cause as {item}: {why}", item=item)
        try:
            run_check(ctx)
        except OutOfMemory:
            self._record_cause(sides, result.nodeid, "ran out of memory")
            raise
        except RunnerError as exc:
            if exc.reason:
                # the model rejected a generated input: other checks of this signature that fail for the same
                # reason are skipped naming this item ("one cause, one red")
                cause = (planned.export, planned.signature or "", cause_shape(exc.reason))
                if cause in self._rejections:
                    item = self._rejections[cause]
                    raise SameCause(f"same cause as {item}: the model rejected the inputs with "
                                    f"{exc.reason[:200]!r}", item=item) from exc
                self._rejections[cause] = result.nodeid
            raise
        except Unrunnable as exc:
            # a signature that hangs (or cannot be fed) would do so in every other check of it: they are
            # skipped, naming this item
            why = (f"did not answer within {exc.fields.get('seconds', 0):g} s" if isinstance(exc, CallTimeout)
                   else "declares shapes over the size bound")
            self._record_cause(sides, result.nodeid, why)
            raise
        return result

    def _record_cause(self, sides: list[tuple[str, str]], item: str, why: str) -> None:
        for key in sides:
            self._causes.setdefault(key, (item, f"{key[1]!r} of {key[0]} {why}"))

    @staticmethod
    def _signatures_of(planned: PlannedCheck) -> list[tuple[str, str]]:
        """The (export, signature) pairs a check calls."""
        sides = [s for s in (planned.left, planned.right, planned.draw) if s is not None and s.export]
        keys = [(s.export, s.signature) for s in sides]
        if planned.export and planned.signature:
            keys.append((planned.export, planned.signature))
        return list(dict.fromkeys(keys))

    @staticmethod
    def new_result(planned: PlannedCheck, nodeid: str | None = None) -> CheckResult:
        return CheckResult(check=planned.check, item=planned.name, nodeid=nodeid or planned.nodeid,
                           model=planned.model, version=planned.version, signature=planned.signature or "",
                           pair=planned.pair or "",
                           samples=[] if planned.check in ("parity", "movement") else None)

    # ------------------------------------------------------------------ runners
    def side_signature(self, side: Side) -> SignatureSpec:
        return self.artifacts.by_collector(side.export).inspect().signature(side.signature)

    def target(self, side: Side, fixture_value: Any = None) -> Target:
        p = provider(side.path)
        export = self.artifacts.by_collector(side.export) if side.export else None
        target = Target(self.side_signature(side), ref=export.ref if export else None,
                        artifact=Path(side.artifact) if side.artifact else None, value=fixture_value,
                        fixture=str(self.settings.path_value(p.fixture_option) or "") if p.fixture_option else "",
                        method=side.method, name=side.name, settings=self.settings)
        if p.needs == "server":
            assert export is not None
            from dataclasses import replace

            target = replace(target, server=self.server(), model_name=export.server_name,
                             version=export.version if export.version is not None else 1)
        return target

    def new_runner(self, side: Side, fixture_value: Any = None) -> Runner:
        """A new runner for ``side`` (its own connection for served paths); the caller closes it."""
        p = provider(side.path)
        runner = p.open(self.target(side, fixture_value))
        if side.export and p.needs == "export":
            self._loaded.add(self.artifacts.by_collector(side.export).ref)
        return runner

    def runner(self, side: Side, fixture_value: Any = None) -> Runner:
        """The session's runner for ``side``, made once (paths fed by a user fixture: made for each check)."""
        if provider(side.path).needs == "fixture":
            return self.new_runner(side, fixture_value)
        if side not in self._runners:
            self._runners[side] = self.new_runner(side)
        return self._runners[side]

    def generation_signature(self, side: Side) -> SignatureSpec:
        """The signature of ``side`` with unknown-rank inputs made concrete (probed once on its raw path)."""
        from pytest_savedmodel.checks import concretize, probe_shapes

        sig = self.side_signature(side)
        key = (side.export, sig.key)
        if key not in self._shapes:
            shapes: dict[str, tuple[int | None, ...]] = {}
            if sig.parse_spec is not None:
                shapes[sig.parse_spec.input_alias] = (None,)
            if any(t.shape is None and a not in shapes for a, t in sig.inputs.items()):
                probe = Side("raw", side.export, sig.key)
                shapes.update(probe_shapes(self.runner(probe)))
            self._shapes[key] = shapes
        return concretize(sig, self._shapes[key])

    def one_row_only(self, side: Side) -> str | None:
        """Why ``side``'s signature fails for a batch of 2 though it declares a dynamic batch (probed once)."""
        from pytest_savedmodel.golden import probe_batch
        from pytest_savedmodel.runners.base import batches

        key = (side.export, side.signature)
        if key not in self._one_row:
            sig = self.generation_signature(side)
            self._one_row[key] = probe_batch(self.runner(side), sig) if batches(sig) else None
        return self._one_row[key]

    def batch_dependence(self, side: Side, label: str, tolerance: Any, *, domains: Any = None) -> str | None:
        """Why ``side``'s outputs for a row depend on the rest of the batch (probed once per signature on its raw
        path: 8 rows generated inside ``domains`` in one call, then each alone); None when each row's outputs are
        its own."""
        from pytest_savedmodel.bulk import bulk_batches
        from pytest_savedmodel.checks import check_batch_invariance
        from pytest_savedmodel.errors import ModelCheckFailure
        from pytest_savedmodel.runners.base import batches

        key = (side.export, side.signature)
        if key not in self._dependent:
            self._dependent[key] = None
            sig = self.generation_signature(side)
            if side.export and batches(sig) and self.one_row_only(side) is None:
                chunk = next(iter(bulk_batches(sig, rows=8, seed=0, digest="batch-dependence", domains=domains)), None)
                try:
                    if chunk is not None:
                        check_batch_invariance(label, self.runner(Side("raw", side.export, sig.key)), chunk, tolerance)
                except ModelCheckFailure as exc:
                    self._dependent[key] = str(exc).strip().splitlines()[0]
                except SavedModelError:
                    pass  # not about batches: the checks report it
        return self._dependent[key]

    def load_export(self, collector: str) -> None:
        """The load check of an export: inspect it, load it as TF Serving does, and find a callable signature."""
        from pytest_savedmodel.runners._session import load_session

        export = self.artifacts.by_collector(collector)
        spec = export.inspect()
        assert export.ref is not None
        load_session(export.ref)
        self._loaded.add(export.ref)
        if not spec.callable_signatures:
            raise UsageError(f"{export.label} has no callable signature (only {sorted(spec.signatures)})")

    # ------------------------------------------------------------------ generated inputs
    def prove(self, body: Any, strategy: Any, *, result: CheckResult, digest: str, examples: Any = (),
              bulk: Any = ()) -> None:
        from pytest_savedmodel.checks import run_property
        from pytest_savedmodel.heap import settle

        settle()  # a model loaded since the last check: keep the collector off it while inputs are drawn
        if self.hypothesis_home is None:
            self.hypothesis_home = self._tempdir("savedmodel-hypothesis-")
        try:
            run_property(body, strategy, database=self.database, home=self.hypothesis_home, seed=self.settings.seed,
                         stats=result, digest=digest, max_examples=self.settings.examples, examples=examples,
                         bulk=bulk)
        except ParityMismatch as exc:
            self._save_counterexample(exc, result)
            raise

    def _save_counterexample(self, exc: ParityMismatch, result: CheckResult) -> None:
        """Save the shrunk inputs as .npz and add the reproduce block to the failure."""
        from pytest_savedmodel.counterexample import file_name, reproduce_block, save_features

        features = exc.fields.get("features")
        if not features:
            return
        if self.counterexample_dir is None:
            self.counterexample_dir = Path(tempfile.mkdtemp(prefix="savedmodel-counterexamples-"))
        path = Path(self.counterexample_dir) / file_name(result.nodeid)
        try:
            save_features(path, features)
        except OSError as err:
            exc.add_note(f"(could not save the shrunk inputs to {path}: {err.strerror or err})")
            return
        runners = tuple(r for r in (exc.fields.get("left_runner"), exc.fields.get("right_runner")) if r is not None)
        exc.add_note(reproduce_block(path, features, runners, exc.fields.get("left_features")))
        result.counterexample = str(path)

    # ------------------------------------------------------------------ served paths
    def wants_server(self, planned: PlannedCheck) -> bool:
        """Whether ``planned`` asks the session's server for answers."""
        paths = [s.path for s in (planned.left, planned.right, planned.draw) if s is not None]
        paths += [planned.kind] if planned.kind in names() else []  # latency, concurrency, golden: their path
        return any(provider(p).needs == "server" for p in paths)

    def prestart_server(self, *, spare_only: bool = False) -> None:
        """Start the server now, in the background (``pytest_runtestloop``, when a selected check needs it); with
        ``spare_only``, only an emulator process that imports TensorFlow (``pytest_configure``: serving.spare)."""
        if self.serves:
            (self._serving.spare.start if spare_only else self._serving.prestart)()

    def server(self) -> Any:
        """The session's TF Serving, started once (see :class:`~pytest_savedmodel.serving.keeper.ServerKeeper`)."""
        return self._serving.get()

    def _start_server(self, spare: Any) -> Any:
        from pytest_savedmodel.serving.launcher import ServedModel
        from pytest_savedmodel.serving.shared import start_server

        models = [ServedModel(e.server_name, e.ref.path, e.ref.version if e.ref.version is not None else 1)
                  for e in self.artifacts.all() if e.ref is not None and e.error is None]
        # under pytest-xdist: one server for all workers of the run (serving.shared)
        return start_server(self.settings.server, models=models, log_dir=Path(self._tempdir("savedmodel-server-")),
                            startup_timeout=self.settings.server_timeout, tags=tuple(sorted(self.settings.tags)),
                            spare=spare)

    @property
    def started_server(self) -> Any:
        """The server if a check used it (None otherwise)."""
        return self._serving.used

    def server_gone(self, exc: RunnerError) -> RunnerError:
        """A served call failed: if the server died, say so with its exit status and log tail."""
        return self._serving.gone(exc)

    def unpaired(self, planned: PlannedCheck) -> str | None:
        """Why a parsing signature has no raw partner (None when it has one, or is not a parsing signature)."""
        export = self.artifacts.by_collector(planned.export)
        found = self.artifacts.pairing(export)
        return found.unpaired.get(planned.signature or "") if found is not None else None

    def baseline_side(self, planned: PlannedCheck) -> Side | None:
        """For a latency item: the same served path on the model's baseline, if it has the same signature."""
        export = self.artifacts.by_collector(planned.export)
        base = self.artifacts.baselines.get(export.model) if export.role == "savedmodel" else None
        if base is None or base.error is not None:
            return None
        try:
            base_sig = base.inspect().signatures.get(planned.signature or "")
            sig = export.inspect().signature(planned.signature or "")
        except SavedModelError:
            return None
        if base_sig is None or set(base_sig.inputs) != set(sig.inputs) or planned.right is None:
            return None
        return Side(planned.right.path, base.collector, base_sig.key)


def _import_server_start() -> None:
    """Import, in this thread, every module a server start imports (see ServerKeeper: no compiling in two threads)."""
    import contextlib
    import ctypes  # noqa: F401
    import difflib  # noqa: F401

    from pytest_savedmodel import _lazy, deadline  # noqa: F401
    from pytest_savedmodel.serving import client, launcher, shared  # noqa: F401

    with contextlib.suppress(ImportError):  # a missing serving API is reported by the start itself
        import fcntl  # noqa: F401

        import grpc  # noqa: F401
        from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc  # noqa: F401

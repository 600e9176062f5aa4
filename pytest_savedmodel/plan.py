"""The plan: which checks run, as plain data. Building it is pure: no model runs, no file is written.

A :class:`PlannedCheck` says where an item sits (collector and path, hence its
id), which catalogue check it runs, and on which paths (:class:`Side`). The
paths come from the providers in the registry: a path added there is planned
here without a change to this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pytest_savedmodel.artifacts import Artifact, Artifacts
from pytest_savedmodel.errors import SavedModelError
from pytest_savedmodel.planned import PlannedCheck, Side
from pytest_savedmodel.runners.base import Provider, batches, example_method, sendable_inputs
from pytest_savedmodel.runners.registry import path_options, providers
from pytest_savedmodel.settings import ModelArg, Settings
from pytest_savedmodel.spec import ModelSpec

__all__ = ["PlannedCheck", "Side", "build_plan", "check_owners"]


def check_owners(artifacts: Artifacts, settings: Settings) -> None:
    """Every ``[NAME=]PATH`` option of a path names a --savedmodel, every ``--savedmodel-pair`` two signatures
    that exist and can correspond (usage errors at start-up otherwise; only the pairs read ``saved_model.pb``)."""
    for opt in path_options():
        if opt.kind == "models" and opt.key != "parsing":
            for arg in settings.path_value(opt.key) or ():
                artifacts.owner(arg, opt.flag)
    artifacts.check_pairs()
    _check_budget_outputs(artifacts, settings)
    if settings.rollout:
        _check_rollout(artifacts, settings)


def _check_rollout(artifacts: Artifacts, settings: Settings) -> None:
    """--savedmodel-rollout needs a baseline and a server it starts over a directory of its own."""
    from pytest_savedmodel.errors import UsageError
    from pytest_savedmodel.serving.modes import parse_mode

    kind = parse_mode(settings.server)[0]
    if kind in ("docker", "url", "none"):
        raise UsageError(f"--savedmodel-rollout needs a server it starts itself over a model directory it owns "
                         f"(--savedmodel-server=emulator, binary or auto), not {kind}: Docker binds fixed version "
                         f"directories, a url: server is not ours to reload, none serves nothing")
    if not artifacts.baselines:
        raise UsageError("--savedmodel-rollout needs --savedmodel-baseline: the model in production the candidate "
                         "rolls in over")


def _check_budget_outputs(artifacts: Artifacts, settings: Settings) -> None:
    """Every output named in --savedmodel-baseline-max-moved is an output of a model that has a baseline."""
    import difflib

    from pytest_savedmodel.errors import SavedModelError, UsageError

    named = [(o, share) for o, share in settings.baseline_max_moved if o is not None]
    if not named:
        return
    if not artifacts.baselines:
        raise UsageError("--savedmodel-baseline-max-moved needs --savedmodel-baseline (the model in production to "
                         "measure movement against)")
    outputs: set[str] = set()
    for model in artifacts.baselines:
        anchor = artifacts.anchor(model)
        try:
            sigs = anchor.inspect().callable_signatures if anchor is not None else {}
        except SavedModelError:
            return  # the load item reports it
        outputs |= {o for sig in sigs.values() for o in sig.outputs}
    for output, share in named:
        if output not in outputs:
            close = difflib.get_close_matches(output, sorted(outputs), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"--savedmodel-baseline-max-moved={output}={share:g}: no model with a baseline has an "
                             f"output {output!r}.{hint} Outputs: {', '.join(sorted(outputs))}")


class _Planner:
    def __init__(self, artifacts: Artifacts, settings: Settings, locked: dict[str, Any] | None) -> None:
        self.a, self.s, self.locked = artifacts, settings, locked
        self.providers = providers()

    def want(self, check: str) -> bool:
        return check in self.s.checks

    def on(self, p: Provider) -> bool:
        """The path is asked for: by default, by its option, or (served) by the server mode."""
        if not p.enabled(self.s):
            return False
        return p.default_on or p.needs == "server" or bool(p.option and self.s.path_value(p.option))

    def applies(self, p: Provider, spec: ModelSpec) -> bool:
        """The path applies to this export, or its option asks for it where it would not by default."""
        return p.applies(spec) is None or bool(p.option and self.s.path_value(p.option))

    def spec(self, e: Artifact) -> ModelSpec | None:
        try:
            return e.inspect()
        except SavedModelError:
            return None  # the load item reports it

    def artifacts_of(self, p: Provider, model: str) -> list[ModelArg | None]:
        key = p.artifacts_from or (p.option if p.needs == "artifact" else None)
        if key is None:
            return [None]
        return [arg for arg in self.s.path_value(key) or () if self.a.owner(arg, "") == model]

    # ------------------------------------------------------------------ the whole plan
    def plan(self) -> list[PlannedCheck]:
        out: list[PlannedCheck] = []
        for e in self.a.exports:
            out += self.export(e)
        for anchor in self.a.anchors():
            for p in self.providers:
                if p.own_collector and self.on(p):
                    out += self.own(p, anchor)
        for anchor in self.a.anchors():
            out += self.contract(anchor)
        for model, base in self.a.baselines.items():
            out += self.baseline(model, base)
        return [p if p.version is not None else replace(p, version=self.version_of(p)) for p in out]

    def version_of(self, p: PlannedCheck) -> int | None:
        """An item's version for the summary: its export's, else (a checkpoint, a frozen graph, a pair across
        two exports) the version of the model's anchor SavedModel it is compared with."""
        try:
            version = self.a.by_collector(p.export).version if p.export else None
        except StopIteration:  # not an export of this run
            version = None
        if version is None:
            anchor = self.a.anchor(p.model.split(":")[0])
            version = anchor.version if anchor is not None else None
        return version

    def export(self, e: Artifact) -> Iterator[PlannedCheck]:
        col = e.collector
        info: dict[str, Any] = {"model": e.model, "version": e.version, "export": e.collector}
        yield PlannedCheck(col, ("load",), "load", **info)
        spec = self.spec(e)
        if spec is None:
            return
        served = [p for p in self.providers if p.needs == "server" and self.on(p)]
        for sig in self.a.signatures(spec):
            key = sig.key
            sinfo: dict[str, Any] = {**info, "signature": sig.key}
            me = Side("raw", col, key, name=None if e.role == "savedmodel" else e.role)
            for check in ("signature", "outputs", "finite", "determinism", "batch", "domain"):
                if self.want(check) and (check != "batch" or batches(sig)) and (check != "domain" or (
                        sig.domains and sig.parse_spec is None)):
                    yield PlannedCheck(col, (key, check), check, **sinfo, right=me)
            if sig.inputs and sendable_inputs(sig) is None:
                for check in ("latency", "concurrency"):
                    if self.want(check):
                        for p in served:
                            yield PlannedCheck(col, (key, f"{check}[{p.name}]"), check, **sinfo, pair=p.name,
                                               right=_side(p, col, key), kind=p.name)
            if not self.want("parity"):
                continue
            for p in self.providers:
                if p.own_collector or p.needs not in ("export", "server") or p.name in ("raw", "parsing") \
                        or not self.on(p) or (e.role != "savedmodel" and not p.on_twins) or not self.applies(p, spec):
                    continue
                if p.accepts(sig) is None:
                    pair = f"{me.word}~{p.name}"
                    yield PlannedCheck(col, (key, f"parity[{pair}]"), "parity", **sinfo, pair=pair, left=me,
                                       right=_side(p, col, key), draw=me)
                method = example_method(sig)
                if method is not None and method in p.methods:
                    pair = f"parsing~{p.name}-{method}"
                    yield PlannedCheck(col, (key, f"parity[{pair}]"), "parity", **sinfo, pair=pair, feed="examples",
                                       left=Side("parsing", col, key), right=_side(p, col, key, method=method))
        yield from self.signature_pairs(e, spec)
        if e.role != "savedmodel":
            yield from self.twin_pairs(e, spec)

    def signature_pairs(self, e: Artifact, spec: ModelSpec) -> Iterator[PlannedCheck]:
        """parse_spec[raw~parsing:P] and parity[raw~parsing:P] under raw signature R: two signatures of one export
        (see :mod:`pytest_savedmodel.pairs`)."""
        pairing = self.a.pairing(e)
        for pair in pairing.pairs if pairing is not None else ():
            raw, parsing = spec.signatures[pair.raw], spec.signatures[pair.parsing]
            assert parsing.parse_spec is not None
            left, right = Side("raw", e.collector, raw.key), Side("parsing", e.collector, parsing.key)
            common: dict[str, Any] = {"model": e.model, "version": e.version, "signature": raw.key,
                                      "pair": pair.word, "export": e.collector, "left": left, "right": right}
            if self.want("parse_spec"):
                yield PlannedCheck(e.collector, (raw.key, f"parse_spec[{pair.word}]"), "parse_spec", **common)
            if self.want("parity"):
                optional = tuple(f.key for f in parsing.parse_spec.features if f.key in raw.inputs
                                 and f.default is not None and f.key in self.s.training_defaults)
                yield PlannedCheck(e.collector, (raw.key, f"parity[{pair.word}]"), "parity", **common,
                                   optional=optional, fill_defaults=True, draw=left)

    def twin_pairs(self, twin: Artifact, spec: ModelSpec) -> Iterator[PlannedCheck]:
        """parse_spec[raw~parsing] and parity[raw~parsing]: the parsing export against its anchor."""
        anchor = self.a.anchor(twin.model)
        anchor_spec = self.spec(anchor) if anchor is not None else None
        if anchor is None or anchor_spec is None:
            return
        for sig in self.a.signatures(spec):
            raw_sig = self.a.anchor_partner(anchor_spec, sig)
            if raw_sig is None or sig.parse_spec is None:
                continue
            pair = f"raw~{twin.role}"
            common: dict[str, Any] = {"model": twin.model, "signature": sig.key, "pair": pair, "export": twin.collector,
                      "left": Side("raw", anchor.collector, raw_sig.key),
                      "right": Side("parsing", twin.collector, sig.key, name=twin.role)}
            if self.want("parse_spec"):
                yield PlannedCheck(twin.collector, (sig.key, f"parse_spec[{pair}]"), "parse_spec", **common)
            if self.want("parity"):
                optional = tuple(f.key for f in sig.parse_spec.features if f.key in raw_sig.inputs
                                 and f.default is not None and f.key in self.s.training_defaults)
                yield PlannedCheck(twin.collector, (sig.key, f"parity[{pair}]"), "parity", **common,
                                   optional=optional, fill_defaults=True, draw=common["left"])

    def own(self, p: Provider, anchor: Artifact) -> Iterator[PlannedCheck]:
        """A path of its own collector (``savedmodel:NAME:PATH``): checkpoint, frozen, freeze, reference..."""
        col, model = f"{anchor.collector}:{p.name}", anchor.model
        fixture = self.s.path_value(p.fixture_option) if p.fixture_option else None
        base: dict[str, Any] = {"model": f"{model}:{p.name}", "export": anchor.collector, "fixture": fixture}
        spec = self.spec(anchor)
        sigs = [s for s in self.a.signatures(spec) if p.accepts(s) is None] if spec is not None else []
        for arg in self.artifacts_of(p, model):
            artifact = str(arg.root / arg.path) if arg is not None else None
            if p.load_item and not fixture and self.want("load"):
                first = sigs[0].key if sigs else ""
                yield PlannedCheck(col, ("load",), "load", model=base["model"], export=anchor.collector,
                                   right=_side(p, anchor.collector, first, artifact))
            if spec is None or not self.want("parity"):
                continue
            for sig in sigs:
                mine = _side(p, anchor.collector, sig.key, artifact)
                raw = Side("raw", anchor.collector, sig.key)
                if not p.leads:
                    pair = f"raw~{p.name}"
                    yield PlannedCheck(col, (sig.key, f"parity[{pair}]"), "parity", **base, signature=sig.key,
                                       pair=pair, left=raw, right=mine, draw=raw)
                    continue
                pair = f"{p.name}~raw"
                yield PlannedCheck(col, (sig.key, f"parity[{pair}]"), "parity", **base, signature=sig.key, pair=pair,
                                   left=mine, right=raw, draw=raw)
                for twin in self.a.twins(model):
                    twin_sig = self.a.parsing_twin(twin, sig)
                    if twin_sig is None or twin_sig.parse_spec is None:
                        continue
                    pair = f"{p.name}~{twin.role}"
                    optional = tuple(f.key for f in twin_sig.parse_spec.features
                                     if f.key in sig.inputs and (f.default is not None or f.kind != "fixed"))
                    yield PlannedCheck(col, (sig.key, f"parity[{pair}]"), "parity", **base, signature=sig.key,
                                       pair=pair, left=mine, optional=optional, draw=raw,
                                       right=Side("parsing", twin.collector, twin_sig.key, name=twin.role))

    # ------------------------------------------------------------------ contract lock, golden, baseline
    def contract(self, anchor: Artifact) -> Iterator[PlannedCheck]:
        lock = self.s.contract
        if not (self.want("contract") or self.want("golden")) or anchor.error is not None:
            return
        if lock is None or not (lock.is_file() or self.s.update_contract or self.s.forbid_ops):
            return
        info: dict[str, Any] = {"model": anchor.model, "export": anchor.collector}
        if self.want("contract"):
            yield PlannedCheck(anchor.collector, ("contract",), "contract", **info, version=anchor.version)
        if not self.want("golden"):
            return
        spec = self.spec(anchor)
        if self.s.update_contract:  # the lock is written when the items run: plan what it will hold
            keys = sorted(k for k, s in (spec.callable_signatures.items() if spec else ())
                          if s.inputs and sendable_inputs(s) is None)
        else:
            keys = sorted((self.locked or {}).get(anchor.model, {}).get("golden", {}))
        same = self.a.same_signatures(spec) if spec is not None else {}
        keys = [k for k in keys if same.get(k) not in keys]  # identical signatures: replayed once
        for key in keys:
            for side in self.golden_sides(anchor, spec, key):
                yield PlannedCheck(anchor.collector, (key, f"golden[{side.word}]"), "golden", **info, signature=key,
                                   pair=f"locked~{side.word}", right=side, kind=side.word)

    def golden_sides(self, anchor: Artifact, spec: ModelSpec | None, key: str) -> list[Side]:
        """Every path the locked golden inputs of ``key`` can be replayed on."""
        col = anchor.collector
        sides = [Side("raw", col, key)]
        sig = spec.signatures.get(key) if spec is not None else None
        if sig is None or spec is None:
            return sides  # the contract item reports the missing signature; replay says it too
        for twin in self.a.twins(anchor.model):
            twin_sig = self.a.parsing_twin(twin, sig)
            if twin_sig is not None:
                sides.append(Side("parsing", twin.collector, twin_sig.key, name=twin.role))
        for p in self.providers:
            if not p.golden or p.name in ("raw", "parsing") or p.fixture_option or not self.on(p) \
                    or p.accepts(sig) is not None or not self.applies(p, spec) or sendable_inputs(sig) is not None:
                continue
            args = self.artifacts_of(p, anchor.model)[:1]
            for arg in args:
                sides.append(_side(p, col, key, str(arg.root / arg.path) if arg is not None else None))
        return sides

    def baseline(self, model: str, base: Artifact) -> Iterator[PlannedCheck]:
        anchor = self.a.anchor(model)
        assert anchor is not None
        col = base.collector
        info: dict[str, Any] = {"model": f"{model}:baseline", "export": base.collector}
        yield PlannedCheck(col, ("load",), "load", **info)
        yield PlannedCheck(col, ("contract",), "contract", **info, left=Side("raw", base.collector),
                           right=Side("raw", anchor.collector))
        spec, bspec = self.spec(anchor), self.spec(base)
        if spec is None or bspec is None or not self.want("movement"):
            return
        rolled = False
        for sig in self.a.signatures(spec):
            old = bspec.signatures.get(sig.key)
            if old is None or not sig.inputs or set(old.inputs) != set(sig.inputs):
                continue
            if self.s.rollout and self.want("rollout") and not rolled and sendable_inputs(sig) is None:
                rolled = True  # one deploy per model, through its first signature clients can call
                yield PlannedCheck(col, (sig.key, "rollout[grpc]"), "rollout", **info, signature=sig.key,
                                   left=Side("raw", base.collector, sig.key, name="baseline"),
                                   right=Side("raw", anchor.collector, sig.key))
            yield PlannedCheck(col, (sig.key, "movement[baseline~raw]"), "movement", **info, signature=sig.key,
                               pair="baseline~raw", left=Side("raw", base.collector, sig.key, name="baseline"),
                               right=Side("raw", anchor.collector, sig.key))


def _side(p: Provider, export: str, signature: str, artifact: str | None = None, method: str = "predict") -> Side:
    """Provider ``p`` on ``signature`` of ``export``: its registry key opens it, its name shows in ids."""
    key = p.key or p.name
    return Side(key, export, signature, artifact, method, name=p.name if p.name != key else None)


def build_plan(artifacts: Artifacts, settings: Settings, locked: dict[str, Any] | None = None) -> list[PlannedCheck]:
    """Every check for every artifact, in a stable order. ``locked``: the lock's models, if a lock exists."""
    return _Planner(artifacts, settings, locked).plan()

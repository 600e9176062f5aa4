"""The artifacts a run gates: each ``--savedmodel`` (the anchor of its NAME), its parsing twins and its baseline.

Locating reads directories only; inspecting reads ``saved_model.pb`` (TF's
protobuf classes). Neither loads variables nor runs a graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_savedmodel._names import id_part
from pytest_savedmodel.errors import SavedModelError, UsageError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.settings import ModelArg, Settings
from pytest_savedmodel.spec import ModelRef, ModelSpec, SignatureSpec

__all__ = ["Artifact", "Artifacts"]


@dataclass
class Artifact:
    """One exported SavedModel of a model: the anchor (``savedmodel``), a ``parsing`` twin or the ``baseline``."""

    model: str
    role: str
    arg: ModelArg
    ref: ModelRef | None = None
    spec: ModelSpec | None = None
    error: SavedModelError | None = None

    @property
    def collector(self) -> str:
        """``savedmodel:NAME[:ROLE]``, the name as :func:`~pytest_savedmodel._names.id_part` writes it in ids."""
        name = id_part(self.model)
        return f"savedmodel:{name}" if self.role == "savedmodel" else f"savedmodel:{name}:{self.role}"

    @property
    def label(self) -> str:
        return self.ref.label() if self.ref else self.model

    @property
    def version(self) -> int | None:
        return self.ref.version if self.ref else None

    @property
    def server_name(self) -> str:
        """The name TF Serving serves it under."""
        return self.model if self.role == "savedmodel" else f"{self.model}-{self.role}"

    def inspect(self) -> ModelSpec:
        """Inspect once; a failure is kept and re-raised by every check of this artifact."""
        if self.error is not None:
            raise self.error
        if self.spec is None:
            from pytest_savedmodel.signatures import inspect_model

            assert self.ref is not None
            try:
                self.spec = inspect_model(self.ref)
            except SavedModelError as exc:
                self.error = exc
                raise
        return self.spec


class Artifacts:
    """Every artifact named in ``settings``, located once (usage errors at start-up)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.exports: list[Artifact] = []
        names: set[str] = set()
        for arg in settings.models:
            self.exports.append(self._locate(arg, "savedmodel", None))
            if self.exports[-1].model in names:
                raise UsageError(f"--savedmodel: two models are named {self.exports[-1].model!r}; name them with "
                                 f"NAME=DIR, e.g. --savedmodel=prod={arg.path}")
            names.add(self.exports[-1].model)
        first = self.exports[0].model if self.exports else None
        for arg in settings.parsing:
            owner = arg.name or first
            if arg.name and arg.name not in names:
                raise UsageError(f"--savedmodel-parsing={arg.name}={arg.path}: no --savedmodel named {arg.name!r}; "
                                 f"models: {', '.join(sorted(names)) or '(none)'}")
            self.exports.append(self._locate(arg, "parsing", owner))
        self.baselines: dict[str, Artifact] = {}
        for arg in settings.baselines:
            owner = self.owner(arg, "--savedmodel-baseline", show_name=False)
            if owner in self.baselines:
                raise UsageError(f"--savedmodel-baseline: model {owner!r} has two baselines; give one per model")
            base = self._locate(arg, "baseline", owner)
            base.role, base.model = "baseline", owner
            self.baselines[owner] = base

    def _locate(self, arg: ModelArg, role: str, owner: str | None) -> Artifact:
        name = owner if role != "savedmodel" and owner else arg.name
        s = self.settings
        try:
            ref = find_model(arg.path, name=name, version=s.version, tags=s.tags, root=arg.root)
        except SavedModelError as exc:
            return Artifact(name or arg.path.rstrip("/").split("/")[-1] or "model", role, arg, error=exc)
        # a parsing export given alone is gated as a model of its own
        return Artifact(ref.name, role if owner else "savedmodel", arg, ref=ref)

    # ------------------------------------------------------------------ who belongs to whom
    def anchors(self) -> list[Artifact]:
        return [e for e in self.exports if e.role == "savedmodel"]

    def anchor(self, model: str) -> Artifact | None:
        return next((e for e in self.anchors() if e.model == model), None)

    def twins(self, model: str) -> list[Artifact]:
        return [e for e in self.exports if e.role != "savedmodel" and e.model == model]

    def all(self) -> list[Artifact]:
        return [*self.exports, *self.baselines.values()]

    def by_collector(self, collector: str) -> Artifact:
        return next(e for e in self.all() if e.collector == collector)

    def owner(self, arg: ModelArg, flag: str, *, show_name: bool = True) -> str:
        """The model an artifact option belongs to: its NAME=, else the first --savedmodel (usage error if none)."""
        names = [e.model for e in self.anchors()]
        owner = arg.name or (names[0] if names else None)
        if owner not in names:
            given = f"{flag}={arg.name + '=' if arg.name and show_name else ''}{arg.path}"
            raise UsageError(f"{given}: " + (f"no --savedmodel named {owner!r}; models: {', '.join(names)}" if names
                                             else "give the SavedModel it should agree with, with --savedmodel=DIR"))
        return owner

    def signatures(self, spec: ModelSpec) -> list[SignatureSpec]:
        """The signatures to check: ``--savedmodel-signature`` (each must exist), else every callable one."""
        sigs = spec.callable_signatures
        if self.settings.signatures:
            for key in self.settings.signatures:
                spec.signature(key)  # raises SignatureNotFound listing what exists
            return [sigs[k] for k in self.settings.signatures if k in sigs]
        return [sigs[k] for k in sorted(sigs)]

    @staticmethod
    def parsing_twin(twin: Artifact, raw_sig: SignatureSpec) -> SignatureSpec | None:
        """The signature of a parsing export that takes ``raw_sig``'s inputs as tf.Example features."""
        if raw_sig.parse_spec is not None or not raw_sig.inputs:
            return None
        try:
            spec = twin.inspect()
        except SavedModelError:
            return None
        for sig in (spec.signatures.get(raw_sig.key), spec.signatures.get("serving_default"),
                    *sorted(spec.callable_signatures.values(), key=lambda s: s.key)):
            if (sig is not None and sig.parse_spec is not None and set(raw_sig.inputs) <= set(sig.parse_spec.keys)
                    and set(raw_sig.outputs) & set(sig.outputs)):
                return sig
        return None

"""The artifacts a run gates: each ``--savedmodel`` (the anchor of its NAME), its parsing twins and its baseline.

Locating reads directories only; inspecting reads ``saved_model.pb`` (TF's
protobuf classes). Neither loads variables nor runs a graph. Which signatures of
an export are checked, and which of them pair (raw~parsing inside one SavedModel,
identical ones tested once), comes from :mod:`pytest_savedmodel.pairs`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from pytest_savedmodel._names import id_part
from pytest_savedmodel.errors import SavedModelError, UsageError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.pairs import Pairing, SignaturePair, explicit_pair, identical, pairing
from pytest_savedmodel.settings import ModelArg, PairArg, Settings
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
            self._not_the_anchor(self.exports[-1], owner)
        self.baselines: dict[str, Artifact] = {}
        for arg in settings.baselines:
            owner = self.owner(arg, "--savedmodel-baseline", show_name=False)
            if owner in self.baselines:
                raise UsageError(f"--savedmodel-baseline: model {owner!r} has two baselines; give one per model")
            base = self._locate(arg, "baseline", owner)
            base.role, base.model = "baseline", owner
            self.baselines[owner] = base
        self._pairings: dict[str, Pairing | None] = {}

    def _not_the_anchor(self, twin: Artifact, owner: str | None) -> None:
        """A parsing export that is the very SavedModel of its --savedmodel: a usage error (it checks all twice)."""
        anchor = self.anchor(owner) if owner else None
        if anchor is None or twin.role == "savedmodel":
            return

        def where(e: Artifact) -> object:
            return e.ref.path.resolve() if e.ref is not None else (e.arg.root / e.arg.path).resolve()

        if where(anchor) == where(twin):
            given = f"{twin.arg.name + '=' if twin.arg.name else ''}{twin.arg.path}"
            raise UsageError(
                f"--savedmodel-parsing={given} is the same SavedModel as --savedmodel="
                f"{anchor.arg.name + '=' if anchor.arg.name else ''}{anchor.arg.path} ({where(anchor)}): every "
                f"check would run twice. Drop --savedmodel-parsing and rely on the pairing inside one SavedModel: "
                f"its raw and tf.Example-parsing signatures are paired automatically (items "
                f"parity[raw~parsing:SIGNATURE]); name a pair the rule does not find with "
                f"--savedmodel-pair=RAWSIG~PARSINGSIG")

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
        """The signatures to check: ``--savedmodel-signature`` (each must exist), else every callable one, a
        signature that is the same function as another tested once (see :func:`~pytest_savedmodel.pairs.identical`)."""
        sigs = spec.callable_signatures
        if self.settings.signatures:
            for key in self.settings.signatures:
                spec.signature(key)  # raises SignatureNotFound listing what exists
            return [sigs[k] for k in self.settings.signatures if k in sigs]
        same = identical(sigs)
        return [sigs[k] for k in sorted(sigs) if k not in same]

    def same_signatures(self, spec: ModelSpec) -> dict[str, str]:
        """Each signature not tested because it is the same function as another -> that one."""
        return {} if self.settings.signatures else identical(spec.callable_signatures)

    # ------------------------------------------------------------------ pairs of signatures inside one export
    def pair_model(self, arg: PairArg) -> Artifact:
        """The --savedmodel a ``--savedmodel-pair`` belongs to (a usage error naming the models if none)."""
        anchors = {e.model: e for e in self.anchors()}
        name = arg.model or next(iter(anchors), None)
        if name not in anchors:
            close = difflib.get_close_matches(arg.model or "", list(anchors), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"{arg.text}: " + (f"no --savedmodel named {name!r}.{hint} Models: "
                                                f"{', '.join(anchors)}" if anchors else
                                                "give the SavedModel whose signatures it pairs, with --savedmodel=DIR"))
        return anchors[name]

    def explicit_pairs(self, export: Artifact) -> list[SignaturePair]:
        """The export's ``--savedmodel-pair`` pairs, checked against its signatures (usage errors); none for an
        export that cannot be inspected (its load item says why)."""
        args = [a for a in self.settings.pairs if export.role == "savedmodel" and self.pair_model(a) is export]
        if not args:
            return []
        try:
            sigs = export.inspect().callable_signatures
        except SavedModelError:
            return []
        return [explicit_pair(a.text, export.model, a.raw, a.parsing, sigs) for a in args]

    def check_pairs(self) -> None:
        """Every ``--savedmodel-pair`` names signatures that exist and can correspond (at start-up)."""
        for arg in self.settings.pairs:
            self.pair_model(arg)
        if self.settings.pairs:
            for e in self.anchors():
                self.explicit_pairs(e)

    def _twin_unpaired(self, found: Pairing, spec: ModelSpec, anchor: Artifact) -> None:
        """A parsing twin's signatures are compared with the anchor's raw one: unpaired only if not that either."""
        anchor_spec = self._spec(anchor)
        for key in list(found.unpaired) if anchor_spec is not None else ():
            assert anchor_spec is not None
            sig = spec.signatures[key]
            raw = anchor_spec.signatures.get(key) or anchor_spec.signatures.get("serving_default")
            if self.anchor_partner(anchor_spec, sig) is not None:
                del found.unpaired[key]
            elif raw is None:
                found.unpaired[key] += f"; --savedmodel {anchor.model} has no {key} nor serving_default"
            elif raw.parse_spec is not None:
                found.unpaired[key] += f"; {raw.key} of --savedmodel {anchor.model} parses tf.Examples"
            else:
                found.unpaired[key] += (f"; {raw.key} of --savedmodel {anchor.model}: no output name in common "
                                        f"({', '.join(sorted(raw.outputs))} / {', '.join(sorted(sig.outputs))})")

    @staticmethod
    def _spec(e: Artifact) -> ModelSpec | None:
        try:
            return e.inspect()
        except SavedModelError:
            return None

    def pairing(self, export: Artifact) -> Pairing | None:
        """The export's identical signatures and raw~parsing pairs (None if it cannot be inspected)."""
        if export.collector not in self._pairings:
            try:
                spec = export.inspect()
            except SavedModelError:
                self._pairings[export.collector] = None
                return None
            found = pairing(self.signatures(spec), same=self.same_signatures(spec),
                            explicit=self.explicit_pairs(export))
            anchor = self.anchor(export.model) if export.role != "savedmodel" else None
            if anchor is not None:
                self._twin_unpaired(found, spec, anchor)
            self._pairings[export.collector] = found
        return self._pairings[export.collector]

    @staticmethod
    def anchor_partner(anchor_spec: ModelSpec, twin_sig: SignatureSpec) -> SignatureSpec | None:
        """The anchor's raw signature a parsing twin's signature is compared with: the same key, else
        ``serving_default``, if it is raw and shares an output name."""
        raw_sig = anchor_spec.signatures.get(twin_sig.key) or anchor_spec.signatures.get("serving_default")
        if twin_sig.parse_spec is None or raw_sig is None or raw_sig.parse_spec is not None \
                or not set(raw_sig.outputs) & set(twin_sig.outputs):
            return None
        return raw_sig

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

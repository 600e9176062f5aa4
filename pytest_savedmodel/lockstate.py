"""The session's side of the contract lock: read it, write it (only when a check runs), and the entries the
contract and golden checks compare. A base class of :class:`~pytest_savedmodel.session.Session`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_savedmodel.errors import SavedModelError
from pytest_savedmodel.planned import PlannedCheck, Side
from pytest_savedmodel.runners.base import sendable_inputs

if TYPE_CHECKING:
    from pytest_savedmodel.artifacts import Artifact, Artifacts
    from pytest_savedmodel.runners.base import Runner
    from pytest_savedmodel.settings import Settings
    from pytest_savedmodel.spec import SignatureSpec

__all__ = ["LockedContract"]


class LockedContract:
    """Lock reading and writing, live lock entries, the contract and golden checks' inputs."""

    settings: Settings
    artifacts: Artifacts
    _lock_written: bool

    def runner(self, side: Side, fixture_value: Any = None) -> Runner:
        raise NotImplementedError

    def generation_signature(self, side: Side) -> SignatureSpec:
        raise NotImplementedError

    def read_lock(self) -> dict[str, Any] | None:
        """The lock's models (writing it first with --savedmodel-update-contract); None without a lock."""
        from pytest_savedmodel.lock import read_lock

        path = self.settings.contract
        if path is None:
            return None
        self._write_lock_once()
        return read_lock(path) if path.is_file() else None

    def _read_lock_quietly(self) -> dict[str, Any] | None:
        """The lock as it is now, for planning: never written, and a broken lock is left to the contract item."""
        from pytest_savedmodel.lock import read_lock

        path = self.settings.contract
        if path is None or not path.is_file():
            return None
        try:
            return read_lock(path)
        except SavedModelError:
            return None

    def _write_lock_once(self) -> None:
        """--savedmodel-update-contract: write the lock from the live models, once, when the first check needs it."""
        from pytest_savedmodel.lock import read_lock, write_lock

        path = self.settings.contract
        if path is None or not self.settings.update_contract or self._lock_written:
            return
        models = read_lock(path) if path.is_file() else {}
        for export in self.artifacts.anchors():
            if export.error is None:
                models[export.model] = self.live_entry(export, golden=True)
        write_lock(path, models)
        self._lock_written = True

    def live_entry(self, export: Artifact, *, golden: bool) -> dict[str, Any]:
        """What the lock would hold for ``export`` now (golden examples made on its raw path if asked)."""
        from pytest_savedmodel.compare import Tolerance
        from pytest_savedmodel.golden import make_golden
        from pytest_savedmodel.lock import model_entry

        spec = export.inspect()
        gold: dict[str, Any] = {}
        if golden:
            tolerance = Tolerance(self.settings.rtol, self.settings.atol)
            for sig in spec.callable_signatures.values():
                if sig.inputs and sendable_inputs(sig) is None:
                    side = Side("raw", export.collector, sig.key)
                    g = make_golden(self.runner(side), self.generation_signature(side), tolerance)
                    if g is not None:
                        gold[sig.key] = g
        return model_entry(spec, golden=gold)

    def contract_entries(self, planned: PlannedCheck) -> tuple[dict[str, Any], dict[str, Any], str, str]:
        """(old entry, new entry, what it is compared against, the model's label) for a contract item."""
        from pytest_savedmodel.lock import locked_model

        if planned.left is not None:  # the baseline's contract item: production (left) against the candidate
            base = self.artifacts.by_collector(planned.left.export)
            assert planned.right is not None
            anchor = self.artifacts.by_collector(planned.right.export)
            return (self.live_entry(base, golden=False), self.live_entry(anchor, golden=False),
                    f"the baseline {base.label}", anchor.label)
        export = self.artifacts.by_collector(planned.export)
        lock = self.read_lock()
        live = self.live_entry(export, golden=False)
        path = self.settings.contract
        if lock is None or export.model not in lock:  # no lock (or not in it: a risk, see not_in_lock): the op ban
            return live, live, "--savedmodel-forbid-ops", export.label
        assert path is not None
        return locked_model(lock, export.model, path), live, f"the contract lock {path}", export.label

    def not_in_lock(self, planned: PlannedCheck) -> str | None:
        """Why a contract item has no lock entry to compare with: a model added since the lock was written."""
        lock = self.read_lock() if planned.left is None else None
        if lock is None:
            return None
        export = self.artifacts.by_collector(planned.export)
        if export.model in lock:
            return None
        return (f"model {export.model!r} is not in the contract lock {self.settings.contract} (it locks: "
                f"{', '.join(sorted(lock)) or 'none'}); run with --savedmodel-update-contract to add it")

    def golden_examples(self, planned: PlannedCheck) -> tuple[dict[str, Any], str]:
        """The locked golden examples of a golden item's signature, and where they are in the lock."""
        export = self.artifacts.by_collector(planned.export)
        lock = self.read_lock() or {}
        key = planned.signature or ""
        export.inspect().signature(key)  # a signature gone since the lock: say so, listing what exists
        golden = lock.get(export.model, {}).get("golden", {}).get(key)
        return golden or {}, f"{self.settings.contract}: models.{export.model}.golden.{key}"

    def allowed_renames(self, planned: PlannedCheck) -> tuple[dict[str, str], dict[str, str]]:
        """Inputs and outputs of a golden item's signature renamed since the lock under a rule the user allowed
        (``--savedmodel-allow=OUTPUT_RENAMED``): locked name -> name now, so golden compares under the new name."""
        from pytest_savedmodel.drift import diff_entries
        from pytest_savedmodel.lock import locked_model

        allowed = self.settings.allow & {"INPUT_RENAMED", "OUTPUT_RENAMED"}
        lock = self.read_lock() if allowed else None
        export = self.artifacts.by_collector(planned.export)
        if lock is None or export.model not in lock or self.settings.contract is None:
            return {}, {}
        old = locked_model(lock, export.model, self.settings.contract)
        renamed: dict[str, dict[str, str]] = {"INPUT_RENAMED": {}, "OUTPUT_RENAMED": {}}
        for c in diff_entries(old, self.live_entry(export, golden=False)):
            if c.rule in allowed and c.signature == planned.signature:
                renamed[c.rule][str(c.old)] = str(c.new)
        return renamed["INPUT_RENAMED"], renamed["OUTPUT_RENAMED"]

    def has_baseline(self, planned: PlannedCheck) -> bool:
        """True when the item's model has a --savedmodel-baseline (then the baseline is the behavioural reference)."""
        export = self.artifacts.by_collector(planned.export)
        return export.model in self.artifacts.baselines

    def contract_summary(self) -> dict[str, Any]:
        """Per export: its signatures, parse specs, tag-sets and op count, as the lock writes them (for reports)."""
        from pytest_savedmodel.lock import model_entry

        out: dict[str, Any] = {}
        for export in self.artifacts.all():
            try:
                entry = model_entry(export.inspect())
            except SavedModelError as exc:
                out[export.collector] = {"error": str(exc).splitlines()[0]}
                continue
            entry.pop("golden", None)
            entry["path"] = str(export.ref.path) if export.ref else None
            out[export.collector] = entry
        return out

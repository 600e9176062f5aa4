"""What a check runs on: :class:`CheckContext`. The session fills it; unit tests give fake runners.

    ctx = CheckContext(planned, Settings(), runners={"raw": FakeRunner(sig, f), "grpc": FakeRunner(sig, g)},
                       signature=sig)
    run_check(ctx)            # raises a Finding when the paths disagree; ctx.result holds the figures
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_savedmodel.errors import RunnerError
from pytest_savedmodel.results import CheckResult

if TYPE_CHECKING:
    from pytest_savedmodel.compare import Tolerance
    from pytest_savedmodel.planned import PlannedCheck, Side
    from pytest_savedmodel.runners.base import Runner
    from pytest_savedmodel.spec import Features, SignatureSpec

__all__ = ["CheckContext"]


@dataclass
class CheckContext:
    """What a check runs on: its plan, runners by side, the signature, generation and the session (if any).

    The session fills every field; a unit test gives ``settings``, ``runners`` (by side word: ``raw``,
    ``grpc``...) and ``signature``, and generation and Hypothesis' defaults do the rest.
    """

    planned: PlannedCheck
    settings: Any  # a Settings (the tolerance, batch size, examples and defaults come from it)
    result: CheckResult = field(default_factory=CheckResult)
    signature: SignatureSpec | None = None  # the signature the check is about (``planned.signature``)
    runners: Mapping[str, Runner] = field(default_factory=dict)
    session: Any = None  # load, contract, golden and served load checks need it
    fixture_value: Any = None
    label: str = ""  # the model as people read it ("iris v1")

    # ------------------------------------------------------------------ what the session overrides
    def open(self, side: Side) -> Runner:
        if self.session is not None:
            return self.session.runner(side, self.fixture_value)  # type: ignore[no-any-return]
        return self.runners[side.word]

    def generation_signature(self, side: Side) -> SignatureSpec:
        if self.session is not None:
            return self.session.generation_signature(side)  # type: ignore[no-any-return]
        assert self.signature is not None
        return self.signature

    @property
    def tolerance(self) -> Tolerance:
        from pytest_savedmodel.compare import Tolerance

        return Tolerance(self.settings.rtol, self.settings.atol)

    @property
    def schema(self) -> Any:
        """The schema generation draws from for this check's model (its schema and ranges), if any."""
        return self.session.schema_for(self.planned) if self.session is not None else None

    def strategy(self, sig: SignatureSpec, *, min_batch: int = 1, optional: tuple[str, ...] = ()) -> Any:
        from hypothesis import strategies as st

        from pytest_savedmodel.strategies import feature_dicts

        top = max(self.settings.max_batch, min_batch)
        if self.single_rows() is not None:
            top = min_batch = 1
        return feature_dicts(sig, batch_size=st.integers(min_batch, top), optional=optional, schema=self.schema)

    def example_strategy(self, sig: SignatureSpec) -> Any:
        from hypothesis import strategies as st

        from pytest_savedmodel.strategies import example_features

        assert sig.parse_spec is not None
        top = self.settings.max_batch
        return example_features(sig.parse_spec, batch_size=st.integers(1, top), schema=self.schema)

    def prove(self, body: Callable[[Features], None], strategy: Any, *, sweep: SignatureSpec | None = None,
              bulk: bool = True) -> None:
        """Run ``body`` on generated inputs (Hypothesis: seed, database, shrinking), then on the sweep of ``sweep``
        (one batch covering each input's range; :mod:`pytest_savedmodel.sweep`) and, with ``bulk``, on
        ``--savedmodel-rows`` rows in batches (:mod:`pytest_savedmodel.bulk`), where they apply."""
        digest = self.planned.nodeid
        examples: list[Features] = []
        rows: Any = ()
        single = self.single_rows()
        if single is not None and self.one_row_only() is None:  # say so: a passing check saw one-row requests
            self.result.note = "one row per call: outputs depend on the rest of the batch (see the batch check)"
        if sweep is not None and single is None:
            from pytest_savedmodel.bulk import DEFAULT_ROWS, bulk_batches
            from pytest_savedmodel.sweep import sweep_inputs

            declared = self.declared_domains(sweep)
            batch = sweep_inputs(sweep, domains=declared)
            if batch is not None:
                examples.append(batch)
            if bulk:
                rows = bulk_batches(sweep, rows=getattr(self.settings, "rows", DEFAULT_ROWS), digest=digest,
                                    seed=getattr(self.settings, "seed", None) or 0, domains=declared)
        if self.session is not None:
            self.session.prove(body, strategy, result=self.result, digest=digest, examples=examples, bulk=rows)
            return
        from pytest_savedmodel.checks import run_property

        run_property(body, strategy, digest=digest, stats=self.result, seed=getattr(self.settings, "seed", None),
                     max_examples=self.settings.examples, examples=examples, bulk=rows)

    def one_row_only(self) -> str | None:
        """Why the drawn signature fails for a batch of 2 though it declares batch -1 (then checks draw one row)."""
        if self.session is None or self.planned.feed == "examples":
            return None
        return self.session.one_row_only(self.draw)  # type: ignore[no-any-return]

    def single_rows(self) -> str | None:
        """Why this check draws one row per call (no sweep, no bulk rows): the signature fails for a batch of 2
        (:meth:`one_row_only`), or a row's outputs depend on the rest of the batch, which the ``batch`` check
        reports: the other checks then see what a one-row request gets, not what a row gets among others."""
        why = self.one_row_only()
        return why if why is not None or self.planned.check == "batch" else self.batch_dependence()

    def batch_dependence(self) -> str | None:
        """Why a row's outputs depend on the rest of the batch, for the drawn signature (probed once per signature
        on rows inside the declared domains, as generated inputs are); None when they do not, or for tf.Examples."""
        if self.session is None or self.planned.feed == "examples":
            return None
        domains = self.declared_domains(self.generation_signature(self.draw))
        return self.session.batch_dependence(self.draw, self.label, self.tolerance,  # type: ignore[no-any-return]
                                             domains=domains)

    def declared_domains(self, sig: SignatureSpec) -> dict[str, Any]:
        """The schema's (and ``--savedmodel-range``'s) domains of ``sig``'s inputs, or of its tf.Example features."""
        schema = self.schema
        names = sig.parse_spec.keys if sig.parse_spec is not None else sig.inputs
        return {a: d for a in names if schema is not None and (d := schema.domain(a)) is not None}

    def risks(self, risks: list[str]) -> None:
        """Report ``risks`` beside a passing item, or fail it with them under ``--savedmodel-strict``."""
        if not risks:
            return
        if getattr(self.settings, "strict", False):
            from pytest_savedmodel.errors import ContractViolation

            raise ContractViolation("risks (failing under --savedmodel-strict):\n" +
                                    "\n".join(f"  {r}" for r in risks), risks=risks)
        self.result.risks.extend(risks)

    def served(self, exc: RunnerError) -> RunnerError:
        """A served call failed: the session adds the server's state (exit status, log) if it died."""
        return self.session.server_gone(exc) if self.session is not None else exc  # type: ignore[no-any-return]

    def side_signature(self, side: Side) -> SignatureSpec:
        """The signature a side calls (as declared, before unknown ranks are made concrete)."""
        if self.session is not None:
            return self.session.side_signature(side)  # type: ignore[no-any-return]
        return self.runners[side.word].signature

    @property
    def draw(self) -> Side:
        side = self.planned.draw or self.planned.right
        assert side is not None
        return side

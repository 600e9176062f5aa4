"""Options, ini keys and the frozen :class:`Settings` they resolve to. No pytest import.

Every command-line option starts ``--savedmodel`` and has an ini key of the
same name with dashes as underscores (``--savedmodel-rtol`` / ``savedmodel_rtol``).
The command line wins over the ini file. Relative paths from the command line
are resolved against the invocation directory, from the ini file against the
directory of the ini file (pytest's rootdir). The prediction paths' own options
come from their registry lines (:mod:`pytest_savedmodel.runners.registry`); the
check names from the catalogue (:mod:`pytest_savedmodel.catalogue`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_savedmodel.catalogue import CHECKS
from pytest_savedmodel.deadline import DEFAULT_TIMEOUT  # loaded with the plugin: one copy of the call bound
from pytest_savedmodel.drift import validate_rules
from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.locate import parse_model_arg
from pytest_savedmodel.options import Option
from pytest_savedmodel.optionvalues import domain_policy, identifier, max_moved, tflite_tolerance, training_default
from pytest_savedmodel.ranges import parse_range, parse_schema_arg
from pytest_savedmodel.reportfiles import check_report_path
from pytest_savedmodel.runners.registry import path_options

__all__ = ["CHECKS", "OPTIONS", "ModelArg", "Option", "PairArg", "Settings"]

_CORE = [
    Option("--savedmodel", "SavedModel to gate: a SavedModel dir, or a base dir with numeric version subdirs "
           "(TF Serving / Estimator layout). NAME=DIR names it. Repeatable.", metavar="[NAME=]DIR", multiple=True),
    Option("--savedmodel-contract", "the contract lock file (default: savedmodel.lock.json in the rootdir).",
           "savedmodel.lock.json", metavar="FILE"),
    Option("--savedmodel-update-contract", "write or refresh the contract lock from the models (never written "
           "otherwise).", metavar="", kind="flag"),
    Option("--savedmodel-allow", "allow one drift rule (e.g. INPUT_DTYPE_CHANGED) so that change passes. Repeatable.",
           metavar="RULE", multiple=True),
    Option("--savedmodel-forbid-ops", "comma-separated TF ops the graph must not use (e.g. ReadFile,WriteFile).",
           "", metavar="OP[,OP]"),
    Option("--savedmodel-baseline", "the model now in production for model NAME (default: the first "
           "--savedmodel): contract compatibility and how far predictions moved. Repeatable.",
           metavar="[NAME=]DIR", multiple=True),
    Option("--savedmodel-baseline-rtol", "with --savedmodel-baseline: a row moved when an output is off by more than "
           "this relative tolerance (default: --savedmodel-rtol). Setting any --savedmodel-baseline-* value makes "
           "the movement item a gate; without one it reports and passes.", metavar="X", kind="float"),
    Option("--savedmodel-baseline-atol", "with --savedmodel-baseline: the absolute tolerance of a move (default: "
           "--savedmodel-atol); makes the movement item a gate.", metavar="X", kind="float"),
    Option("--savedmodel-baseline-max-moved", "with --savedmodel-baseline: the share of rows (0 to 1) allowed to "
           "move beyond the baseline tolerance, [OUTPUT=]FRACTION (class_ids=0.05: at most 5%% of class ids "
           "change; a bare FRACTION: every output without its own). Repeatable; makes the movement item a gate.",
           metavar="[OUTPUT=]FRACTION", multiple=True),
    Option("--savedmodel-rollout", "roll the candidate in over the baseline while requests flow.", kind="flag"),
    Option("--savedmodel-tflite-tolerance", "the tolerance of TFLite parity for one quantization mode, "
           "MODE=RTOL,ATOL (MODE: float, float16, dynamic, int8), instead of the documented one. Repeatable.",
           metavar="MODE=RTOL,ATOL", multiple=True),
    Option("--savedmodel-golden-rtol", "relative tolerance for replaying the lock's golden examples (default: the "
           "tolerance locked with them).", metavar="X", kind="float"),
    Option("--savedmodel-golden-atol", "absolute tolerance for replaying the lock's golden examples (default: the "
           "tolerance locked with them).", metavar="X", kind="float"),
    Option("--savedmodel-version", "version directory to use under a base dir (default: the highest).",
           metavar="N", kind="int"),
    Option("--savedmodel-tags", "MetaGraph tag-set to load, comma-separated (default: serve).", "serve",
           metavar="TAG[,TAG]"),
    Option("--savedmodel-signature", "only check these signatures (default: every callable one). Repeatable.",
           metavar="KEY", multiple=True),
    Option("--savedmodel-pair", "compare a raw signature with a tf.Example-parsing signature of the same "
           "SavedModel that the automatic pairing does not pair (model NAME, default: the first --savedmodel). "
           "Repeatable.", metavar="[NAME:]RAWSIG~PARSINGSIG", multiple=True),
    Option("--savedmodel-checks", f"comma-separated checks to collect (default: all of {','.join(CHECKS)}).",
           ",".join(CHECKS), metavar="LIST"),
    Option("--savedmodel-examples", "Hypothesis examples per generated check: small batches that explore shapes "
           "and edge values and shrink well (default: 25).", 25, metavar="N", kind="int"),
    Option("--savedmodel-rows", "rows per row-wise check (finite, outputs, determinism, parity) drawn with numpy "
           "and checked in a few batched calls after the Hypothesis examples, within 2 s per item (default: "
           "2000; 0 turns the bulk phase off).", 2000, metavar="N", kind="int"),
    Option("--savedmodel-max-batch", "largest generated batch (default: 4).", 4, metavar="N", kind="int"),
    Option("--savedmodel-rtol", "relative tolerance for float outputs (default: 1e-4).", 1e-4, metavar="X",
           kind="float"),
    Option("--savedmodel-atol", "absolute tolerance for float outputs (default: 1e-5).", 1e-5, metavar="X",
           kind="float"),
    Option("--savedmodel-counterexamples", "directory for the .npz files of shrunk inputs that failed a parity "
           "check (default: inside pytest's cache, .pytest_cache/d/savedmodel-counterexamples).", metavar="DIR"),
    Option("--savedmodel-seed", "seed of the generated checks (default: --hypothesis-seed, else a random one, "
           "printed in the header so a run can be replayed).", metavar="N", kind="int"),
    Option("--savedmodel-schema", "a TensorFlow Metadata schema (schema.pbtxt as TFDV writes it), [NAME=]FILE: "
           "generated values stay in its int/float/string domains, presence and value counts (a bare FILE: every "
           "model). Repeatable.", metavar="[NAME=]FILE", multiple=True),
    Option("--savedmodel-range", "bounds for one input or tf.Example feature, [NAME:]FEATURE=LO..HI (a side may "
           "be left out) or [NAME:]FEATURE=a|b|c (a vocabulary); wins over a schema and the graph. Repeatable.",
           metavar="[NAME:]FEATURE=LO..HI", multiple=True),
    Option("--savedmodel-training-default", "the value training gives a missing feature, KEY=VALUE (VALUE a "
           "number, a JSON list or a string). Repeatable.", metavar="KEY=VALUE", multiple=True),
    Option("--savedmodel-server", "TF Serving for the served paths: auto, emulator, binary[:PATH], docker[:IMAGE], "
           "url:GRPC_TARGET,REST_URL or none (default: auto).", "auto", metavar="MODE"),
    Option("--savedmodel-report", "write a report; the suffix picks the format: .json (for CI), .html (with "
           "deviation plots) or .md. Repeatable.", metavar="FILE", multiple=True),
    Option("--savedmodel-latency-requests", "warm requests per served path for the latency check (default: 50).",
           50, metavar="N", kind="int"),
    Option("--savedmodel-max-p99-ms", "latency budget: a served path whose warm p99 is over it fails (default: "
           "none).", metavar="MS", kind="float"),
    Option("--savedmodel-latency-regression", "with --savedmodel-baseline: fail when the candidate is slower than "
           "this many times the baseline, measured in interleaved rounds on the same server, with the whole "
           "confidence interval (95 per cent) of the ratio above it and at least 1 ms slower (default: 1.5).", 1.5,
           metavar="X", kind="float"),
    Option("--savedmodel-concurrency", "client threads for the concurrency check (default: 8).", 8, metavar="N",
           kind="int"),
    Option("--savedmodel-server-timeout", "seconds to wait for the server's models to become AVAILABLE "
           "(default: 60).", 60.0, metavar="S", kind="float"),
    Option("--savedmodel-domain", "what a value just outside an input's graph domain (an id past an embedding, an "
           "unseen key of a closed vocabulary) must do: report (default: list it, pass), reject (fail when the "
           "model answers it) or accept (fail when the model rejects it).", "report", metavar="POLICY"),
    Option("--savedmodel-strict", "risks (a parse-spec default training does not declare, ...) fail their item "
           "instead of being reported beside it.", kind="flag"),
    Option("--savedmodel-max-input-bytes", "bytes one row of a signature input (or of a statically shaped "
           "output) may take; a signature declaring more is one finding and is not called (default: 64 MiB).",
           64 * 2**20, metavar="BYTES", kind="int"),
    Option("--savedmodel-timeout", "seconds one model call may take on any path (session run, eager call, gRPC "
           "deadline, REST timeout); a call past it is a finding that names the inputs, and the run goes on "
           "(default: 60).", DEFAULT_TIMEOUT, metavar="S", kind="float"),
]

#: Every option: ``--savedmodel``, then the paths' options (registry order), then the rest.
OPTIONS = [_CORE[0], *path_options(), *_CORE[1:]]


@dataclass(frozen=True)
class ModelArg:
    """A ``[NAME=]DIR`` argument with the directory relative paths are resolved against."""

    name: str | None
    path: str
    root: Path


@dataclass(frozen=True)
class PairArg:
    """A ``--savedmodel-pair=[NAME:]RAWSIG~PARSINGSIG`` argument."""

    model: str | None
    raw: str
    parsing: str

    @property
    def text(self) -> str:
        return f"--savedmodel-pair={self.model + ':' if self.model else ''}{self.raw}~{self.parsing}"

    @classmethod
    def parse(cls, text: str) -> PairArg:
        left, sep, parsing = text.partition("~")
        model, colon, raw = left.rpartition(":")
        if not sep or not raw.strip() or not parsing.strip() or "~" in parsing or (colon and not model.strip()):
            raise UsageError(f"--savedmodel-pair={text!r}: expected [NAME:]RAWSIG~PARSINGSIG, a raw signature and "
                             f"a tf.Example-parsing signature of one SavedModel, e.g. "
                             f"--savedmodel-pair=serving_default~parse_examples")
        return cls(model.strip() or None, raw.strip(), parsing.strip())


def _value(config: Any, opt: Option) -> tuple[Any, bool]:
    """The option's value and whether it came from the command line."""
    cli = config.getoption(opt.dest, default=None)
    if cli not in (None, [], ()):
        return cli, True
    try:
        ini = config.getini(opt.ini)
    except ValueError:
        ini = None
    if ini not in (None, [], "", ()):
        return ini, False
    return opt.default, False


def _convert(opt: Option, value: Any) -> Any:
    if opt.kind == "flag":
        return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")
    if value is None or opt.kind in ("str", "fixture"):
        return value
    try:
        return int(value) if opt.kind == "int" else float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{opt.flag}={value!r}: expected {'an integer' if opt.kind == 'int' else 'a number'} "
                         f"(ini key {opt.ini})") from None


@dataclass(frozen=True)
class Settings:
    """Everything the plugin was told, resolved once per session."""

    models: tuple[ModelArg, ...] = ()
    version: int | None = None
    tags: frozenset[str] = frozenset({"serve"})
    signatures: tuple[str, ...] = ()
    pairs: tuple[PairArg, ...] = ()  # --savedmodel-pair: raw~parsing signatures of one SavedModel
    checks: frozenset[str] = frozenset(CHECKS)
    examples: int | None = 25
    rows: int = 2000  # the bulk phase (pytest_savedmodel.bulk)
    max_batch: int = 4
    rtol: float = 1e-4
    atol: float = 1e-5
    training_defaults: dict[str, Any] = field(default_factory=dict)
    server: str = "auto"
    server_timeout: float = 60.0
    timeout: float = DEFAULT_TIMEOUT
    strict: bool = False
    domain: str = "report"
    max_input_bytes: int = 64 * 2**20
    reports: tuple[Path, ...] = ()
    contract: Path | None = None
    update_contract: bool = False
    allow: frozenset[str] = frozenset()
    forbid_ops: tuple[str, ...] = ()
    baselines: tuple[ModelArg, ...] = ()
    #: the baseline movement item's tolerance and budget (any of them set: the item gates; else it reports)
    baseline_rtol: float | None = None
    baseline_atol: float | None = None
    baseline_max_moved: tuple[tuple[str | None, float], ...] = ()  # (output or None for every output, share)
    tflite_tolerances: dict[str, tuple[float, float]] = field(default_factory=dict)  # by mode
    rollout: bool = False  # rollout[grpc] per model with a baseline
    golden_rtol: float | None = None  # replaying golden examples (None: the locked tolerance)
    golden_atol: float | None = None
    schemas: tuple[tuple[str | None, Path], ...] = ()  # (model name or None for every model, file)
    ranges: tuple[Any, ...] = ()  # RangeArg (pytest_savedmodel.ranges)
    seed: int | None = None
    counterexamples: Path | None = None
    latency_requests: int = 50
    max_p99_ms: float | None = None
    latency_regression: float = 1.5
    concurrency: int = 8
    #: the values of the paths' own options (registry lines), by setting name: ``parsing``, ``checkpoint``...
    paths: dict[str, Any] = field(default_factory=dict)

    @property
    def baseline_gates(self) -> bool:
        """True when the user set a baseline tolerance or budget: the movement item then fails beyond it."""
        return bool(self.baseline_max_moved) or self.baseline_rtol is not None or self.baseline_atol is not None

    def max_moved(self, output: str) -> float | None:
        """The share of rows ``output`` may move beyond the baseline tolerance (None: no budget of its own)."""
        named = dict(self.baseline_max_moved)
        return named.get(output, named.get(None))

    def baseline_tolerance(self) -> Any:
        from pytest_savedmodel.compare import Tolerance

        return Tolerance(self.rtol if self.baseline_rtol is None else self.baseline_rtol,
                         self.atol if self.baseline_atol is None else self.baseline_atol)

    def path_value(self, key: str) -> Any:
        """The value of a path's option (``()`` for repeatable ``[NAME=]PATH`` options, else None/False)."""
        return self.paths.get(key)

    @property
    def parsing(self) -> tuple[ModelArg, ...]:
        return tuple(self.paths.get("parsing", ()))

    @property
    def checkpoints(self) -> tuple[ModelArg, ...]:
        return tuple(self.paths.get("checkpoint", ()))

    @property
    def frozen(self) -> tuple[ModelArg, ...]:
        return tuple(self.paths.get("frozen", ()))

    @property
    def freeze(self) -> bool:
        return bool(self.paths.get("freeze"))

    @property
    def reference(self) -> str | None:
        value = self.paths.get("reference")
        return str(value) if value else None

    @property
    def checkpoint_model(self) -> str | None:
        value = self.paths.get("checkpoint_model")
        return str(value) if value else None

    @property
    def schema(self) -> Path | None:
        """The schema for every model (``--savedmodel-schema=FILE`` without a NAME)."""
        return next((p for name, p in self.schemas if name is None), None)

    @property
    def serves(self) -> bool:
        """Served paths are on (``--savedmodel-server`` is not ``none``)."""
        return self.server.strip().lower() != "none"

    @property
    def active(self) -> bool:
        """True when the user asked for the auto suite (some --savedmodel given)."""
        return bool(self.models or self.parsing)

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        """Resolve options and ini keys of a ``pytest.Config`` (duck-typed)."""
        values: dict[str, Any] = {}
        roots: dict[str, Path] = {}
        for opt in OPTIONS:
            value, from_cli = _value(config, opt)
            roots[opt.dest] = Path(config.invocation_params.dir) if from_cli else Path(config.rootpath)
            if opt.multiple:
                items = value or []
                if isinstance(items, str):
                    items = [items]
                values[opt.dest] = [str(i).strip() for i in items if str(i).strip()]
            else:
                values[opt.dest] = _convert(opt, value)

        def model_args(dest: str) -> tuple[ModelArg, ...]:
            out = []
            for text in values[dest]:
                name, path = parse_model_arg(text)
                out.append(ModelArg(name, path, roots[dest]))
            return tuple(out)

        paths: dict[str, Any] = {}
        for opt in path_options():
            if opt.kind == "models":
                paths[opt.key] = model_args(opt.dest)
            elif opt.kind == "fixture":
                paths[opt.key] = identifier(opt.flag, values[opt.dest])
            else:
                paths[opt.key] = values[opt.dest]
        checks = frozenset(c.strip() for c in str(values["savedmodel_checks"]).split(",") if c.strip())
        unknown = sorted(checks - set(CHECKS))
        if unknown:
            raise UsageError(f"--savedmodel-checks: unknown check(s) {unknown}; known checks: {', '.join(CHECKS)}")
        tags = frozenset(t.strip() for t in str(values["savedmodel_tags"]).split(",") if t.strip())
        for dest, low in (("savedmodel_max_batch", 1), ("savedmodel_examples", 1), ("savedmodel_latency_requests", 2),
                          ("savedmodel_concurrency", 1), ("savedmodel_latency_regression", 1)):
            if values[dest] is not None and values[dest] < low:
                raise UsageError(f"--{dest.replace('_', '-')}={values[dest]}: must be at least {low}")
        if values["savedmodel_rows"] < 0:
            raise UsageError(f"--savedmodel-rows={values['savedmodel_rows']}: give a number of rows, 0 or more")
        for dest, high in (("savedmodel_latency_requests", 100_000), ("savedmodel_concurrency", 64),
                           ("savedmodel_rows", 1_000_000)):
            if values[dest] > high:
                raise UsageError(f"--{dest.replace('_', '-')}={values[dest]}: at most {high} (the checks are bounded)")
        if values["savedmodel_max_p99_ms"] is not None and values["savedmodel_max_p99_ms"] <= 0:
            raise UsageError(f"--savedmodel-max-p99-ms={values['savedmodel_max_p99_ms']}: must be a positive number "
                             f"of milliseconds")
        from pytest_savedmodel.serving.modes import parse_mode

        parse_mode(str(values["savedmodel_server"]))  # a typo ends the run here, not in every served item
        if values["savedmodel_max_input_bytes"] < 1024:
            raise UsageError(f"--savedmodel-max-input-bytes={values['savedmodel_max_input_bytes']}: give at least "
                             f"1024 bytes")
        for dest in ("savedmodel_timeout", "savedmodel_server_timeout"):
            if not values[dest] > 0:
                raise UsageError(f"--{dest.replace('_', '-')}={values[dest]}: give a number of seconds above 0")
        for dest in ("savedmodel_rtol", "savedmodel_atol", "savedmodel_baseline_rtol", "savedmodel_baseline_atol",
                     "savedmodel_golden_rtol", "savedmodel_golden_atol"):
            if values[dest] is not None and values[dest] < 0:
                raise UsageError(f"--{dest.replace('_', '-')}={values[dest]}: a tolerance cannot be negative")
        shares = tuple(max_moved(t) for t in values["savedmodel_baseline_max_moved"])
        return cls(
            models=model_args("savedmodel"),
            version=values["savedmodel_version"],
            tags=tags or frozenset({"serve"}),
            signatures=tuple(values["savedmodel_signature"]),
            pairs=tuple(dict.fromkeys(PairArg.parse(t) for t in values["savedmodel_pair"])),
            checks=checks,
            examples=values["savedmodel_examples"],
            rows=values["savedmodel_rows"],
            max_batch=values["savedmodel_max_batch"],
            rtol=values["savedmodel_rtol"],
            atol=values["savedmodel_atol"],
            training_defaults=dict(training_default(t) for t in values["savedmodel_training_default"]),
            server=str(values["savedmodel_server"]),
            contract=roots["savedmodel_contract"] / str(values["savedmodel_contract"]),
            update_contract=bool(values["savedmodel_update_contract"]),
            allow=validate_rules(values["savedmodel_allow"]),
            forbid_ops=tuple(o.strip() for o in str(values["savedmodel_forbid_ops"] or "").split(",") if o.strip()),
            baselines=model_args("savedmodel_baseline"),
            baseline_rtol=values["savedmodel_baseline_rtol"],
            baseline_atol=values["savedmodel_baseline_atol"],
            baseline_max_moved=shares,
            rollout=bool(values["savedmodel_rollout"]),
            tflite_tolerances=dict(tflite_tolerance(t) for t in values["savedmodel_tflite_tolerance"]),
            golden_rtol=values["savedmodel_golden_rtol"],
            golden_atol=values["savedmodel_golden_atol"],
            reports=tuple(check_report_path(r, root=roots["savedmodel_report"]) for r in values["savedmodel_report"]),
            server_timeout=values["savedmodel_server_timeout"],
            timeout=values["savedmodel_timeout"],
            strict=bool(values["savedmodel_strict"]),
            domain=domain_policy(values["savedmodel_domain"]),
            max_input_bytes=values["savedmodel_max_input_bytes"],
            schemas=tuple((name, roots["savedmodel_schema"] / path) for name, path in
                          (parse_schema_arg(t) for t in values["savedmodel_schema"])),
            ranges=tuple(parse_range(t) for t in values["savedmodel_range"]),
            seed=values["savedmodel_seed"],
            counterexamples=(roots["savedmodel_counterexamples"] / values["savedmodel_counterexamples"]
                             if values["savedmodel_counterexamples"] else None),
            latency_requests=values["savedmodel_latency_requests"],
            max_p99_ms=values["savedmodel_max_p99_ms"],
            latency_regression=values["savedmodel_latency_regression"],
            concurrency=values["savedmodel_concurrency"],
            paths=paths,
        )

"""A declared signature contract and its check against an inspected model. Pure; no TF, no pytest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_savedmodel.errors import ContractViolation, InvalidArgument
from pytest_savedmodel.spec import DType, ModelSpec, TensorSpec, dtype_by_name, format_shape

__all__ = ["Contract", "TensorContract", "check_contract", "check_contract_against_lock", "tensor_contract"]

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class TensorContract:
    """What a test declares about one input or output: a dtype and optionally a shape."""

    alias: str
    dtype: DType | None = None
    shape: Shape | None = None  # None: not declared

    def describe(self) -> str:
        d = self.dtype.name if self.dtype else "any dtype"
        return d + (f" {format_shape(self.shape)}" if self.shape is not None else "")


@dataclass(frozen=True)
class Contract:
    """A declared signature: its key, method name, inputs and outputs."""

    signature: str = "serving_default"
    method: str | None = None
    inputs: Mapping[str, TensorContract] = field(default_factory=dict)
    outputs: Mapping[str, TensorContract] = field(default_factory=dict)
    exact: bool = False  # True: no undeclared inputs or outputs allowed
    model: str | None = None


def _shape(alias: str, value: Any, where: str) -> Shape | None:
    if value is None:
        return None
    if isinstance(value, int) or not hasattr(value, "__iter__") or isinstance(value, (str, bytes)):
        raise InvalidArgument(
            f"{where}[{alias!r}] shape={value!r}: a shape is a list of dims, e.g. [None, 3] "
            f"(None or -1 for an unknown dim; [] for a scalar)"
        )
    dims: list[int | None] = []
    for d in value:
        if d is None or d == -1:
            dims.append(None)
        elif isinstance(d, int) and not isinstance(d, bool) and d >= 0:
            dims.append(d)
        else:
            raise InvalidArgument(f"{where}[{alias!r}] shape={list(value)!r}: dim {d!r} must be an int >= 0, "
                                  f"None or -1")
    return tuple(dims)


def tensor_contract(alias: str, value: Any, *, where: str = "inputs") -> TensorContract:
    """Parse one declared tensor: ``"float32"``, ``("float32", [None, 3])`` or ``{"dtype":…, "shape":…}``."""
    if not isinstance(alias, str):
        raise InvalidArgument(f"{where}: tensor names must be strings, got {alias!r}")
    dtype_value: Any = None
    shape_value: Any = None
    if isinstance(value, Mapping):
        extra = set(value) - {"dtype", "shape"}
        if extra:
            raise InvalidArgument(f"{where}[{alias!r}]: unknown key(s) {sorted(extra)}; allowed: 'dtype', 'shape'")
        dtype_value, shape_value = value.get("dtype"), value.get("shape")
    elif isinstance(value, tuple) and len(value) == 2:
        dtype_value, shape_value = value
    elif isinstance(value, (list, tuple)):
        raise InvalidArgument(
            f"{where}[{alias!r}]={value!r}: give a dtype, a (dtype, shape) pair or a dict "
            f"{{'dtype': ..., 'shape': ...}}, e.g. ('float32', [None, 3])"
        )
    else:
        dtype_value = value
    dtype = None
    if dtype_value is not None:
        try:
            dtype = dtype_by_name(dtype_value)
        except ValueError as exc:
            raise InvalidArgument(f"{where}[{alias!r}]: {exc}") from None
    return TensorContract(alias, dtype, _shape(alias, shape_value, where))


def _check_tensors(kind: str, declared: Mapping[str, TensorContract], actual: Mapping[str, TensorSpec],
                   exact: bool, words: tuple[str, str] = ("expected", "got")) -> list[str]:
    problems = []
    for alias, want in sorted(declared.items()):
        got = actual.get(alias)
        if got is None:
            import difflib

            close = difflib.get_close_matches(alias, list(actual), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"  {kind[:-1]} {alias!r}: declared {want.describe()}, but the signature has no such "
                            f"{kind[:-1]}{hint}; {kind} that exist: {', '.join(sorted(actual)) or '(none)'}")
            continue
        if want.dtype is not None and want.dtype != got.dtype:
            problems.append(f"  {kind[:-1]} {alias!r}: {words[0]} dtype {want.dtype.name}, {words[1]} "
                            f"{got.dtype.name}")
        if want.shape is not None and want.shape != got.shape:
            problems.append(f"  {kind[:-1]} {alias!r}: {words[0]} shape {format_shape(want.shape)}, {words[1]} "
                            f"{format_shape(got.shape)}")
    if exact:
        for alias in sorted(set(actual) - set(declared)):
            problems.append(f"  {kind[:-1]} {alias!r}: not declared ({actual[alias].describe()})")
    return problems


def check_contract(spec: ModelSpec, contract: Contract) -> None:
    """Raise :class:`ContractViolation` listing every declared tensor that differs, expected vs actual."""
    __tracebackhide__ = True
    sig = spec.signature(contract.signature)
    problems = []
    if contract.method is not None and contract.method != sig.method_name:
        problems.append(f"  method name: expected {contract.method!r}, got {sig.method_name!r}")
    problems += _check_tensors("inputs", contract.inputs, sig.inputs, contract.exact)
    problems += _check_tensors("outputs", contract.outputs, sig.outputs, contract.exact)
    if problems:
        raise ContractViolation(
            f"{spec.ref.label()} signature {sig.key!r} does not match the declared contract:\n" + "\n".join(problems),
            model=spec.ref.name,
            signature=sig.key,
            problems=problems,
        )


def _locked_tensors(tensors: Mapping[str, Any]) -> dict[str, TensorSpec]:
    out = {}
    for alias, t in tensors.items():
        shape = None if t.get("shape") is None else tuple(None if d == -1 else int(d) for d in t["shape"])
        out[alias] = TensorSpec(alias, dtype_by_name(t["dtype"]), shape)
    return out


def check_contract_against_lock(locked: Mapping[str, Any], contract: Contract, *, lock: str, model: str,
                                test: str) -> None:
    """A marker and the contract lock describe one contract: raise if they contradict each other.

    ``locked`` is the lock's entry for ``model`` (as read by :func:`pytest_savedmodel.lock.read_lock`).
    """
    __tracebackhide__ = True
    sigs = locked.get("signatures", {})
    head = (f"@pytest.mark.savedmodel_signature({contract.signature!r}) on {test} contradicts the contract lock "
            f"{lock}")
    if contract.signature not in sigs:
        raise ContractViolation(
            f"{head}: the lock has no signature {contract.signature!r} for model {model!r} (it locks: "
            f"{', '.join(sorted(sigs)) or 'none'}). Fix the marker, or refresh the lock with "
            f"--savedmodel-update-contract if the model really changed",
            model=model, signature=contract.signature, problems=[])
    sig = sigs[contract.signature]
    words = ("the marker says", "the lock says")
    problems = []
    if contract.method is not None and contract.method != sig.get("method_name"):
        problems.append(f"  method name: the marker says {contract.method!r}, the lock says {sig.get('method_name')!r}")
    problems += _check_tensors("inputs", contract.inputs, _locked_tensors(sig["inputs"]), contract.exact, words)
    problems += _check_tensors("outputs", contract.outputs, _locked_tensors(sig["outputs"]), contract.exact, words)
    if problems:
        raise ContractViolation(
            f"{head} (models.{model}.signatures.{contract.signature}):\n" + "\n".join(problems)
            + "\nOne of them is wrong: fix the marker, or refresh the lock with --savedmodel-update-contract",
            model=model, signature=contract.signature, problems=problems)

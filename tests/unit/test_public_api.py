"""The public surface is explicit: __all__ lists exactly what each public module exports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import pytest_savedmodel

PUBLIC_MODULES = ["pytest_savedmodel.errors", "pytest_savedmodel.spec", "pytest_savedmodel.compare",
                  "pytest_savedmodel.contract", "pytest_savedmodel.locate", "pytest_savedmodel.model"]


def test_package_all_resolves() -> None:
    for name in pytest_savedmodel.__all__:
        assert getattr(pytest_savedmodel, name) is not None, name
    assert sorted(pytest_savedmodel.__all__) == sorted(set(pytest_savedmodel.__all__))


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_module_all_matches_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    declared = set(mod.__all__)
    defined = {n for n, v in vars(mod).items() if not n.startswith("_") and getattr(v, "__module__", None) == module}
    assert defined <= declared | {"Shape", "TYPE_CHECKING"}, defined - declared
    for name in declared:
        assert hasattr(mod, name), name


def test_importing_the_package_is_light() -> None:
    code = ("import sys, pytest_savedmodel, pytest_savedmodel.plugin; "
            "print(sorted(m for m in ('tensorflow', 'numpy', 'grpc', 'hypothesis', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"

"""The public surface is explicit: __all__ lists exactly what each public module exports."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

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


def test_the_package_never_evaluates_or_unpickles() -> None:
    """No eval/exec/compile of text, no pickle/marshal/shelve, and every np.load says allow_pickle=False."""
    import ast

    pkg = Path(__file__).parents[2] / "pytest_savedmodel"
    problems = []
    for path in sorted(pkg.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(pkg.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                if name in ("eval", "exec", "compile", "__import__") and isinstance(fn, ast.Name):
                    problems.append(f"{where}: {name}()")
                if name == "load" and isinstance(fn, ast.Attribute) and getattr(fn.value, "id", "") == "np":
                    kw = {k.arg: k.value for k in node.keywords}
                    if not (isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False):
                        problems.append(f"{where}: np.load without allow_pickle=False")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and
                                                        node.module else [])
                bad = [n for n in names if n.split(".")[0] in ("pickle", "cPickle", "marshal", "shelve", "dill")]
                if bad:
                    problems.append(f"{where}: import {bad}")
    assert problems == []


def test_our_modules_are_not_assert_rewritten(tmp_path: Path) -> None:
    """pytest rewrites every module of a plugin's distribution on import (1.6 s for ours, per process with no
    .pyc cache): the package takes itself off that list, and a later session in the same process that marks it
    again does not warn. Here the package is marked as an installed wheel's is (an editable install is not)."""
    (tmp_path / "conftest.py").write_text(
        "import pytest\n"
        "pytest.register_assert_rewrite('pytest_savedmodel')\n"
        "import pytest_savedmodel, pytest_savedmodel.session\n")
    (tmp_path / "test_x.py").write_text(
        "import sys, warnings, pytest_savedmodel.session\n"
        "def test_rewriting():\n"
        "    assert '@py_builtins' not in vars(pytest_savedmodel.session)\n"
        "    assert '@py_builtins' in globals()  # this test module is rewritten\n"
        "    hook = next(f for f in sys.meta_path if hasattr(f, 'mark_rewrite'))\n"
        "    with warnings.catch_warnings():\n"
        "        warnings.simplefilter('error')\n"
        "        hook.mark_rewrite('pytest_savedmodel')  # as a nested session does: no 'already imported' warning\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:savedmodel",
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert "1 passed" in proc.stdout, proc.stdout + proc.stderr


def test_tensorflow_is_quieted_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import_tf`` runs on hot paths (one tf.Example per generated row): the logger is set once, since
    ``Logger.setLevel`` clears every logger's cache (about 30 us with TensorFlow's loggers)."""
    import logging

    from pytest_savedmodel._lazy import import_tf

    tf = import_tf()
    calls = []
    monkeypatch.setattr(logging.Logger, "setLevel", lambda self, level: calls.append(level))
    assert all(import_tf() is tf for _ in range(100))
    assert calls == []

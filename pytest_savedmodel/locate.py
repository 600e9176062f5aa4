"""Find the SavedModel directory a user pointed at. No TensorFlow here.

Accepted layouts, as TF Serving and Estimator write them:

* a SavedModel directory (holds ``saved_model.pb`` or ``saved_model.pbtxt``);
* a TF Serving base directory whose numeric children (``1``, ``00000123``) are versions;
* an Estimator export base whose children are timestamps (``1570635853``), also numeric.

The highest version is used unless one is named, by TF Serving's rule: every child whose *name* is a
number is a version, whatever it holds, and the server aspires the highest one. If that one is not a
loadable SavedModel (an interrupted export, a dangling symlink, a symlink loop, a file), TF Serving fails
to load it and does not fall back to an older version; neither do we: it is an error that names it.
Non-numeric children (such as Estimator's ``temp-1570635853`` directories) are ignored, as TF Serving does.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pytest_savedmodel.errors import ModelNotFound, UsageError
from pytest_savedmodel.spec import ModelRef

__all__ = ["SAVED_MODEL_FILES", "find_model", "has_saved_model", "parse_model_arg", "versions_under", "what_is_wrong"]

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def has_saved_model(path: Path) -> bool:
    """True if ``path`` directly holds a ``saved_model.pb`` or ``.pbtxt``."""
    return any((path / f).is_file() for f in SAVED_MODEL_FILES)


def _as_version(name: str) -> int | None:
    if not name.isdigit():
        return None
    value = int(name)
    return value if value < 2**63 else None


def versions_under(base: Path) -> dict[int, Path]:
    """Numeric children of ``base`` as ``{version: path}`` (first name wins on duplicates).

    As in TF Serving, the name decides: a numeric child is a version even when it is a file, a dangling
    symlink or a symlink loop (:func:`what_is_wrong` says which).
    """
    found: dict[int, Path] = {}
    for child in sorted(base.iterdir()):
        version = _as_version(child.name)
        if version is not None and version not in found:
            found[version] = child
    return found


def what_is_wrong(path: Path) -> str | None:
    """Why ``path`` is not a loadable SavedModel directory, in words; None when it is one."""
    if path.is_symlink():
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return f"is a symlink loop ({path} -> {os.readlink(path)})"
            return f"is a dangling symlink ({path} -> {os.readlink(path)}, which does not exist)"
    if not path.exists():
        return "does not exist"
    if not path.is_dir():
        return "is a file, not a directory"
    if not has_saved_model(path):
        try:
            content = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())[:8]
        except OSError as exc:
            return f"cannot be read ({exc.strerror})"
        return f"holds no saved_model.pb (contents: {', '.join(content) or 'none, an empty directory'})"
    return None


def parse_model_arg(text: str) -> tuple[str | None, str]:
    """Split ``NAME=DIR`` into ``(NAME, DIR)``; a bare ``DIR`` gives ``(None, DIR)``."""
    name, sep, path = text.partition("=")
    if not sep:
        return None, text
    if not name or not path:
        raise UsageError(f"--savedmodel={text!r}: expected DIR or NAME=DIR, e.g. --savedmodel=iris=export/iris")
    if not name.replace("-", "_").replace(".", "_").isidentifier():
        raise UsageError(
            f"--savedmodel={text!r}: model name {name!r} may hold letters, digits, '_', '-' and '.' only "
            f"(it becomes part of test ids)"
        )
    return name, path


def _default_name(base: Path, picked: Path) -> str:
    # A version directory named directly ("export/iris/3") takes its parent's name.
    if _as_version(base.name) is not None and base == picked:
        return base.parent.name or "model"
    return base.name or "model"


def find_model(
    path: str | Path,
    *,
    name: str | None = None,
    version: int | None = None,
    tags: frozenset[str] | set[str] = frozenset({"serve"}),
    root: Path | None = None,
) -> ModelRef:
    """Locate the SavedModel to test.

    Args:
        path: a SavedModel dir, or a base dir with numeric version subdirs.
        name: the model's name in ids and servers (default: the base dir's name).
        version: the version to use under a base dir (default: the highest).
        tags: the MetaGraph tag-set to load.
        root: directory that relative paths are resolved against (default: cwd).

    Raises:
        ModelNotFound: with what exists at ``path`` and what to do.

    Example:
        >>> ref = find_model("export/iris", version=2)
        >>> ref.path, ref.version
        (PosixPath('/abs/export/iris/2'), 2)
    """
    given = Path(path).expanduser()
    base = given if given.is_absolute() else (root or Path.cwd()) / given
    base = Path(*base.parts)  # normalise without resolving symlinks the user chose
    if base.is_symlink() and not base.exists():
        raise ModelNotFound(f"{given} {what_is_wrong(base)}: point --savedmodel at the export directory itself.",
                            path=base)
    if not base.exists():
        parent = base.parent
        while not parent.is_dir() and parent != parent.parent:  # the nearest directory that exists
            parent = parent.parent
        hint = ""
        if parent.is_dir():
            siblings = sorted(p.name for p in parent.iterdir() if p.is_dir())[:10]
            gone = "" if parent == base.parent else f" ({base.parent} does not exist either)"
            hint = f" Directories in {parent}: {', '.join(siblings) or '(none)'}{gone}."
        raise ModelNotFound(f"no such directory: {given} (looked at {base}).{hint}", path=base)
    if base.is_file():
        better = f" Did you mean --savedmodel={base.parent}?" if base.name in SAVED_MODEL_FILES else ""
        raise ModelNotFound(
            f"{given} is a file, not a directory: point --savedmodel at the directory that holds "
            f"saved_model.pb, or at a base directory with numeric version subdirectories.{better}",
            path=base,
        )
    versions = versions_under(base)
    if has_saved_model(base):
        if version is not None and version not in versions:
            own = _as_version(base.name)
            if own != version:
                raise ModelNotFound(
                    f"version {version} requested, but {given} is itself a SavedModel"
                    f"{f' (version {own})' if own is not None else ''} with no version subdirectories.",
                    path=base,
                )
        if version is None or version not in versions:
            own_version = _as_version(base.name)
            around = tuple(sorted(versions_under(base.parent))) if own_version is not None else ()
            return ModelRef(
                name=name or _default_name(base, base),
                path=base,
                base=base,
                version=own_version,
                versions=around,
                tags=frozenset(tags),
            )
    with_model = {v: p for v, p in versions.items() if has_saved_model(p)}
    if not versions:
        content = sorted(p.name + ("/" if p.is_dir() else "") for p in base.iterdir())[:12]
        raise ModelNotFound(
            f"{given} holds no saved_model.pb and no numeric version directories "
            f"(TF Serving serves only directories named by a number, e.g. {given}/1/). "
            f"Contents: {', '.join(content) or '(empty directory)'}.",
            path=base,
        )
    if not with_model:
        listed = ", ".join(p.name for p in versions.values())
        raise ModelNotFound(
            f"version directories under {given} ({listed}) contain no saved_model.pb or saved_model.pbtxt: "
            f"the export may have been interrupted or written elsewhere.",
            path=base,
        )
    if version is None:
        version = max(versions)
        wrong = what_is_wrong(versions[version])
        if wrong is not None:
            older = max((v for v in with_model if v < version), default=None)
            fallback = (f"; to test version {older} meanwhile, select it with --savedmodel-version={older}"
                        if older is not None else "")
            raise ModelNotFound(
                f"the newest version under {given} is {versions[version].name} (TF Serving serves the highest "
                f"numeric child), but it {wrong}. TF Serving would fail to load version {version} and would not "
                f"fall back to an older one, so this export is not deployable as it stands. Finish or remove "
                f"{versions[version]}{fallback}.",
                path=versions[version],
            )
    elif version not in with_model:
        wrong = what_is_wrong(versions[version]) if version in versions else None
        missing = f" ({versions[version].name} {wrong})" if wrong else ""
        raise ModelNotFound(
            f"version {version} not found under {given}{missing}. "
            f"Versions with a SavedModel: {', '.join(str(v) for v in sorted(with_model))}.",
            path=base,
        )
    return ModelRef(
        name=name or _default_name(base, with_model[version]),
        path=with_model[version],
        base=base,
        version=version,
        versions=tuple(sorted(with_model)),
        tags=frozenset(tags),
    )

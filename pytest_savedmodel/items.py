"""pytest nodes for the zero-code suite: one collector per export and signature, one item per check."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_savedmodel.errors import Finding, SameCause, SavedModelError
from pytest_savedmodel.planned import PlannedCheck
from pytest_savedmodel.results import PROPERTY, CheckResult
from pytest_savedmodel.session import Session

__all__ = ["SavedModelCollector", "SavedModelItem", "build_items", "wants_server"]


class SavedModelCollector(pytest.Collector):
    """Groups generated items (``savedmodel:iris``, then one per signature)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []  # children are created directly by build_items

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name


class SavedModelItem(pytest.Item):
    """One automatic check of a model, e.g. ``savedmodel:iris::serving_default::finite``."""

    planned: PlannedCheck
    engine: Session
    result: CheckResult  # of the last run

    def __init__(self, *, planned: PlannedCheck, engine: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _label(self, planned, engine)

    def runtest(self) -> None:
        _run(self)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return _repr_failure(excinfo) or super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.nodeid


def _label(item: SavedModelItem | SavedModelFixtureItem, planned: PlannedCheck, session: Session) -> None:
    """Mark a generated item; its ``savedmodel.*`` properties and its result as planned (before it runs)."""
    item.planned, item.engine = planned, session
    item.add_marker(pytest.mark.savedmodel_check)
    for key, value in planned.info().items():
        item.user_properties.append((f"savedmodel.{key}", str(value)))
    item.user_properties.append(("savedmodel.check", planned.check))
    item.result = session.new_result(planned, item.nodeid)
    item.user_properties.append((PROPERTY, item.result.to_json()))


def _run(item: SavedModelItem | SavedModelFixtureItem, *fixture_values: Any) -> None:
    """Run the planned check; record its result whatever the outcome (typed, for the summary and reports)."""
    result = item.result = item.engine.new_result(item.planned, item.nodeid)
    try:
        item.engine.run(item.planned, *fixture_values, result=result)
    except SameCause as exc:
        pytest.skip(str(exc))
    finally:
        server = item.engine.started_server
        if server is not None:
            result.served_by = server_line(server)
        item.user_properties[:] = [(k, v) for k, v in item.user_properties if k != PROPERTY]
        item.user_properties += result.properties()
        item.user_properties.append((PROPERTY, result.to_json()))


def wants_server(item: pytest.Item) -> bool:
    """Whether ``item`` asks the session's server for answers (a served check, or a test using the
    ``savedmodel_server`` fixture)."""
    if isinstance(item, (SavedModelItem, SavedModelFixtureItem)):
        return item.engine.wants_server(item.planned)
    return "savedmodel_server" in getattr(item, "fixturenames", ())


def server_line(server: Any) -> str:
    """The summary's last line: which TF Serving answered the served paths."""
    early = ", its TensorFlow imported while pytest collected" if getattr(server, "prewarmed", False) else ""
    return f"served paths answered by: {server.describe()} (AVAILABLE after {server.ready_seconds:.1f} s{early})"


def _repr_failure(excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    exc = excinfo.value
    if isinstance(exc, SavedModelError):
        kind = "finding" if isinstance(exc, Finding) else type(exc).__name__
        notes = [n for n in getattr(exc, "__notes__", []) if n.strip()]
        text = f"[{kind}] {exc}"
        if notes:
            text += "\n\n" + "\n\n".join(n.strip("\n") for n in notes)
        return text
    return None


class SavedModelFixtureItem(pytest.Function):
    """A check that needs a fixture of the user's (``--savedmodel-reference``): pytest resolves it as for a test."""

    planned: PlannedCheck
    engine: Session
    result: CheckResult

    def __init__(self, *, planned: PlannedCheck, engine: Session, **kwargs: Any) -> None:
        import inspect

        assert planned.fixture is not None
        fixture = planned.fixture

        def check(**values: Any) -> None:
            _run(self, values[fixture])

        check.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(fixture, inspect.Parameter.KEYWORD_ONLY)])
        check.__name__ = check.__qualname__ = planned.path[-1]
        super().__init__(callobj=check, **kwargs)
        _label(self, planned, engine)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return _repr_failure(excinfo) or super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.nodeid


def _test_directory(session: pytest.Session, user_items: list[pytest.Item]) -> pytest.Collector:
    """The deepest directory node holding every collected test: its conftest fixtures are the user's fixtures.

    Checks that need a user fixture (``--savedmodel-reference``, ``--savedmodel-checkpoint-model``) hang below it,
    so a fixture in ``examples/iris/conftest.py`` is found when pytest runs ``examples/iris``.
    """
    common: list[pytest.Collector] | None = None
    for item in user_items:
        dirs: list[pytest.Collector] = [n for n in item.listchain() if isinstance(n, (pytest.Dir, pytest.Package))]
        common = dirs if common is None else [a for a, b in zip(common, dirs, strict=False) if a is b]
    return common[-1] if common else session


def build_items(session: pytest.Session, suite: Session,
                user_items: list[pytest.Item] | None = None) -> list[pytest.Item]:
    """Create collectors and items for every planned check."""
    collectors: dict[tuple[str, ...], pytest.Collector] = {}
    needs_fixture = {p.collector for p in suite.plan() if p.fixture}
    home = _test_directory(session, list(user_items or [])) if needs_fixture else session

    def collector(parts: tuple[str, ...]) -> pytest.Collector:
        if parts not in collectors:
            if len(parts) == 1:  # a top node: its id is its name (no path prefix, no leading "::")
                parent = home if parts[0] in needs_fixture else session
                collectors[parts] = SavedModelCollector.from_parent(parent, name=parts[0], nodeid=parts[0])
            else:
                collectors[parts] = SavedModelCollector.from_parent(collector(parts[:-1]), name=parts[-1])
        return collectors[parts]

    items: list[pytest.Item] = []
    for planned in suite.plan():  # planned once: the suite caches its plan
        parent = collector((planned.collector, *planned.path[:-1]))
        cls = SavedModelFixtureItem if planned.fixture else SavedModelItem
        items.append(cls.from_parent(parent, name=planned.path[-1], planned=planned, engine=suite))
    # Report what we collected, so "collected N items" and -k/--deselect counts include our items.
    for parts, node in collectors.items():
        if len(parts) == 1:
            mine: list[pytest.Item | pytest.Collector] = [i for i in items if i.nodeid.startswith(node.nodeid + "::")]
            report = pytest.CollectReport(node.nodeid, "passed", None, mine)
            session.config.hook.pytest_collectreport(report=report)
    return items

"""The page groups keep their pages in a table of small named handlers, and leave committing to the boundary."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.routing import APIRoute

import laoyou
import laoyou.web
from laoyou.web.render import PageRoute

ROOT = Path(laoyou.__file__).parent
# Every module of web/ that keeps a table of pages is a page group.
PAGE_GROUPS = [
    module
    for info in pkgutil.iter_modules(laoyou.web.__path__)
    if hasattr(module := importlib.import_module(f"laoyou.web.{info.name}"), "PAGES")
]
# Commits happen in the boundary (graphql/errors.py) and the job runner. These are the other places that end a
# unit of work, each because no mutation or job is there to end it:
COMMITTERS = {
    "graphql/errors.py",  # mutation_boundary and context_boundary: the boundary itself
    "graphql/context.py",  # Context.commit: commit, then publish the events
    "graphql/schema.py",  # a query that wrote (a read receipt) is committed once it has settled
    "graphql/router.py",  # the login session's last-seen touch and a WebSocket's own writes
    "core/events.py",  # commit_and_publish itself
    "core/db.py",  # session_scope: the unit of work of jobs, commands and the endpoints that are their own boundary
    "core/jobs.py",  # the job runner
    "notify/worker.py",  # the push worker is a job runner of its own
    "notify/sender.py",  # it records each delivery attempt, whatever happens to the next
    "notify/reach/sender.py",  # the same for the climb's WeChat, SMS and voice steps
    "web/sandbox_cashier.py",  # it stands in for the gateway, another system: one unit of work per notification
    "care/sensors/listener.py",  # an MQTT message: no page, no GraphQL, each message is its own unit of work
    "migrations/env.py",
    "demo/data.py",  # loading the demo
}


def _tables(group: ModuleType) -> list[PageRoute]:
    return [route for name in ("PAGES", "DEMO_PAGES") for route in getattr(group, name, ())]


def test_the_page_groups_are_found() -> None:
    names = {group.__name__.rsplit(".", 1)[1] for group in PAGE_GROUPS}
    assert {"home", "login", "bills", "repairs", "work_orders", "chat", "desk", "briefings"} <= names


@pytest.mark.parametrize("group", PAGE_GROUPS, ids=lambda g: g.__name__)
def test_each_page_is_a_named_handler_of_its_module(group: ModuleType) -> None:
    routes = _tables(group)
    assert routes and all(isinstance(route, PageRoute) for route in routes)
    for route in routes:
        handler = route.handler
        assert handler.__qualname__ == handler.__name__, f"{route.path}: a nested handler"
        assert getattr(group, handler.__name__) is handler
        assert inspect.iscoroutinefunction(handler)


def test_every_page_of_the_tables_is_installed(app: Any) -> None:
    installed = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    settings = app.state.settings
    for group in PAGE_GROUPS:
        if group.__name__.endswith("sandbox_cashier") and settings.is_production:
            continue
        for route in group.PAGES + (getattr(group, "DEMO_PAGES", ()) if settings.is_demo else ()):
            assert (route.method, route.path) in installed


def _commits(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in ("commit", "commit_and_publish"))
            or (isinstance(node.func, ast.Name) and node.func.id == "commit_and_publish")
        )
    ]


def test_no_commit_outside_the_boundary() -> None:
    found = {
        str(path.relative_to(ROOT)): lines for path in sorted(ROOT.rglob("*.py")) if (lines := _commits(path))
    }
    assert {path: lines for path, lines in found.items() if path not in COMMITTERS} == {}
    # And the list stays honest: each place named still commits.
    assert set(found) == COMMITTERS

"""The page groups keep their pages in a table of small named handlers, and leave committing to the boundary."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.routing import APIRoute

import laoyou
from laoyou.web import briefings, cards, family, home, login, notify, settings
from laoyou.web.render import PageRoute

PAGE_GROUPS = [home, login, family, settings, cards, briefings, notify]
ROOT = Path(laoyou.__file__).parent
# Commits happen in mutation_boundary (graphql/errors.py) and the job runner, not in pages or resolvers.
COMMIT_FREE = ["web/briefings.py", "web/media.py", "web/notify.py", "accounts/schema.py"] + [
    f"web/{group.__name__.rsplit('.', 1)[1]}.py" for group in PAGE_GROUPS
]


def _tables(group: ModuleType) -> list[PageRoute]:
    return [route for name in ("PAGES", "DEMO_PAGES") for route in getattr(group, name, ())]


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
    demo = app.state.settings.is_demo
    for group in PAGE_GROUPS:
        for route in group.PAGES + (getattr(group, "DEMO_PAGES", ()) if demo else ()):
            assert (route.method, route.path) in installed


@pytest.mark.parametrize("path", sorted(set(COMMIT_FREE)))
def test_no_commit_outside_the_boundary(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    commits = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in ("commit", "commit_and_publish"))
            or (isinstance(node.func, ast.Name) and node.func.id == "commit_and_publish")
        )
    ]
    assert not commits, f"{path} commits at lines {commits}"

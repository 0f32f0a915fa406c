"""Tickets' pages: two page groups of small named handlers, installed from their tables, that never commit
(the files of a report or a step end in the mutation's boundary with it)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.routing import APIRoute

import laoyou
from laoyou.web import repairs, work_orders
from laoyou.web.render import PageRoute

PAGE_GROUPS = [repairs, work_orders]
ROOT = Path(laoyou.__file__).parent


@pytest.mark.parametrize("group", PAGE_GROUPS, ids=lambda g: g.__name__)
def test_each_page_is_a_named_handler_of_its_module(group: ModuleType) -> None:
    assert group.PAGES and all(isinstance(route, PageRoute) for route in group.PAGES)
    for route in group.PAGES:
        handler = route.handler
        assert handler.__qualname__ == handler.__name__, f"{route.path}: a nested handler"
        assert getattr(group, handler.__name__) is handler
        assert inspect.iscoroutinefunction(handler)


def test_every_page_of_the_tables_is_installed(app: Any) -> None:
    installed = {(method, r.path) for r in app.routes if isinstance(r, APIRoute) for method in r.methods}
    for group in PAGE_GROUPS:
        for route in group.PAGES:
            assert (route.method, route.path) in installed


@pytest.mark.parametrize("path", ["web/tickets.py", "web/repairs.py", "web/work_orders.py"])
def test_the_pages_do_not_commit(path: str) -> None:
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

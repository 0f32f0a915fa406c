"""The README and docs/ name only what exists: their links, and the repository paths and Python names they quote.

A path or name in `backticks` that starts with a top-level folder or file of the repository (tests/…, pwa/…)
or with a package of backend/laoyou/ (core/db.py, web/render.py) must exist; `<placeholder>` and `*` match any
name, `{a,b}` either; `file.py::test_name` must define that test. A dotted name that starts with a package of
laoyou (`estates.service.staff_community_ids`) must import. Links relative to the page must lead to a file.
So when code moves, the page that describes it fails here instead of sending the next reader nowhere.
"""

from __future__ import annotations

import importlib
import re
from itertools import product
from pathlib import Path

import pytest

from laoyou.core.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "backend" / "laoyou"
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
# What a checkout holds at its top (the demo's data folder, made by running it, is no part of it).
TOP_LEVEL = {p.name for p in REPO_ROOT.iterdir() if not p.name.startswith(".") or p.name == ".ci"}
TOP_LEVEL -= {"laoyou-data"}
PACKAGES = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
DOTTED = re.compile(rf"^(?:laoyou\.)?(?:{'|'.join(sorted(PACKAGES))})(?:\.[A-Za-z_]\w*)+$(?<!\.py)")


def _prose(page: Path) -> str:
    """The page without its fenced blocks (sample output, trees and commands with placeholders)."""
    return re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


def _spans(page: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", _prose(page))


def _expand(word: str) -> list[str]:
    """`{a,b}` alternatives spelled out; `<placeholder>` as a glob."""
    parts = re.split(r"\{([^{}]*,[^{}]*)\}", re.sub(r"<[^<>/]+>", "*", word))
    choices = [part.split(",") if index % 2 else [part] for index, part in enumerate(parts)]
    return ["".join(combination) for combination in product(*choices)]


def _path_problem(word: str) -> str | None:
    word, _, test_name = word.rstrip(".,:;)").partition("::")
    first = word.split("/", 1)[0]
    if "/" in word and first in PACKAGES:
        root = PACKAGE
    elif first in TOP_LEVEL and ("/" in word or (REPO_ROOT / first).is_file()):
        root = REPO_ROOT
    else:
        return None  # not a repository path: a URL, a command, a path on the server
    for pattern in _expand(word.rstrip("/")):
        found = sorted(root.glob(pattern)) if "*" in pattern else [root / pattern]
        if not any(path.exists() for path in found):
            return f"{word}: no such path"
        if test_name and not any(re.search(rf"def {re.escape(test_name)}\(", p.read_text()) for p in found):
            return f"{word}::{test_name}: no such test"
    return None


def _name_problem(dotted: str) -> str | None:
    parts = dotted.removeprefix("laoyou.").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module("laoyou." + ".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return f"{dotted}: laoyou.{'.'.join(parts[:cut])} has no {'.'.join(parts[cut:])}"
            found = getattr(found, attribute)
        return None
    return f"{dotted}: no such module"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_quoted_path_and_name_exists(page: Path) -> None:
    problems = []
    for span in _spans(page):
        if DOTTED.match(span):
            problems.append(_name_problem(span))
        else:
            problems += [_path_problem(word) for word in span.split()]
    assert [p for p in problems if p] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_relative_link_leads_to_a_file(page: Path) -> None:
    targets = re.findall(r"\]\(([^)\s]+)\)", _prose(page))
    relative = [t.split("#", 1)[0] for t in targets if not re.match(r"^[a-z]+:|^#|^/", t)]
    assert [t for t in relative if not (page.parent / t).exists()] == []


def test_the_checks_find_what_is_missing() -> None:
    # Given quotes of things that do not exist, and of things that do
    # Then only the missing ones are reported
    assert _path_problem("backend/laoyou/core/nothing.py") is not None
    assert _path_problem("core/db.py") is None and _path_problem("pwa/locales/{zh_CN,en}/LC_MESSAGES") is None
    assert _path_problem("tests/core/test_time.py::test_nothing_here") is not None
    assert _path_problem("tests/<domain>/__init__.py") is None and _path_problem("/healthz") is None
    assert _name_problem("estates.service.staff_community_ids") is None
    assert _name_problem("estates.service.nobody") is not None and _name_problem("core.nothing") is not None

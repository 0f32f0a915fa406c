"""Domains import downward only: core knows no domain, and no two layers import each other (see LAYERS).

The layers are those of the architecture (core; estates; accounts; notify and media; billing, tickets and
briefings; support), with a few modules of accounts and notify placed lower, where what they hold is used.
"""

from __future__ import annotations

import ast
from pathlib import Path

import laoyou

ROOT = Path(laoyou.__file__).parent

# Lowest first. A module listed by name sits at its own layer; every other module sits at its package's.
LAYERS: dict[str, int] = {
    "core": 0,
    # Who is asking and the roles they hold, and the audit of what they read: estates scopes by them.
    "accounts.models": 1,
    "accounts.actor": 1,
    "accounts.audit": 1,
    # A person's account changed (a session ended, grants given or taken): estates announces it with the grant.
    "accounts.live": 1,
    "estates": 2,
    # The push outbox: accounts queues a person's notification to their phones in its own transaction.
    "notify.models": 3,
    "notify.outbox": 3,
    # Its climb to other channels is planned in the same transaction (notify.reach.plan, below accounts).
    "notify.reach.models": 3,
    "notify.reach.plan": 3,
    "accounts": 4,
    "notify": 5,
    "media": 5,
    "billing": 6,
    "tickets": 6,
    "briefings": 6,
    "support": 7,  # reads tickets and bills through their services
    # Care for elderly residents: consent, check-ins and their escalation through notify, tickets and support's SOS;
    # sensors raise work orders (tickets) and SOS (support).
    "care": 8,
    # Owners' decisions and officials' views: reads billing, tickets, support and care through their services.
    "governance": 9,
}
# These assemble the domains (import anything; nothing in a domain imports them).
ASSEMBLERS = {"graphql", "web", "demo", "app", "cli", "models", "jobs", "migrations", "__init__"}
# The allow-list: a domain's GraphQL types and loaders build on the schema's toolkit (the request context,
# the loader shapes, errors, permissions, ids), which in turn imports no domain schema and no assembler.
TOOLKIT = {
    "graphql.context",
    "graphql.errors",
    "graphql.live",
    "graphql.loaders",
    "graphql.permissions",
    "graphql.types",
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def _imports(tree: ast.AST) -> set[str]:
    """Every laoyou module an import loads, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            submodules = {name for name in submodules if _is_module(name.removeprefix("laoyou."))}
            # `from laoyou.x import service` loads laoyou.x.service (package __init__ files import nothing);
            # `from laoyou.x.service import f` loads laoyou.x.service.
            found |= submodules if len(submodules) == len(node.names) else submodules | {node.module}
    return {name.removeprefix("laoyou.") for name in found if name.startswith("laoyou.")}


def _unit(module: str) -> str:
    """The layer entry a module belongs to: its own name if listed, else its package."""
    for size in range(module.count(".") + 1, 0, -1):
        name = ".".join(module.split(".")[:size])
        if name in LAYERS or name in ASSEMBLERS or name in TOOLKIT:
            return name
    raise AssertionError(f"laoyou.{module} has no layer: add its package to LAYERS or ASSEMBLERS")


def _edges() -> set[tuple[str, str, str]]:
    """(importing module, imported module, the importer's layer entry) for every import between modules."""
    edges = set()
    for path in ROOT.rglob("*.py"):
        source = _module(path)
        for target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if _is_module(target):
                edges.add((source, target, _unit(source)))
    return edges


def test_domains_import_only_layers_below():
    # Every arrow between layers points strictly down, so no two layers (and no two domains) form a circle.
    wrong = []
    for source, target, unit in sorted(_edges()):
        to = _unit(target)
        if unit == to or unit in ASSEMBLERS or unit in TOOLKIT:
            continue
        if to in TOOLKIT and source.endswith((".schema", ".loaders")):
            continue
        if to in LAYERS and LAYERS[to] == LAYERS[unit] and to.split(".")[0] == unit.split(".")[0]:
            continue
        if to in ASSEMBLERS or to in TOOLKIT or LAYERS[to] >= LAYERS[unit]:
            wrong.append(f"laoyou.{source} -> laoyou.{target}")
    assert wrong == [], "\n".join(wrong)


def test_the_graphql_toolkit_imports_no_domain_schema():
    wrong = [
        f"laoyou.{source} -> laoyou.{target}"
        for source, target, unit in sorted(_edges())
        if unit in TOOLKIT and (target.endswith(".schema") or _unit(target) in ASSEMBLERS)
    ]
    assert wrong == [], "\n".join(wrong)

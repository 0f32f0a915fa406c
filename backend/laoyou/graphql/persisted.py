"""Persisted operations: the PWA's documents in pwa/operations/*.graphql, accepted by their sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from graphql import OperationDefinitionNode, parse


@dataclass(frozen=True)
class PersistedOperation:
    name: str
    document: str
    sha256: str


class PersistedOperations:
    def __init__(self, directory: Path) -> None:
        self.by_hash: dict[str, PersistedOperation] = {}
        self.by_name: dict[str, PersistedOperation] = {}
        for path in sorted(directory.glob("*.graphql")):
            document = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(document.encode()).hexdigest()
            names = [
                d.name.value
                for d in parse(document).definitions
                if isinstance(d, OperationDefinitionNode) and d.name
            ]
            for name in names:
                if name in self.by_name:
                    raise ValueError(f"operation {name} is defined twice in pwa/operations")
                operation = PersistedOperation(name=name, document=document, sha256=digest)
                self.by_name[name] = operation
                self.by_hash[digest] = operation

    def __getitem__(self, name: str) -> PersistedOperation:
        return self.by_name[name]

    def document_for(self, sha256: str) -> str | None:
        found = self.by_hash.get(sha256)
        return found.document if found else None

    def is_persisted(self, document: str | None) -> bool:
        if not document:
            return False
        return hashlib.sha256(document.encode()).hexdigest() in self.by_hash

    def manifest(self) -> dict[str, str]:
        """Operation name to hash, for the browser's JavaScript."""
        return {name: op.sha256 for name, op in sorted(self.by_name.items())}

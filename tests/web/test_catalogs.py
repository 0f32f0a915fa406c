"""Every user-facing English msgid has a translation in the Chinese catalogs, with the same placeholders.

The msgids are gathered the way babel.cfg says (gettext calls and the demo data's _() in backend/laoyou,
the jinja2 i18n calls in pwa/templates), plus the messages given to LaoyouError, PermissionDenied and
NotFound and the permission classes' `message = "..."`, found with the ast module (a call's message may
span lines, and a class attribute or a default argument is no call at all).

Maintainers: after adding strings, run `python -m tests.web.test_catalogs` from the repository root. It
adds the new msgids to pwa/locales/*/LC_MESSAGES/messages.po (with an empty msgstr to fill in; English
copies the msgid), keeps every existing translation and refreshes the source references.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "pwa" / "locales"
LANGUAGES = ("zh_CN", "zh_TW", "en")
MUST_TRANSLATE = ("zh_CN", "zh_TW")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")

# Calls whose argument (by position, or the `message=` keyword) is a user-facing msgid.
ERROR_CALLS = {"LaoyouError": 1, "PermissionDenied": 0, "NotFound": 0}
MESSAGE_CLASSES = re.compile(r"(Error|Denied|NotFound|Permission|Exception)$")

Msgid = str | tuple[str, ...]


def _babel_messages() -> Iterator[tuple[Msgid, str]]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    # Babel merges the keywords babel.cfg names for a section into its default ones.
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        yield message, f"{filename}:{lineno}"


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _base_names(node: ast.ClassDef) -> list[str]:
    return [
        b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
        for b in node.bases
    ]


def _error_messages(path: Path) -> Iterator[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            if name in ERROR_CALLS:
                index = ERROR_CALLS[name]
                arg = node.args[index] if len(node.args) > index else None
                arg = arg or next((k.value for k in node.keywords if k.arg == "message"), None)
                if (text := _string(arg)) is not None:
                    yield text, node.lineno
        elif isinstance(node, ast.ClassDef) and (
            MESSAGE_CLASSES.search(node.name) or any(MESSAGE_CLASSES.search(b) for b in _base_names(node))
        ):
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and any(
                    getattr(t, "id", None) == "message" for t in stmt.targets
                ):
                    if (text := _string(stmt.value)) is not None:
                        yield text, stmt.lineno
                elif isinstance(stmt, ast.AnnAssign) and getattr(stmt.target, "id", None) == "message":
                    if (text := _string(stmt.value)) is not None:
                        yield text, stmt.lineno
                elif isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                    args = stmt.args.args[len(stmt.args.args) - len(stmt.args.defaults) :]
                    for arg, default in zip(args, stmt.args.defaults, strict=True):
                        if arg.arg == "message" and (text := _string(default)) is not None:
                            yield text, stmt.lineno


@lru_cache
def gather_msgids() -> dict[Msgid, list[str]]:
    """Every user-facing msgid in the code and templates, with where it is used."""
    found: dict[Msgid, list[str]] = {}
    for message, where in _babel_messages():
        if isinstance(message, (list, tuple)):
            message = tuple(message)
            if not all(message):
                continue
        elif not message:
            continue
        found.setdefault(message, []).append(where)
    for path in sorted((ROOT / "backend" / "laoyou").rglob("*.py")):
        for text, lineno in _error_messages(path):
            if text:
                found.setdefault(text, []).append(f"{path.relative_to(ROOT)}:{lineno}")
    return found


@lru_cache
def load_catalog(language: str) -> Catalog:
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _placeholders(text: str) -> list[str]:
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text))


def _forms(message: Msgid) -> tuple[str, ...]:
    return message if isinstance(message, tuple) else (message,)


# --- tests -------------------------------------------------------------------------------------------


def test_the_gathering_finds_code_templates_and_error_messages() -> None:
    msgids = gather_msgids()
    assert "Call my steward" in msgids  # a template
    assert "Please enter a valid mobile number." in msgids  # LaoyouError
    assert "Only staff can do this." in msgids  # a permission class's message attribute
    assert "You are not allowed to do this." in msgids  # PermissionDenied's default
    assert "Resident of Xiushan Garden, 78 years old" in msgids  # the demo data's _()
    assert "That code is not right. %(left)s tries left." in msgids  # a call over several lines


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_msgid_is_in_the_catalog(language: str) -> None:
    catalog = load_catalog(language)
    missing = []
    for msgid, where in gather_msgids().items():
        message = catalog.get(msgid)
        if message is None:
            missing.append(f"{msgid!r} ({where[0]})")
        elif language in MUST_TRANSLATE and (message.fuzzy or not all(_forms(message.string or ""))):
            missing.append(f"{msgid!r} has no translation ({where[0]})")
    assert not missing, (
        f"{len(missing)} msgid(s) lack a translation in {language}; run `python -m tests.web.test_catalogs` "
        "and fill them in:\n" + "\n".join(missing)
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_match(language: str) -> None:
    wrong = []
    for message in load_catalog(language):
        if not message.id or not message.string:
            continue
        ids, strings = _forms(message.id), _forms(message.string)
        expected = _placeholders(ids[-1])
        for text in strings:
            if text and _placeholders(text) != expected:
                wrong.append(f"{ids[0]!r} -> {text!r}")
            elif text:
                try:
                    text % {name: "x" for name in re.findall(r"%\((\w+)\)", text)}
                except (ValueError, TypeError, KeyError) as exc:
                    wrong.append(f"{ids[0]!r} -> {text!r}: {exc}")
    assert not wrong, f"placeholders differ in {language}:\n" + "\n".join(wrong)


def test_catalogs_parse_cleanly_and_are_used() -> None:
    from laoyou.core import i18n

    assert i18n.gettext("Call my steward", "zh_CN") == "给管家打电话"
    assert i18n.gettext("Call my steward", "zh_TW") == "打電話給管家"
    assert i18n.gettext("Call my steward", "en") == "Call my steward"
    assert i18n.gettext("Hello, %(name)s", "zh_CN", name="王秀英") == "王秀英，您好"
    for language in LANGUAGES:
        catalog = load_catalog(language)
        assert catalog.locale is not None and catalog.locale.language == language[:2]
        assert not [m.id for m in catalog if m.fuzzy and m.id], f"fuzzy entries in {language}"


# --- maintenance: python -m tests.web.test_catalogs ------------------------------------------------------


LANGUAGE_NAMES = {"zh_CN": "Simplified Chinese", "zh_TW": "Traditional Chinese", "en": "English"}
HEADER = (
    "# Laoyou (老友): {name} messages.\n"
    "# English msgids come from backend/laoyou and pwa/templates (see babel.cfg).\n"
    "# Add new msgids with `python -m tests.web.test_catalogs`, then translate them here.\n"
    "#"
)


def update_catalogs() -> None:
    msgids = gather_msgids()
    for language in LANGUAGES:
        path = LOCALES / language / "LC_MESSAGES" / "messages.po"
        old = load_catalog(language) if path.exists() else Catalog(locale=language)
        # Keep the catalog's order (new msgids go at the end) and name files without line numbers, so an
        # update only touches what changed, even while several people add strings at once.
        order = {
            m.id if isinstance(m.id, str) else tuple(m.id): i for i, m in enumerate(m for m in old if m.id)
        }
        entries, added = [], 0
        for msgid in sorted(msgids, key=lambda key: order.get(key, len(order))):
            previous = old.get(msgid)
            string = previous.string if previous and not previous.fuzzy else None
            if not string:
                added += 1
                string = msgid if language == "en" else ("",) * len(msgid) if isinstance(msgid, tuple) else ""
            locations = [(name, None) for name in dict.fromkeys(w.rsplit(":", 1)[0] for w in msgids[msgid])]
            entries.append((msgid, string, locations))
        changed = added or len(entries) != len([m for m in old if m.id])
        revised = old.revision_date if isinstance(old.revision_date, datetime) and not changed else None
        new = Catalog(
            locale=language,
            domain="messages",
            project="Laoyou",
            version="1",
            copyright_holder="Laoyou",
            msgid_bugs_address="see README.md",
            last_translator="Laoyou",
            language_team=LANGUAGE_NAMES[language],
            header_comment=HEADER.format(name=LANGUAGE_NAMES[language]),
            fuzzy=False,
            creation_date=old.creation_date,
            revision_date=revised or datetime.now(UTC),
        )
        for msgid, string, locations in entries:
            new.add(msgid, string, locations=locations)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, new, width=110, omit_header=False, include_lineno=False)
        print(f"{path.relative_to(ROOT)}: {len(new)} messages, {added} new")  # noqa: T201


if __name__ == "__main__":
    if "--update" in sys.argv or len(sys.argv) == 1:
        update_catalogs()

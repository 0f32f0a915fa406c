"""Templates ask for static files by their content-hashed names (web/assets.py), never by a written /static/ path,
which a browser would keep under the short cache and fetch again after every deploy."""

from __future__ import annotations

import re
from pathlib import Path

PWA = Path(__file__).resolve().parents[2] / "pwa"
TEMPLATES = PWA / "templates"
STATIC_URL = re.compile(r"""static_url\(\s*['"]([^'"]+)['"]\s*\)""")


def test_no_template_writes_a_static_path_by_hand():
    # Given every template
    written = [
        f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "/static/" in line
    ]
    # Then none names a static file but through static_url
    assert written == []


def test_every_static_url_names_a_file_that_is_there():
    # Given the names the templates give static_url
    names = {
        name
        for path in TEMPLATES.rglob("*.html")
        for name in STATIC_URL.findall(path.read_text(encoding="utf-8"))
    }
    # Then each is a static file (a wrong name would fail the page that renders it)
    assert names and not [name for name in sorted(names) if not (PWA / "static" / name).is_file()]
    assert {"js/chat.js", "js/call.js", "js/tickets.js", "js/briefings.js"} <= names

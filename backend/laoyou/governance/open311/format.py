"""The GeoReport v2 wire formats: the same lists as JSON arrays or as XML (element names per the spec)."""

from __future__ import annotations

import json
from xml.etree import ElementTree

# The root and item element of each answer's XML.
SERVICES = ("services", "service")
REQUESTS = ("service_requests", "request")
ERRORS = ("errors", "error")

MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def to_xml(items: list[dict], names: tuple[str, str]) -> bytes:
    root = ElementTree.Element(names[0])
    for item in items:
        element = ElementTree.SubElement(root, names[1])
        for key, value in item.items():
            ElementTree.SubElement(element, key).text = _text(value)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def render(items: list[dict], names: tuple[str, str], fmt: str) -> bytes:
    if fmt == "xml":
        return to_xml(items, names)
    return json.dumps(items, ensure_ascii=False).encode()

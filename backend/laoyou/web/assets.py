"""The PWA's static files under content-hashed names: `static_url("css/app.css")` is
/static/css/app.<hash>.css, which a browser may keep for a year without asking again, since a changed file gets
a new name. The names are computed once, when the app starts."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

HASHED = "public, max-age=31536000, immutable"
# A name without its hash (the scripts' own imports, the manifest's icons) or with a hash this start did not
# make (a page from before a deploy): the current file, and the browser asks again soon.
UNHASHED = "public, max-age=600"
_HASH_LENGTH = 12
_HASHED_NAME = re.compile(r"^(?P<stem>.+)\.[0-9a-f]{12}(?P<suffix>\.[^./]+)$")  # _HASH_LENGTH hex digits


class StaticAssets:
    """Every file under the static folder with the hash of its content, read once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.hashed: dict[str, str] = {}  # "css/app.css" -> "css/app.<hash>.css"
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                name = file.relative_to(directory).as_posix()
                digest = hashlib.sha256(file.read_bytes()).hexdigest()[:_HASH_LENGTH]
                self.hashed[name] = (
                    f"{name[: -len(file.suffix)]}.{digest}{file.suffix}" if file.suffix else name
                )
        self.original = {hashed: name for name, hashed in self.hashed.items()}
        self.version = hashlib.sha256("".join(sorted(self.hashed.values())).encode()).hexdigest()[
            :_HASH_LENGTH
        ]

    def url(self, name: str) -> str:
        """The hashed URL of a static file (templates: `static_url`); a name that is not there is a bug."""
        return "/static/" + self.hashed[name]

    def resolve(self, path: str) -> tuple[str, str]:
        """The file a requested path is served from, and its Cache-Control."""
        if path in self.original:
            return self.original[path], HASHED
        match = _HASHED_NAME.match(path)
        if match and f"{match['stem']}{match['suffix']}" in self.hashed:
            return f"{match['stem']}{match['suffix']}", UNHASHED
        return path, UNHASHED


class HashedStaticFiles(StaticFiles):
    """/static: hashed names kept for a year, immutable; the plain names still served, for a short while."""

    def __init__(self, assets: StaticAssets) -> None:
        super().__init__(directory=assets.directory)
        self.assets = assets

    async def get_response(self, path: str, scope: Scope) -> Response:
        name, cache_control = self.assets.resolve(path)
        response = await super().get_response(name, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = cache_control
        return response

"""schema.graphql at the root of the repository is the schema the code serves."""

from __future__ import annotations

from typer.testing import CliRunner

from laoyou.cli import app as cli
from laoyou.core.settings import REPO_ROOT
from laoyou.graphql.schema import export_sdl


def test_schema_file_matches_laoyou_export_schema():
    # When the command prints the schema
    result = CliRunner().invoke(cli, ["export-schema"])
    assert result.exit_code == 0, result.output
    # Then the committed file is exactly that (regenerate: laoyou export-schema --output schema.graphql)
    committed = (REPO_ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed.strip() == result.stdout.strip(), (
        "schema.graphql is stale: run laoyou export-schema --output schema.graphql"
    )


def test_export_is_the_served_schema(app):
    assert export_sdl().strip() == app.state.schema.as_str().strip()

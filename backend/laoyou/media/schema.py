"""The GraphQL type other domains use for attached files."""

from __future__ import annotations

import strawberry

from laoyou.graphql.types import encode_id
from laoyou.media.models import MediaFile as MediaFileRow


@strawberry.type(description="An uploaded photo, voice note or video.")
class MediaFile:
    row: strawberry.Private[MediaFileRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field(description="image, audio or video")
    def kind(self) -> str:
        return self.row.kind

    @strawberry.field
    def content_type(self) -> str:
        return self.row.content_type

    @strawberry.field
    def url(self) -> str:
        return f"/media/{self.row.id}"

    @strawberry.field(description="A small JPEG for lists; images only.")
    def thumb_url(self) -> str | None:
        return f"/media/{self.row.id}/thumb" if self.row.thumb_key else None

    @strawberry.field
    def width(self) -> int | None:
        return self.row.width

    @strawberry.field
    def height(self) -> int | None:
        return self.row.height

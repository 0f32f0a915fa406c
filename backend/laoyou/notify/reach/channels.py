"""What the reach sender needs of each channel's provider: WeChat's official account, an SMS provider and a
voice-notification provider. Each adapter turns one notice into one provider request and says, when it fails,
whether trying again could help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ChannelFailed(Exception):
    """The provider did not take the message."""

    def __init__(self, message: str, *, retry: bool, code: str = "", gone: bool = False) -> None:
        super().__init__(message)
        self.retry = retry  # a timeout or the provider's 5xx: the same request may succeed later
        self.code = code  # the provider's own error code, when it gave one
        self.gone = gone  # the address no longer works (she unfollowed the official account)


@dataclass(frozen=True)
class Notice:
    """What every channel says: a title, a line of text and the page it opens (an absolute URL)."""

    kind: str
    priority: str
    title: str
    body: str
    url: str
    language: str | None = None


class WechatSender(Protocol):
    appid: str

    async def send(self, openid: str, notice: Notice, *, reference: str | None = None) -> str:
        """Send a template message; returns WeChat's msgid. The same reference (the climb step's) is sent once
        however often it is retried."""
        ...

    async def aclose(self) -> None: ...


class VoiceSender(Protocol):
    async def call(self, phone: str, notice: Notice, *, reference: str) -> str:
        """Ring the phone and read the notice (text to speech); returns the provider's call id. `reference`
        is ours, passed where the provider echoes it back in its call report."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class CallReport:
    """A provider's report on one call: whether she answered, and the key she pressed ("1" confirms)."""

    call_id: str
    answered: bool
    keypress: str = ""
    reference: str = ""

"""Web push encryption (RFC 8291, aes128gcm), done by pywebpush (http_ece underneath).

Kept apart from the sender so the encryption processes import only this and pywebpush: the sender hands them
plain tuples (endpoint, p256dh, auth, payload) and gets bodies back. `cryptography` holds the GIL while it
works, so threads cannot share this out; processes can.
"""

from __future__ import annotations

from pywebpush import WebPusher

Plain = tuple[str, str, str, bytes]  # endpoint, p256dh, auth, payload


def encrypt_body(endpoint: str, p256dh: str, auth: str, payload: bytes) -> bytes:
    """One message's body, with a fresh ephemeral key and salt."""
    pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
    return pusher.encode(payload, "aes128gcm")["body"]


def encrypt_many(items: list[Plain]) -> list[bytes | None]:
    """A chunk's bodies, in order; None for a message whose keys cannot be used (one bad device must not
    take its neighbours down with it)."""
    bodies: list[bytes | None] = []
    for item in items:
        try:
            bodies.append(encrypt_body(*item))
        except Exception:  # noqa: BLE001 - recorded by the sender as a failed delivery
            bodies.append(None)
    return bodies


def ready() -> bool:
    """A no-op a new process runs to show it is up (and has imported this module)."""
    return True

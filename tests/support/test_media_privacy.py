"""A photo sent to customer service is seen by the conversation's people only, not the whole community."""

from __future__ import annotations

from ..conftest import AGENT_NANNING, OFFICIAL_XIUSHAN, RESIDENT_XIUSHAN, login_demo
from ..media.test_uploads import community_of, jpeg_with_gps, upload
from .helpers import go_online, send


async def test_chat_photo_is_private_to_the_conversation(app, client, gql, db):
    # Given a resident who sends a photo to customer service, and an agent on duty
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    stored = (
        await upload(client, resident.token, jpeg_with_gps(300, 200), await community_of(resident))
    ).json()
    sent = await send(resident, "门口的灯坏了", mediaId=stored["id"])
    assert sent["__typename"] == "ChatMessageSent", sent
    # Then the district's agent can open it
    headers = {"Authorization": f"Bearer {agent.token}"}
    assert (await client.get(stored["url"], headers=headers)).status_code == 200
    # But the community's official, who sees the community and not the conversation, cannot
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    response = await client.get(stored["url"], headers={"Authorization": f"Bearer {official.token}"})
    assert response.status_code == 404
    assert (
        await client.get(stored["thumbUrl"], headers={"Authorization": f"Bearer {official.token}"})
    ).status_code == 404

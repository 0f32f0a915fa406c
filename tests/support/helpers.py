"""GraphQL documents and small steps the customer-service tests share."""

from __future__ import annotations

import uuid

SEND = """
mutation Send($clientId: String!, $body: String!, $conversationId: ID, $mediaId: ID) {
  sendChatMessage(clientId: $clientId, body: $body, conversationId: $conversationId, mediaId: $mediaId) {
    __typename
    ... on ChatMessageSent {
      chatMessage { id seq kind body fromStaff clientId sender { name } media { kind url } }
      conversation { id status urgent lastSeq assignee { name } }
      serviceReplies { seq kind body actions { kind label phone href } }
    }
    ... on SupportError { message code field }
  }
}
"""

CONVERSATION = """
query Conversation($id: ID!, $after: Int!) {
  supportConversation(id: $id) {
    id status lastSeq residentReadSeq staffReadSeq staffDeliveredSeq rating
    messages(afterSeq: $after) { seq kind body fromStaff clientId }
  }
}
"""

SET_STATUS = """
mutation Status($online: Boolean, $start: String, $end: String) {
  setAgentStatus(online: $online, hoursStart: $start, hoursEnd: $end) {
    __typename
    ... on AgentStatusUpdated { status { online hoursStart hoursEnd onShift } }
    ... on SupportError { message field }
  }
}
"""

QUEUE = "query { supportQueue { id status urgent waitingMinutes resident { name } household { address } } }"


def cid() -> str:
    return uuid.uuid4().hex


async def send(
    gql, body: str, conversation_id: str | None = None, client_id: str | None = None, **extra
) -> dict:  # noqa: ANN001
    variables = {"clientId": client_id or cid(), "body": body, "conversationId": conversation_id, **extra}
    result = (await gql(SEND, variables))["data"]["sendChatMessage"]
    return result


async def go_online(agent, online: bool = True) -> None:  # noqa: ANN001
    # Hours 00:00–00:00 mean around the clock, so tests do not depend on the time of day.
    data = (await agent(SET_STATUS, {"online": online, "start": "00:00", "end": "00:00"}))["data"][
        "setAgentStatus"
    ]
    assert data["__typename"] == "AgentStatusUpdated", data

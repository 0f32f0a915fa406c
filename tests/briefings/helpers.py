"""GraphQL documents and helpers shared by the briefing tests."""

from __future__ import annotations

from typing import Any

from ..conftest import GraphQLClient

COMMUNITIES = "query { briefingCommunities { id name } }"
MY_COMMUNITY = "query { viewer { households { id community { id name } } } }"

CREATE = """
mutation ($input: BriefingInput!, $mode: BriefingPublishMode!, $publishAt: DateTime) {
  createBriefing(input: $input, mode: $mode, publishAt: $publishAt) {
    __typename
    ... on BriefingSaved { briefing { id status publishedAt shareUrl } }
    ... on Error { field message code }
  }
}
"""

UPDATE = """
mutation ($id: ID!, $input: BriefingInput!, $mode: BriefingPublishMode) {
  updateBriefing(id: $id, input: $input, mode: $mode) {
    __typename
    ... on BriefingSaved { briefing { id status editedAt title } }
    ... on Error { field message code }
  }
}
"""

BRIEFING = """
query ($id: ID!) {
  briefing(id: $id) {
    id title body status editedAt readByMe thankedByMe
    items { kind text }
    photos { id url thumbUrl }
    communities { id name }
    readReceipts { community { id } households householdsRead thanks }
    shareUrl
  }
}
"""

TODAY = "query { todaysBriefings { id title readByMe } }"
LIST = "query { briefings(first: 20) { nodes { id title status } pageInfo { hasNextPage } } }"
MARK_READ = "mutation ($id: ID!) { markBriefingRead(id: $id) { __typename ... on BriefingRead { newlyRead } ... on Error { message } } }"
THANK = "mutation ($id: ID!) { thankBriefing(id: $id) { __typename ... on BriefingSaved { briefing { thankedByMe } } ... on Error { message code } } }"
PUBLISH = "mutation ($id: ID!) { publishBriefing(id: $id) { __typename ... on BriefingSaved { briefing { status } } ... on Error { message code } } }"
WITHDRAW = "mutation ($id: ID!) { withdrawBriefing(id: $id) { __typename ... on BriefingSaved { briefing { status } } ... on Error { message code } } }"
SHARED = "query ($token: String!) { sharedBriefing(token: $token) { title body communityNames operatorName photos { url } } }"


async def community_ids(steward: GraphQLClient) -> dict[str, str]:
    return {c["name"]: c["id"] for c in (await steward(COMMUNITIES))["data"]["briefingCommunities"]}


def briefing_input(community_ids: list[str], **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "communityIds": community_ids,
        "title": "今日工作简报",
        "body": "今天清扫了小区道路，修好了3号楼的路灯。",
        "items": [
            {"kind": "CLEANING", "text": "清扫主干道"},
            {"kind": "REPAIR", "text": "3号楼路灯"},
            {"kind": "PATROL", "text": "夜间巡逻两次"},
        ],
    }
    values.update(overrides)
    return values


async def post_briefing(
    steward: GraphQLClient, community_ids: list[str], mode: str = "NOW", **overrides: Any
) -> dict:
    data = (await steward(CREATE, {"input": briefing_input(community_ids, **overrides), "mode": mode}))[
        "data"
    ]
    result = data["createBriefing"]
    assert result["__typename"] == "BriefingSaved", result
    return result["briefing"]

"""GraphQL documents and small helpers shared by the work-order tests."""

from __future__ import annotations

import io
import uuid

from PIL import Image

REPORT = """
mutation ($input: ReportProblemInput!) {
  reportProblem(input: $input) {
    __typename
    ... on WorkOrderReported { created workOrder { id status kind category urgency community { id name } photos { id } } }
    ... on Error { field message code }
  }
}
"""

WORK_ORDER = """
query ($id: ID!) {
  workOrder(id: $id) {
    id status kind authorHidden where description
    reporter { name phone }
    assignee { id name }
    photos { id url }
    voiceNote { id }
    allowedActions
    timeline { action fromStatus toStatus note actorName }
  }
}
"""

VIEWER = "query { viewer { person { id } households { id community { id district { id } } } roles { role districtId communityId } } }"

ACTION_RESULT = "__typename ... on WorkOrderChanged { workOrder { id status assignee { id } } } ... on Error { field message code }"
ASSIGN = f'mutation ($id: ID!, $to: ID, $note: String! = "") {{ assignWorkOrder(id: $id, assigneeId: $to, note: $note) {{ {ACTION_RESULT} }} }}'
GRAB = f"mutation ($id: ID!) {{ grabWorkOrder(id: $id) {{ {ACTION_RESULT} }} }}"
ACCEPT = f"mutation ($id: ID!) {{ acceptWorkOrder(id: $id) {{ {ACTION_RESULT} }} }}"
START = f"mutation ($id: ID!) {{ startWorkOrder(id: $id) {{ {ACTION_RESULT} }} }}"
FINISH = f'mutation ($id: ID!, $note: String! = "") {{ finishWorkOrder(id: $id, note: $note) {{ {ACTION_RESULT} }} }}'
CONFIRM = f"mutation ($id: ID!, $rating: Int!) {{ confirmWorkOrder(id: $id, rating: $rating) {{ {ACTION_RESULT} }} }}"
REOPEN = (
    f"mutation ($id: ID!, $note: String!) {{ reopenWorkOrder(id: $id, note: $note) {{ {ACTION_RESULT} }} }}"
)
CANCEL = f"mutation ($id: ID!) {{ cancelWorkOrder(id: $id) {{ {ACTION_RESULT} }} }}"
TRANSFER = f"mutation ($id: ID!, $note: String!, $to: ID) {{ transferWorkOrder(id: $id, note: $note, assigneeId: $to) {{ {ACTION_RESULT} }} }}"
NOTE = (
    f"mutation ($id: ID!, $note: String!) {{ addWorkOrderNote(id: $id, note: $note) {{ {ACTION_RESULT} }} }}"
)
ESCALATE = (
    f"mutation ($id: ID!, $note: String!) {{ escalateWorkOrder(id: $id, note: $note) {{ {ACTION_RESULT} }} }}"
)
RETURN_VISIT = (
    f"mutation ($id: ID!, $note: String!) {{ recordReturnVisit(id: $id, note: $note) {{ {ACTION_RESULT} }} }}"
)

BOARD = """
query ($district: ID!, $overdue: Boolean! = false, $category: WorkOrderCategory, $status: WorkOrderStatus) {
  workOrderBoard(districtId: $district, overdueOnly: $overdue, category: $category, status: $status, first: 50) {
    nodes { id status category community { name } assignee { name } overdue }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def client_id() -> str:
    return uuid.uuid4().hex


def jpeg(width: int = 400, height: int = 300) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(out, "JPEG")
    return out.getvalue()


async def viewer(gql) -> dict:  # noqa: ANN001
    return (await gql(VIEWER))["data"]["viewer"]


async def report(gql, **fields) -> dict:  # noqa: ANN001, ANN003
    fields.setdefault("clientId", client_id())
    fields.setdefault("category", "water")
    fields.setdefault("description", "水龙头坏了")
    return (await gql(REPORT, {"input": fields}))["data"]["reportProblem"]


async def upload_photo(client, token: str, community_id: str, data: bytes | None = None, client_id: str = ""):  # noqa: ANN001
    return await client.post(
        "/media",
        files={"file": ("photo.jpg", data or jpeg(), "image/jpeg")},
        data={"community_id": community_id, "client_id": client_id},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
    )

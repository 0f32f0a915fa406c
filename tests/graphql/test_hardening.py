"""Schema hardening: depth, alias and token limits, no queries over GET, and production's quiet errors."""

from __future__ import annotations

import pytest

from laoyou.demo.data import DEMO_STAFF_PASSWORD

from ..conftest import ADMIN, RESIDENT_XIUSHAN, login_demo

LOGIN_WITH_PASSWORD = """
mutation ($phone: String!, $password: String!) {
  loginWithPassword(phone: $phone, password: $password, sessionKind: BEARER) {
    ... on LoggedIn { token } ... on Error { message }
  }
}
"""


def nested(depth: int, district_id: str) -> str:
    """A query `depth` levels deep, counted as graphql-depth-limit and Strawberry count it:
    `{ viewer { isStaff } }` is 1 deep. The chain is district > communities > nodes > district > …"""
    chain = [f'district(id: "{district_id}")'] + ["communities(first: 1)", "nodes", "district"] * 6
    body = "__typename"  # a leaf every type has
    for field in reversed(chain[:depth]):
        body = f"{field} {{ {body} }}"
    return "query Deep { " + body + " }"


async def a_district(admin) -> str:  # noqa: ANN001
    return (await admin("{ districts(first: 1) { nodes { id } } }"))["data"]["districts"]["nodes"][0]["id"]


def messages(result: dict) -> list[str]:
    return [e["message"] for e in result.get("errors") or []]


async def test_ten_levels_deep_are_allowed(gql):
    admin = await login_demo(gql, ADMIN)
    result = await admin(nested(10, await a_district(admin)))
    assert result["data"]["district"]["communities"]["nodes"]


async def test_eleven_levels_deep_are_refused(gql):
    admin = await login_demo(gql, ADMIN)
    result = await admin(nested(11, await a_district(admin)), expect_errors=True)
    assert result.get("data") is None
    assert any("exceeds maximum operation depth of 10" in m for m in messages(result))


def aliased(count: int) -> str:
    return "query { " + " ".join(f"a{i}: viewer {{ isStaff }}" for i in range(count)) + " }"


async def test_thirty_aliases_are_allowed(gql):
    result = await gql(aliased(30))
    assert len(result["data"]) == 30


async def test_fifty_aliases_are_refused(gql):
    result = await gql(aliased(50), expect_errors=True)
    assert result.get("data") is None
    assert any("aliases found. Allowed: 30" in m for m in messages(result))


async def test_too_many_tokens_are_refused(gql):
    # Given a document of more than 2000 tokens (no depth, no aliases: only its size)
    query = "query { viewer { " + " ".join(["isStaff"] * 2100) + " } }"
    result = await gql(query, expect_errors=True)
    assert result.get("data") is None
    assert any("2000" in m and "token" in m.lower() for m in messages(result))


@pytest.mark.parametrize(
    "query",
    [
        "{ viewer { isStaff } }",
        "query { demoPeople { phone } }",
        'mutation { requestLoginCode(phone: "13800000001") { __typename } }',
    ],
)
async def test_get_does_not_execute(client, app, db, query):
    sent = len(app.state.sms.sent)
    response = await client.get("/graphql", params={"query": query})
    assert response.status_code == 400
    assert "not allowed when using GET" in response.text and '"data"' not in response.text
    assert len(app.state.sms.sent) == sent


async def test_graphiql_is_offered_in_development_only(client, production):
    development = await client.get("/graphql", headers={"Accept": "text/html"})
    assert development.status_code == 200 and "graphiql" in development.text.lower()
    served = await production.http.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in served.text.lower()


# --- production mode -----------------------------------------------------------------------------------

INTROSPECTION = "query { __schema { types { name } } }"


async def test_introspection_is_refused_in_production(production, gql):
    # Development answers it (the schema is public in the repository anyway)
    assert (await gql(INTROSPECTION))["data"]["__schema"]["types"]
    # Production does not
    result = await production(INTROSPECTION, expect_errors=True)
    assert result.get("data") is None
    assert any("introspection" in m.lower() for m in messages(result))
    typename = await production('query { __type(name: "Person") { fields { name } } }', expect_errors=True)
    assert typename.get("data") is None


async def test_field_suggestions_are_off_in_production(production, gql):
    typo = "query { viewr { isStaff } }"
    assert any("Did you mean" in m for m in messages(await gql(typo, expect_errors=True)))
    refused = messages(await production(typo, expect_errors=True))
    assert refused and not any("Did you mean" in m for m in refused)
    typo_in_field = messages(await production("query { viewer { isStaf } }", expect_errors=True))
    assert typo_in_field and not any("Did you mean" in m for m in typo_in_field)


async def staff_token(production) -> str:  # noqa: ANN001
    result = await production(LOGIN_WITH_PASSWORD, {"phone": ADMIN, "password": DEMO_STAFF_PASSWORD})
    return result["data"]["loginWithPassword"]["token"]


async def test_unexpected_errors_are_masked_with_a_request_id(production, monkeypatch, caplog):
    # Given a service that fails unexpectedly
    admin = production.as_token(await staff_token(production))

    async def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("laoyou.estates.service.list_communities", broken)
    # When a query reaches it
    result = await admin("query { communities { nodes { name } } }", expect_errors=True)
    # Then the client sees a plain message and a request id, and nothing of the failure
    error = result["errors"][0]
    assert error["message"] == "Unexpected error."
    assert "hunter2" not in str(result) and "RuntimeError" not in str(result)
    request_id = error["extensions"]["requestId"]
    assert len(request_id) >= 8
    # And the log has the whole story under that id
    assert any(request_id in r.getMessage() and "hunter2" in r.getMessage() for r in caplog.records)


async def test_development_shows_unexpected_errors(gql, monkeypatch):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)

    async def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("visible while developing")

    monkeypatch.setattr("laoyou.estates.service.list_communities", broken)
    result = await resident("query { communities { nodes { name } } }", expect_errors=True)
    assert "visible while developing" in result["errors"][0]["message"]


async def test_permission_errors_are_not_masked_in_production(production):
    result = await production("query { communities { nodes { name } } }", expect_errors=True)
    assert result["errors"][0]["message"] == "Please log in first."


async def test_demo_logins_are_closed_in_production(production):
    assert (await production("query { demoPeople { phone } }"))["data"]["demoPeople"] == []
    result = await production(
        'mutation { loginAsDemoPerson(phone: "13800000099") { __typename ... on Error { code } } }'
    )
    assert result["data"]["loginAsDemoPerson"] == {"__typename": "LoginError", "code": "NOT_ALLOWED"}


async def test_a_document_is_validated_once_and_its_mistakes_said_every_time(gql, monkeypatch):
    from laoyou.graphql import schema as schema_module

    validated: list[int] = []
    real = schema_module.validate_document

    def counting(schema, document, rules):  # noqa: ANN001, ANN202
        validated.append(1)
        return real(schema, document, rules)

    monkeypatch.setattr(schema_module, "validate_document", counting)
    admin = await login_demo(gql, ADMIN)
    district = await a_district(admin)
    validated.clear()
    # The same too-deep document (one no other test sends) twice: refused both times, validated once
    for _ in range(2):
        refused = await admin(nested(11, district) + " # validated once", expect_errors=True)
        assert any("exceeds maximum operation depth" in m for m in messages(refused))
    assert len(validated) == 1
    # A different document is validated on its own
    assert not messages(await admin(nested(3, district) + " # validated once"))
    assert len(validated) == 2

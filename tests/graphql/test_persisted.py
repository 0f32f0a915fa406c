"""Persisted operations: the PWA's documents, sent by their SHA-256; and the persisted-only mode."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import httpx
import pytest

from ..conftest import (
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    graphql_client,
    login_demo,
    make_database_url,
    make_settings,
    started,
)

RAW = "query { viewer { isStaff person { name } } }"


async def manifest(client) -> dict[str, str]:  # noqa: ANN001
    response = await client.get("/operations.json")
    assert response.status_code == 200
    return response.json()


def by_hash(digest: str, name: str, variables: dict | None = None) -> dict:
    return {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
        "operationName": name,
        "variables": variables or {},
    }


async def test_manifest_lists_every_operation_by_its_documents_hash(client, app):
    found = await manifest(client)
    assert {"PageViewer", "StaffHome", "ResidentHome", "LoginWithCode", "RequestLoginCode"} <= found.keys()
    for name, digest in found.items():
        document = app.state.persisted[name].document
        assert hashlib.sha256(document.encode()).hexdigest() == digest
        assert f" {name}" in document


async def test_a_hash_executes_its_document(client, gql):
    # Given the hash of the PWA's PageViewer operation and a logged-in resident
    digest = (await manifest(client))["PageViewer"]
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    # When the resident sends only the hash
    response = await client.post(
        "/graphql", json=by_hash(digest, "PageViewer"), headers={"Authorization": f"Bearer {resident.token}"}
    )
    # Then the document runs
    assert response.status_code == 200, response.text
    viewer = response.json()["data"]["viewer"]
    assert viewer["person"]["name"] == "王秀英"
    assert viewer["isStaff"] is False


async def test_a_hash_picks_the_named_operation_of_a_shared_document(client, app, db):
    # login.graphql holds several operations; the operation name chooses one
    digest = (await manifest(client))["RequestLoginCode"]
    response = await client.post(
        "/graphql", json=by_hash(digest, "RequestLoginCode", {"phone": "13912340000"})
    )
    assert response.json()["data"]["requestLoginCode"]["__typename"] == "LoginCodeSent"
    assert app.state.sms.last_to("+8613912340000")


@pytest.mark.parametrize("digest", ["0" * 64, "not-a-hash", ""])
async def test_an_unknown_hash_is_persisted_query_not_found(client, digest):
    response = await client.post("/graphql", json=by_hash(digest, "PageViewer"))
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "PersistedQueryNotFound"}]}


async def test_a_hash_of_any_other_document_is_not_found(client):
    # Knowing the hash scheme does not let anyone register a document of their own
    digest = hashlib.sha256(RAW.encode()).hexdigest()
    response = await client.post("/graphql", json=by_hash(digest, "Anything"))
    assert response.status_code == 400


@pytest.fixture(scope="module")
async def deployment(backend, tmp_path_factory, request):  # noqa: ANN001, ANN201
    """One database served as usual and by the same deployment restarted in persisted-only mode."""
    tmp = tmp_path_factory.mktemp(f"persisted-only-{backend}")
    url = make_database_url(backend, tmp, request)
    async with (
        started(make_settings(tmp, url)) as usual,
        started(make_settings(tmp, url, persisted_only=True)) as persisted_only,
    ):
        yield SimpleNamespace(usual=usual, persisted_only=persisted_only)


async def token_before_the_switch(deployment, phone: str) -> str:  # noqa: ANN001
    async with graphql_client(deployment.usual) as usual:
        return (await login_demo(usual, phone)).token


async def post(app, body: dict, token: str | None = None) -> httpx.Response:  # noqa: ANN001
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with graphql_client(app) as client:
        return await client.http.post("/graphql", json=body, headers=headers)


async def test_persisted_only_refuses_raw_queries_from_anonymous_clients(deployment):
    response = await post(deployment.persisted_only, {"query": RAW})
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "PersistedQueryRequired"}]}


async def test_persisted_only_refuses_raw_queries_from_residents(client, deployment):
    # Given a resident logged in before the switch
    token = await token_before_the_switch(deployment, RESIDENT_XIUSHAN)
    # When they send a raw query, it is refused
    refused = await post(deployment.persisted_only, {"query": RAW}, token)
    assert refused.status_code == 400
    assert refused.json() == {"errors": [{"message": "PersistedQueryRequired"}]}
    # And the same resident's persisted operations still work
    digest = (await manifest(client))["PageViewer"]
    allowed = await post(deployment.persisted_only, by_hash(digest, "PageViewer"), token)
    assert allowed.json()["data"]["viewer"]["person"]["name"] == "王秀英"


async def test_persisted_only_accepts_raw_queries_from_staff(deployment):
    token = await token_before_the_switch(deployment, STEWARD_XIUSHAN)
    response = await post(deployment.persisted_only, {"query": RAW}, token)
    assert response.status_code == 200
    assert response.json()["data"]["viewer"] == {"isStaff": True, "person": {"name": "张建国"}}


async def test_persisted_only_accepts_the_full_text_of_a_persisted_document(deployment):
    # A client that sends the whole document of a persisted operation sends nothing new
    document = deployment.persisted_only.state.persisted["RequestLoginCode"].document
    response = await post(
        deployment.persisted_only,
        {"query": document, "operationName": "RequestLoginCode", "variables": {"phone": "13912340001"}},
    )
    assert response.json()["data"]["requestLoginCode"]["__typename"] == "LoginCodeSent"

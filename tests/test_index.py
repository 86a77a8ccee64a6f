"""Vector index (docs/matching.md): the embedded faiss index, and PineconeIndex over the real SDK against a local data plane."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import numpy as np
import pinecone._internal.http_client as pinecone_http
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from pinecone import Index, PineconeError
from werkzeug.wrappers import Request

from facepipe.exceptions import ConfigurationError, VectorIndexError
from facepipe.index import Match, Vector, make_index, pinecone_connection
from facepipe.index import embedded as embedded_module
from facepipe.index.embedded import EmbeddedIndex
from facepipe.index.pinecone import PineconeIndex
from facepipe.settings import Settings
from facepipe_tools.local.serving import LocalServer
from facepipe_tools.local.vector_server import DataPlane

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

DIM = 8
NS = "faces-test"
PARAMETER = "/pinecone/facepipe-test"
API_KEY = "pcsk_test_secret_key_123"


# --------------------------------------------------------------------------- factories


def make_vectors(count: int, seed: int = 0, **metadata: object) -> list[Vector]:
    """``count`` random (not unit) vectors ``f<i>``; metadata person_id = p<i % 3>, source = cam<i % 2>."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(count, DIM)).astype(np.float32)
    return [Vector(f"f{i}", values[i], {"person_id": f"p{i % 3}", "source": f"cam{i % 2}"} | metadata) for i in range(count)]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def basis(i: int, dim: int = DIM) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    vector[i] = 1.0
    return vector


@pytest.fixture
def embedded() -> EmbeddedIndex:
    return EmbeddedIndex(DIM)


@pytest.fixture(autouse=True)
def _fresh_pinecone_caches() -> Iterator[None]:
    pinecone_connection.reset_caches()
    yield
    pinecone_connection.reset_caches()


class Wire:
    """WSGI middleware in front of the local data plane: notes every request (method, path,
    headers) and can close the next connections without a reply, as an idle-timeout NAT or
    load balancer does to a pooled connection (the client sees "server disconnected")."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._drops = 0
        self._lock = threading.Lock()
        self.accepted_keys: set[str] | None = None  # None: any key; else others get Pinecone's 401

    def drop_connections(self, count: int) -> None:
        with self._lock:
            self._drops = count

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        self.seen.append((request.method, request.path, dict(request.headers)))
        with self._lock:
            drop, self._drops = self._drops > 0, max(0, self._drops - 1)
        if drop:
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)  # werkzeug's reply then meets a closed socket
            start_response("200 OK", [])
            return [b""]
        if self.accepted_keys is not None and request.headers.get("Api-Key") not in self.accepted_keys:
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"code":16,"message":"Invalid API Key","details":[]}']
        return self.app(environ, start_response)


@pytest.fixture
def wire() -> Wire:
    """The local data plane over a fresh 8-d embedded index, behind a ``Wire``."""
    return Wire(DataPlane(EmbeddedIndex(DIM)))


@pytest.fixture
def requests_seen(wire: Wire) -> list[tuple[str, str, dict[str, str]]]:
    return wire.seen


@pytest.fixture
def server(wire: Wire) -> Iterator[LocalServer]:
    """The wire served on a free port, as ``serve_vector_index`` serves the data plane."""
    with LocalServer(wire).start() as srv:
        yield srv


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's retries without their sleeps, and its per-host retry budget full (hosts are all 127.0.0.1 here)."""
    monkeypatch.setattr(pinecone_http, "_retry_sleep", lambda _: None)  # the SDK's seam for its backoff sleeps
    pinecone_http.get_budget_registry()._reset()


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A moto SSM client holding the API key as a SecureString."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("ssm", region_name="us-east-1")
        client.put_parameter(Name=PARAMETER, Value=API_KEY, Type="SecureString")
        yield client


@pytest.fixture
def settings(server: LocalServer) -> Settings:
    return Settings(pinecone_index_host=server.url, pinecone_namespace=NS, pinecone_ssm_parameter_name=PARAMETER)


@pytest.fixture
def index(settings: Settings, ssm: object) -> PineconeIndex:
    return PineconeIndex.from_settings(settings, DIM, ssm_client=ssm)


# --------------------------------------------------------------------------- EmbeddedIndex


def test_embedded_query_orders_by_cosine_similarity(embedded: EmbeddedIndex) -> None:
    # GIVEN five random vectors of different norms
    vectors = make_vectors(5)
    embedded.upsert(vectors, NS)
    query = vectors[2].values + 0.1
    # WHEN querying for the best three
    matches = embedded.query(query, top_k=3, namespace=NS)
    # THEN they come best first with their cosine similarity as score
    expected = sorted(((cosine(query, v.values), v.id) for v in vectors), reverse=True)[:3]
    assert [m.id for m in matches] == [i for _, i in expected]
    assert [m.score for m in matches] == pytest.approx([s for s, _ in expected], abs=1e-5)
    assert matches[0].id == "f2"
    assert matches[0].metadata == {"person_id": "p2", "source": "cam0"}


@pytest.mark.parametrize("parallel", [False, True], ids=["shards-one-after-another", "shards-at-once"])
@pytest.mark.parametrize("dimension", [128, 512])
def test_embedded_query_gives_exact_search_scores_and_neighbours(dimension: int, parallel: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN 20,000 random unit vectors (the worst case for a quantised scan: every cosine near 0),
    # with a near-duplicate of each probe among them, scanned on threads or not
    monkeypatch.setattr(embedded_module, "SCAN_SHARDS", 2)
    monkeypatch.setattr(embedded_module, "PARALLEL_SCAN_BYTES", 0 if parallel else 10**12)
    rng = np.random.default_rng(7)
    values = rng.standard_normal((20_000, dimension)).astype(np.float32)
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    probes = values[:40] + 0.3 * rng.standard_normal((40, dimension)).astype(np.float32) / np.sqrt(dimension)
    index = EmbeddedIndex(dimension)
    index.upsert([Vector(f"v{i}", v, {}) for i, v in enumerate(values)], "ns")
    found, exact = 0, 0
    for probe in probes:
        unit = probe / np.linalg.norm(probe)
        # WHEN querying the top 41 (what the gallery asks for)
        matches = index.query(probe, 41, "ns")
        expected = np.argsort(-(values @ unit))[:41]
        # THEN the scores are exact cosines, best first, and the nearest one is always there
        assert all(abs(m.score - float(values[int(m.id[1:])] @ unit)) < 1e-5 for m in matches)
        assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
        assert matches[0].id == f"v{expected[0]}"
        found += len({m.id for m in matches} & {f"v{i}" for i in expected})
        exact += len(expected)
    # AND the neighbours are exact search's (random vectors: at most 1 in 1,000 swapped at the tail)
    assert found >= 0.999 * exact


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"person_id": {"$eq": "p1"}}, {"f1", "f4"}),
        ({"person_id": "p1"}, {"f1", "f4"}),  # shorthand for $eq
        ({"person_id": {"$in": ["p0", "p2"]}}, {"f0", "f2", "f3", "f5"}),
        ({"person_id": {"$ne": "p0"}}, {"f1", "f2", "f4", "f5"}),
        ({"$and": [{"person_id": "p0"}, {"source": "cam1"}]}, {"f3"}),
        ({"$or": [{"person_id": "p2"}, {"source": {"$eq": "cam1"}}]}, {"f1", "f2", "f3", "f5"}),
    ],
)
def test_embedded_query_applies_pinecone_filter(embedded: EmbeddedIndex, condition: dict, expected: set[str]) -> None:
    # GIVEN six faces of three people from two cameras
    embedded.upsert(make_vectors(6), NS)
    # WHEN querying with a filter
    matches = embedded.query(basis(0), top_k=10, namespace=NS, filter=condition)
    # THEN only the matching faces come back
    assert {m.id for m in matches} == expected


def test_embedded_upsert_of_existing_id_replaces_it(embedded: EmbeddedIndex) -> None:
    # GIVEN a stored face
    embedded.upsert([Vector("f0", basis(0), {"person_id": "old"}), Vector("f1", basis(1))], NS)
    # WHEN the same id is upserted with new values and metadata
    embedded.upsert([Vector("f0", basis(2), {"person_id": "new"})], NS)
    # THEN it is replaced, not duplicated
    assert embedded.count(NS) == 2
    assert embedded.query(basis(2), top_k=1, namespace=NS) == [Match("f0", pytest.approx(1.0), {"person_id": "new"})]
    assert embedded.query(basis(0), top_k=1, namespace=NS)[0].score == pytest.approx(0.0, abs=1e-6)


def test_embedded_index_dealt_over_shards_answers_as_one_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the same upserts, replacements, deletes and metadata updates on an index of one shard
    # and on one of three shards scanned at once
    def build(shards: int) -> EmbeddedIndex:
        monkeypatch.setattr(embedded_module, "SCAN_SHARDS", shards)
        monkeypatch.setattr(embedded_module, "PARALLEL_SCAN_BYTES", 0)
        index = EmbeddedIndex(16)
        rng = np.random.default_rng(3)
        for batch in range(4):
            values = rng.standard_normal((50, 16)).astype(np.float32)
            index.upsert([Vector(f"f{(batch * 50 + i) % 170}", v, {"person_id": f"p{i % 7}"}) for i, v in enumerate(values)], NS)
        index.delete([f"f{i}" for i in range(0, 170, 4)], NS)
        index.update_metadata([f"f{i}" for i in range(1, 170, 5)], {"person_id": "p9"}, NS)
        return index

    one, dealt = build(1), build(3)
    probes = np.random.default_rng(4).standard_normal((20, 16)).astype(np.float32)
    # WHEN both are queried, with and without a filter
    # THEN they give the same faces, scores and metadata, and the same counts
    assert dealt.count(NS) == one.count(NS) == 170 - len(range(0, 170, 4))
    for probe in probes:
        for condition in (None, {"person_id": "p9"}, {"person_id": {"$in": ["p1", "p2"]}}):
            assert dealt.query(probe, 10, NS, condition) == one.query(probe, 10, NS, condition)
    sizes = [int(shard.ntotal) for shard in dealt._namespaces[NS].shards]  # really dealt over three
    assert len(sizes) == 3
    assert min(sizes) > 0


def test_embedded_delete_removes_only_the_given_ids(embedded: EmbeddedIndex) -> None:
    # GIVEN three faces
    embedded.upsert(make_vectors(3), NS)
    # WHEN two are deleted (one unknown id among them)
    embedded.delete(["f0", "f2", "unknown"], NS)
    # THEN only the third remains
    assert embedded.count(NS) == 1
    assert [m.id for m in embedded.query(basis(0), top_k=5, namespace=NS)] == ["f1"]


def test_embedded_update_metadata_then_filter_by_new_value(embedded: EmbeddedIndex) -> None:
    # GIVEN faces of person p0
    embedded.upsert(make_vectors(4), NS)
    # WHEN two faces are moved to person p9 (merge); an unknown id is ignored
    embedded.update_metadata(["f0", "f3", "unknown"], {"person_id": "p9"}, NS)
    # THEN the filter on the new value finds them, other fields kept
    matches = embedded.query(basis(0), top_k=10, namespace=NS, filter={"person_id": "p9"})
    assert {m.id for m in matches} == {"f0", "f3"}
    assert all(m.metadata["source"] in ("cam0", "cam1") for m in matches)
    assert embedded.query(basis(0), top_k=10, namespace=NS, filter={"person_id": "p0"}) == []


@pytest.mark.parametrize("operation", ["upsert", "query"])
def test_embedded_wrong_dimension_raises_vector_index_error(embedded: EmbeddedIndex, operation: str) -> None:
    # GIVEN an 8-d index WHEN a 4-d vector arrives THEN it is refused
    call = (
        (lambda: embedded.upsert([Vector("f0", np.ones(4))], NS))
        if operation == "upsert"
        else (lambda: embedded.query(np.ones(4), top_k=1, namespace=NS))
    )
    with pytest.raises(VectorIndexError, match="dimension 4"):
        call()


def test_embedded_namespaces_are_isolated(embedded: EmbeddedIndex) -> None:
    # GIVEN the same id in two namespaces
    embedded.upsert([Vector("f0", basis(0), {"model": "a"})], "faces-a")
    embedded.upsert([Vector("f0", basis(1), {"model": "b"}), Vector("f1", basis(2))], "faces-b")
    # WHEN one namespace is queried and changed
    embedded.delete(["f0"], "faces-b")
    # THEN the other is untouched
    assert embedded.count("faces-a") == 1
    assert embedded.count("faces-b") == 1
    assert embedded.query(basis(0), top_k=5, namespace="faces-a") == [Match("f0", pytest.approx(1.0), {"model": "a"})]
    assert embedded.query(basis(0), top_k=5, namespace="other") == []


# --------------------------------------------------------------------------- PineconeIndex over the real SDK


def test_pinecone_round_trip_matches_embedded_index(index: PineconeIndex, embedded: EmbeddedIndex) -> None:
    # GIVEN the same faces in PineconeIndex (through the SDK and the wire) and a reference EmbeddedIndex
    vectors = make_vectors(7, seed=3, request_id="r1")
    index.upsert(vectors, NS)
    embedded.upsert(vectors, NS)
    query = vectors[4].values * 3 + 0.2
    # WHEN querying with top_k, then with a filter
    for top_k, condition in [(3, None), (10, {"person_id": {"$in": ["p0", "p1"]}})]:
        got = index.query(query, top_k=top_k, namespace=NS, filter=condition)
        want = embedded.query(query, top_k=top_k, namespace=NS, filter=condition)
        # THEN ids, order, metadata and cosine scores agree
        assert [m.id for m in got] == [m.id for m in want]
        assert len(got) == min(top_k, 7 if condition is None else 5)
        assert [m.score for m in got] == pytest.approx([m.score for m in want], abs=1e-5)
        assert [m.metadata for m in got] == [m.metadata for m in want]
    assert all(isinstance(m, Match) for m in got)
    assert index.count(NS) == 7
    # WHEN faces are re-tagged, THEN the filter finds them by the new value and fetch shows the merge
    index.update_metadata(["f1", "f2"], {"person_id": "p7"}, NS)
    assert {m.id for m in index.query(query, top_k=10, namespace=NS, filter={"person_id": "p7"})} == {"f1", "f2"}
    [fetched] = index.fetch(["f1", "missing"], NS)
    assert fetched.metadata == {"person_id": "p7", "source": "cam1", "request_id": "r1"}
    assert fetched.values == pytest.approx(vectors[1].values / np.linalg.norm(vectors[1].values), abs=1e-6)
    # WHEN faces are deleted, THEN the count drops and they are gone from queries
    index.delete(["f1", "f4"], NS)
    assert index.count(NS) == 5
    assert {"f1", "f4"}.isdisjoint(m.id for m in index.query(query, top_k=10, namespace=NS))
    assert index.count("another-namespace") == 0


def test_pinecone_upsert_sends_chunks_of_100(index: PineconeIndex, requests_seen: list) -> None:
    # GIVEN 250 faces WHEN upserted
    index.upsert(make_vectors(250), NS)
    # THEN three requests carried them and all landed
    assert [p for m, p, _ in requests_seen if p == "/vectors/upsert"] == ["/vectors/upsert"] * 3
    assert index.count(NS) == 250


def test_pinecone_dimension_mismatch_at_construction_raises_configuration_error(settings: Settings, ssm: object) -> None:
    # GIVEN an 8-d index WHEN a 512-d embedder is configured against it THEN start-up fails clearly
    with pytest.raises(ConfigurationError, match=r"holds 8-d vectors.*512-d.*EMBEDDING_MODEL.*PINECONE_INDEX_HOST"):
        PineconeIndex.from_settings(settings, 512, ssm_client=ssm)


def test_pinecone_api_key_comes_from_ssm_and_goes_in_api_key_header(
    settings: Settings, ssm: object, requests_seen: list, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the key only in an SSM SecureString (moto returns the plain value only when asked to decrypt)
    caplog.set_level(logging.DEBUG)
    # WHEN the index is built the way the recognition function builds it, and used
    index = make_index(settings.replace(vector_backend="pinecone"), DIM, ssm_client=ssm)
    index.upsert(make_vectors(2), NS)
    # THEN every request carried the decrypted key, the dimension check came first, and the key was never logged
    assert isinstance(index, PineconeIndex)
    assert requests_seen
    assert {h.get("Api-Key") for _, _, h in requests_seen} == {API_KEY}
    assert requests_seen[0][1] == "/describe_index_stats"
    # (botocore's own DEBUG log prints the decrypted SSM response: keep botocore above DEBUG when deployed)
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("facepipe", "pinecone", "httpx", "httpcore")]
    assert ours
    assert not any(API_KEY in r.getMessage() for r in ours)


def test_pinecone_rotated_key_is_picked_up_on_the_first_refusal(settings: Settings, ssm: Any, wire: Wire, requests_seen: list) -> None:
    # GIVEN a warm index using the first key
    index = PineconeIndex.from_settings(settings, DIM, ssm_client=ssm)
    index.upsert(make_vectors(3), NS)
    # WHEN the key is rotated in SSM (set-pinecone-key.sh) and the old one revoked at Pinecone
    ssm.put_parameter(Name=PARAMETER, Value="pcsk_rotated_key_456", Type="SecureString", Overwrite=True)
    wire.accepted_keys = {"pcsk_rotated_key_456"}
    seen_before = len(requests_seen)
    # THEN the next call is refused once, the key is read again, and the call succeeds with it
    assert index.count(NS) == 3
    keys_sent = [h.get("Api-Key") for _, _, h in requests_seen[seen_before:]]
    assert keys_sent[0] == API_KEY
    assert keys_sent[-1] == "pcsk_rotated_key_456"


def test_pinecone_rotated_key_is_used_after_the_cache_age_without_a_refusal(
    settings: Settings, ssm: Any, requests_seen: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a warm index whose cached key has outlived KEY_MAX_AGE (0 here)
    monkeypatch.setattr(pinecone_connection, "KEY_MAX_AGE", 0)
    index = PineconeIndex.from_settings(settings, DIM, ssm_client=ssm)
    index.count(NS)
    # WHEN the key is rotated in SSM while the old one still works
    ssm.put_parameter(Name=PARAMETER, Value="pcsk_rotated_key_789", Type="SecureString", Overwrite=True)
    seen_before = len(requests_seen)
    index.count(NS)
    # THEN the new key is sent from the next call on
    assert {h.get("Api-Key") for _, _, h in requests_seen[seen_before:]} == {"pcsk_rotated_key_789"}


def test_pinecone_refused_key_that_was_not_rotated_fails_with_the_hint(settings: Settings, ssm: Any, wire: Wire) -> None:
    # GIVEN a warm index, and Pinecone refusing the key SSM holds
    index = PineconeIndex.from_settings(settings, DIM, ssm_client=ssm)
    wire.accepted_keys = set()
    # WHEN a call is made THEN it fails with the hint to fix the SSM parameter (no endless retry)
    with pytest.raises(VectorIndexError, match="PINECONE_SSM_PARAMETER_NAME"):
        index.count(NS)


def test_pinecone_api_key_read_by_powertools_default_provider_without_a_client(
    settings: Settings, ssm: object, requests_seen: list
) -> None:
    # GIVEN no injected SSM client (the deployed path: powertools' own provider, inside the moto mock)
    parameters.clear_caches()
    try:
        # WHEN the index is built and used
        PineconeIndex.from_settings(settings, DIM).count(NS)
    finally:
        parameters.clear_caches()
    # THEN the decrypted key was sent
    assert {h.get("Api-Key") for _, _, h in requests_seen} == {API_KEY}


def test_pinecone_missing_ssm_parameter_raises_configuration_error(settings: Settings, ssm: object) -> None:
    # GIVEN a parameter name that does not exist WHEN the index is built THEN the error names it
    with pytest.raises(ConfigurationError, match=r"'/pinecone/nope'.*PINECONE_SSM_PARAMETER_NAME"):
        PineconeIndex.from_settings(settings.replace(pinecone_ssm_parameter_name="/pinecone/nope"), DIM, ssm_client=ssm)


@pytest.mark.usefixtures("no_backoff")
def test_pinecone_retries_a_connection_dropped_after_idle(index: PineconeIndex, wire: Wire) -> None:
    # GIVEN stored faces, and the next three connections dropped without a reply (the SDK makes 4 attempts)
    index.upsert(make_vectors(3), NS)
    wire.drop_connections(3)
    # WHEN querying THEN the retries get through, and the caller sees nothing of it
    assert [m.id for m in index.query(make_vectors(3)[1].values, top_k=1, namespace=NS)] == ["f1"]
    assert [p for _, p, _ in wire.seen[-4:]] == ["/query"] * 4


@pytest.mark.usefixtures("no_backoff")
def test_pinecone_sdk_itself_retries_a_dropped_connection(server: LocalServer, wire: Wire) -> None:
    # GIVEN the raw SDK client (no facepipe retry around it) and one dropped connection
    sdk = Index(host=server.url, api_key="any")
    sdk.upsert(vectors=[("a", basis(0).tolist())], namespace=NS)
    wire.drop_connections(1)
    # WHEN querying THEN the SDK's own retry answers
    assert [m.id for m in sdk.query(vector=basis(0).tolist(), top_k=1, namespace=NS).matches] == ["a"]
    sdk.close()


@pytest.mark.usefixtures("no_backoff")
def test_pinecone_gives_up_on_a_dead_host_with_vector_index_error(index: PineconeIndex, server: LocalServer, wire: Wire) -> None:
    # GIVEN a host that drops every connection
    wire.drop_connections(1000)
    # WHEN querying THEN a VectorIndexError says what failed where and what to check
    with pytest.raises(VectorIndexError, match=rf"query on index '{server.url}' namespace '{NS}'.*PINECONE_INDEX_HOST"):
        index.query(basis(0), top_k=1, namespace=NS)


def test_pinecone_rejected_request_raises_vector_index_error(index: PineconeIndex) -> None:
    # GIVEN metadata Pinecone does not accept (a nested object)
    face = Vector("f0", basis(0), {"person_id": {"nested": True}})
    # WHEN upserting THEN the SDK's 400 is wrapped with the operation and namespace
    with pytest.raises(VectorIndexError, match=rf"upsert on .*namespace '{NS}'.*person_id") as caught:
        index.upsert([face], NS)
    assert caught.value.__cause__ is not None


# --------------------------------------------------------------------------- the local data plane itself


def test_vector_server_without_api_key_answers_401(server: LocalServer) -> None:
    # GIVEN no Api-Key header WHEN calling any route THEN 401 in Pinecone's error shape
    response = httpx.post(f"{server.url}/describe_index_stats", json={})
    assert response.status_code == 401
    assert response.json()["code"] == 16
    assert "Api-Key" in response.json()["message"]


def test_vector_server_wrong_dimension_answers_400(server: LocalServer) -> None:
    # GIVEN an 8-d index WHEN a 3-d vector is upserted THEN 400 with code and message
    response = httpx.post(f"{server.url}/vectors/upsert", headers={"Api-Key": "x"}, json={"vectors": [{"id": "a", "values": [1, 0, 0]}]})
    assert response.status_code == 400
    assert response.json() == {
        "code": 3,
        "message": "Vector dimension 3 does not match the dimension of the index 8",
        "details": [],
    }


def test_vector_server_serves_the_sdk_calls_facepipe_makes(server: LocalServer) -> None:
    # GIVEN the raw SDK client on the local host, with faces in a named and in the default namespace
    sdk = Index(host=server.url, api_key="any")
    sdk.upsert(vectors=[(f"face-{i}", basis(i).tolist(), {"person_id": f"p{i % 2}"}) for i in range(5)], namespace=NS)
    sdk.upsert(vectors=[("other", basis(0).tolist())])
    # WHEN querying by vector with a filter THEN matches come best first with their metadata
    found = sdk.query(vector=basis(2).tolist(), top_k=2, namespace=NS, filter={"person_id": "p0"}, include_metadata=True)
    assert [(m.id, m.metadata) for m in found.matches] == [("face-2", {"person_id": "p0"}), ("face-0", {"person_id": "p0"})]
    # WHEN metadata is updated by id and vectors fetched THEN the new value shows, unknown ids are left out
    sdk.update(id="face-1", set_metadata={"person_id": "p9"}, namespace=NS)
    assert {i: v.metadata for i, v in sdk.fetch(ids=["face-1", "missing"], namespace=NS).vectors.items()} == {"face-1": {"person_id": "p9"}}
    # WHEN deleting by ids THEN stats follow, the default namespace reported as __default__
    sdk.delete(ids=["face-0", "face-1"], namespace=NS)
    stats = sdk.describe_index_stats()
    assert (stats.dimension, stats.metric, stats.total_vector_count) == (DIM, "cosine", 4)
    assert {name: s.vector_count for name, s in stats.namespaces.items()} == {NS: 3, "__default__": 1}
    sdk.close()


@pytest.mark.parametrize(
    ("call", "refused"),
    [
        (lambda sdk: sdk.delete(filter={"person_id": "p0"}, namespace=NS), "delete by filter"),
        (lambda sdk: sdk.delete(delete_all=True, namespace=NS), "of everything"),
        (lambda sdk: sdk.update(filter={"person_id": "p0"}, set_metadata={"x": "y"}, namespace=NS), "update by filter"),
        (lambda sdk: sdk.query(id="face-0", top_k=1, namespace=NS), "query by id"),
        (lambda sdk: next(iter(sdk.list(namespace=NS))), "no route GET /vectors/list"),
    ],
)
def test_vector_server_refuses_what_facepipe_does_not_use(server: LocalServer, call: Callable[[Index], object], refused: str) -> None:
    # GIVEN the raw SDK client WHEN it asks for something PineconeIndex never does THEN a clear error, nothing changed
    sdk = Index(host=server.url, api_key="any")
    sdk.upsert(vectors=[("face-0", basis(0).tolist(), {"person_id": "p0"})], namespace=NS)
    with pytest.raises(PineconeError, match=refused):
        call(sdk)
    assert sdk.describe_index_stats().total_vector_count == 1
    sdk.close()

"""A local Pinecone data plane: the REST routes the ``pinecone`` SDK's ``Index`` calls, over an EmbeddedIndex.

Point the SDK (or facepipe's ``PineconeIndex``) at ``VectorServer.url`` as the index
host and every process of the local stack shares one in-process index. Field names and
response shapes follow the SDK (camelCase on the wire). Any ``Api-Key`` header is
accepted, none gives 401. Errors look like Pinecone's: ``{"code": <gRPC status>,
"message": ..., "details": []}`` with HTTP 400 for bad input, 401, 404, 500.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from facepipe.exceptions import VectorIndexError
from facepipe.index import Vector
from facepipe.index.embedded import EmbeddedIndex

__all__ = ["VectorServer", "serve_vector_index"]

logger = logging.getLogger(__name__)

RequestHook = Callable[[str, str, Mapping[str, str]], None]  # (method, path, headers)

_MAX_TOP_K = 10_000
_MAX_LIST_LIMIT = 100
_DEFAULT_NAMESPACE = "__default__"  # the name describe_index_stats gives the "" namespace
Json = dict[str, Any]


class _ApiError(Exception):
    def __init__(self, message: str, status: int = 400, code: int = 3) -> None:  # 3 = INVALID_ARGUMENT
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _namespace(value: Any) -> str:
    if value is None or value == _DEFAULT_NAMESPACE:
        return ""
    if not isinstance(value, str):
        raise _ApiError("namespace must be a string")
    return value


def _array(values: Any, dimension: int) -> np.ndarray:
    if not isinstance(values, list) or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in values):
        raise _ApiError("values must be a list of numbers")
    if len(values) != dimension:
        raise _ApiError(f"Vector dimension {len(values)} does not match the dimension of the index {dimension}")
    array = np.asarray(values, dtype=np.float32)
    if not np.any(array):
        raise _ApiError("Dense vectors must contain at least one non-zero value")
    return array


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _ApiError("metadata must be an object")
    for key, item in value.items():
        scalar = isinstance(item, str | int | float | bool)
        if not scalar and not (isinstance(item, list) and all(isinstance(x, str) for x in item)):
            raise _ApiError(f"metadata field {key!r} must be a string, number, boolean or list of strings")
    return value


def _select(index: EmbeddedIndex, namespace: str, condition: Any = None) -> list[str]:
    """Ids in ``namespace`` matching ``condition``, in id order (an exhaustive query: the index has no scan)."""
    if condition is not None and not isinstance(condition, dict):
        raise _ApiError("filter must be an object")
    total = index.count(namespace)
    if total == 0:
        return []
    probe = np.zeros(index.dimension, dtype=np.float32)
    probe[0] = 1.0
    return sorted(match.id for match in index.query(probe, total, namespace, condition or None))


def _upsert(index: EmbeddedIndex, body: Json) -> Json:
    items = body.get("vectors")
    if not isinstance(items, list) or not items:
        raise _ApiError("vectors must be a non-empty list")
    vectors = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise _ApiError("each vector needs a non-empty string id")
        if item.get("sparseValues") is not None:
            raise _ApiError("sparse values are not supported by the local index", code=12)  # UNIMPLEMENTED
        vectors.append(Vector(item["id"], _array(item.get("values"), index.dimension), _metadata(item.get("metadata"))))
    index.upsert(vectors, _namespace(body.get("namespace")))
    return {"upsertedCount": len(vectors)}


def _query(index: EmbeddedIndex, body: Json) -> Json:
    namespace, top_k = _namespace(body.get("namespace")), body.get("topK")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= _MAX_TOP_K:
        raise _ApiError(f"topK must be an integer between 1 and {_MAX_TOP_K}")
    if (body.get("vector") is None) == (body.get("id") is None):
        raise _ApiError("give exactly one of vector and id")
    if body.get("vector") is not None:
        vector = _array(body["vector"], index.dimension)
    else:
        stored = index.fetch([body["id"]], namespace)
        if not stored:
            return {"matches": [], "namespace": namespace, "usage": {"readUnits": 1}}
        vector = stored[0].values
    condition = body.get("filter")
    if condition is not None and not isinstance(condition, dict):
        raise _ApiError("filter must be an object")
    found = index.query(vector, top_k, namespace, condition or None)
    values: dict[str, list[float]] = {}
    if body.get("includeValues"):
        values = {v.id: v.values.tolist() for v in index.fetch([m.id for m in found], namespace)}
    matches = []
    for match in found:
        entry: Json = {"id": match.id, "score": match.score, "values": values.get(match.id, [])}
        if body.get("includeMetadata"):
            entry["metadata"] = dict(match.metadata)
        matches.append(entry)
    return {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}}


def _delete(index: EmbeddedIndex, body: Json) -> Json:
    namespace = _namespace(body.get("namespace"))
    ids, delete_all, condition = body.get("ids"), body.get("deleteAll"), body.get("filter")
    if sum(x is not None and x is not False for x in (ids, delete_all, condition)) != 1:
        raise _ApiError("give exactly one of ids, deleteAll and filter")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise _ApiError("ids must be a list of strings")
    if condition is not None and not condition:
        raise _ApiError("Delete with empty metadata filter is not allowed")
    index.delete(ids if ids is not None else _select(index, namespace, condition), namespace)
    return {}


def _update(index: EmbeddedIndex, body: Json) -> Json:
    namespace, vector_id, condition = _namespace(body.get("namespace")), body.get("id"), body.get("filter")
    fields = _metadata(body.get("setMetadata"))
    if (vector_id is None) == (condition is None):
        raise _ApiError("give exactly one of id and filter")
    if condition is not None:
        if body.get("values") is not None or not condition:
            raise _ApiError("an update by filter needs a non-empty filter and sets metadata only")
        ids = _select(index, namespace, condition)
        if fields and not body.get("dryRun"):
            index.update_metadata(ids, fields, namespace)
        return {"matchedRecords": len(ids)}
    if body.get("values") is not None:
        values = _array(body["values"], index.dimension)
        for old in index.fetch([vector_id], namespace):  # unknown ids are ignored, like metadata updates
            index.upsert([Vector(vector_id, values, {**old.metadata, **fields})], namespace)
    elif fields:
        index.update_metadata([vector_id], fields, namespace)
    return {}


def _stats(index: EmbeddedIndex, body: Json) -> Json:
    if body.get("filter"):
        raise _ApiError("describe_index_stats does not support a filter on serverless indexes")
    counts = {name or _DEFAULT_NAMESPACE: n for name, n in index.namespaces().items() if n}
    return {
        "namespaces": {name: {"vectorCount": n} for name, n in counts.items()},
        "dimension": index.dimension,
        "indexFullness": 0.0,
        "totalVectorCount": sum(counts.values()),
        "metric": "cosine",
        "vectorType": "dense",
    }


def _fetch(index: EmbeddedIndex, params: dict[str, list[str]]) -> Json:
    namespace, ids = _namespace(params.get("namespace", [None])[0]), params.get("ids", [])
    if not ids:
        raise _ApiError("ids must be a non-empty list")
    found = index.fetch(ids, namespace)
    vectors = {v.id: {"id": v.id, "values": v.values.tolist(), "metadata": dict(v.metadata)} for v in found}
    return {"vectors": vectors, "namespace": namespace, "usage": {"readUnits": 1}}


def _list(index: EmbeddedIndex, params: dict[str, list[str]]) -> Json:
    namespace = _namespace(params.get("namespace", [None])[0])
    prefix, token = params.get("prefix", [""])[0], params.get("paginationToken", [""])[0]
    try:
        limit = int(params.get("limit", [str(_MAX_LIST_LIMIT)])[0])
        after = base64.urlsafe_b64decode(token.encode()).decode() if token else None
    except ValueError:
        raise _ApiError("limit must be an integer and paginationToken one this server gave") from None
    if not 1 <= limit <= _MAX_LIST_LIMIT:
        raise _ApiError(f"limit must be between 1 and {_MAX_LIST_LIMIT}")
    ids = [i for i in _select(index, namespace) if i.startswith(prefix) and (after is None or i > after)]
    page: Json = {"vectors": [{"id": i} for i in ids[:limit]], "namespace": namespace, "usage": {"readUnits": 1}}
    if len(ids) > limit:
        page["pagination"] = {"next": base64.urlsafe_b64encode(ids[limit - 1].encode()).decode()}
    return page


_ROUTES: dict[tuple[str, str], Callable[[EmbeddedIndex, Any], Json]] = {
    ("POST", "/vectors/upsert"): _upsert,
    ("POST", "/query"): _query,
    ("POST", "/vectors/delete"): _delete,
    ("POST", "/vectors/update"): _update,
    ("POST", "/describe_index_stats"): _stats,
    ("GET", "/vectors/fetch"): _fetch,
    ("GET", "/vectors/list"): _list,
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], index: EmbeddedIndex, on_request: RequestHook | None) -> None:
        super().__init__(address, _Handler)
        self.index, self.on_request = index, on_request
        self.drops, self.drops_lock = 0, threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Pinecone's hosts do
    server: _Server

    def _handle(self) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.on_request is not None:
            self.server.on_request(self.command, url.path, dict(self.headers.items()))
        with self.server.drops_lock:
            drop, self.server.drops = self.server.drops > 0, max(0, self.server.drops - 1)
        if drop:  # what an idle-timeout NAT or load balancer does to a pooled connection
            self.close_connection = True
            return
        try:
            if not self.headers.get("Api-Key"):
                raise _ApiError("no Api-Key header; pass the API key", status=401, code=16)  # UNAUTHENTICATED
            route = _ROUTES.get((self.command, url.path))
            if route is None:
                raise _ApiError(f"no route {self.command} {url.path}", status=404, code=5)  # NOT_FOUND
            if self.command == "GET":
                args: Any = parse_qs(url.query, keep_blank_values=True)
            else:
                args = json.loads(raw or b"{}")
                if not isinstance(args, dict):
                    raise _ApiError("the request body must be a JSON object")
            self._reply(200, route(self.server.index, args))
        except _ApiError as exc:
            self._reply(exc.status, {"code": exc.code, "message": exc.message, "details": []})
        except (json.JSONDecodeError, VectorIndexError, ValueError) as exc:
            self._reply(400, {"code": 3, "message": str(exc), "details": []})
        except Exception as exc:  # a bug here must not kill the server thread
            logger.exception("vector server: %s %s failed", self.command, url.path)
            self._reply(500, {"code": 13, "message": f"internal error: {exc}", "details": []})  # INTERNAL

    do_GET = do_POST = _handle

    def _reply(self, status: int, payload: Json) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("vector server: " + format, *args)


class VectorServer:
    """A running local data plane; ``url`` is the index host to give the SDK."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="vector-server", daemon=True)
        self._thread.start()
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def drop_connections(self, count: int) -> None:
        """Close the next ``count`` connections without a reply (a reset after idle), to test retries."""
        with self._server.drops_lock:
            self._server.drops = count

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> VectorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_vector_index(
    index: EmbeddedIndex, host: str = "127.0.0.1", port: int = 0, *, on_request: RequestHook | None = None
) -> VectorServer:
    """Serve ``index`` over Pinecone's data-plane REST API in a daemon thread (port 0 = any free port).

    ``on_request(method, path, headers)`` sees every request before it is answered.
    """
    return VectorServer(_Server((host, port), index, on_request))

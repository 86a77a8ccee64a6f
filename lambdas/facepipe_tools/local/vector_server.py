"""A local Pinecone data plane over an EmbeddedIndex: the REST routes the ``pinecone`` SDK's
``Index`` calls for what ``facepipe.index.pinecone.PineconeIndex`` does, and no others.

Point the SDK (or ``PineconeIndex``) at the server's ``url`` as the index host and every
process of the local stack shares one in-process index. Routes: upsert, query by vector,
fetch by ids, delete by ids, update metadata by id, describe_index_stats. Field names and
response shapes follow the SDK (camelCase on the wire). Any ``Api-Key`` header is accepted,
none gives 401. Errors look like Pinecone's: ``{"code": <gRPC status>, "message": ...,
"details": []}`` with HTTP 400 for bad input (and for what this index does not do), 401,
404, 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from facepipe.exceptions import VectorIndexError
from facepipe.index import Vector
from facepipe.index.embedded import EmbeddedIndex
from facepipe_tools.local.serving import LocalServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["DataPlane", "serve_vector_index"]

logger = logging.getLogger(__name__)

_MAX_TOP_K = 10_000
_DEFAULT_NAMESPACE = "__default__"  # the name describe_index_stats gives the "" namespace
# gRPC status codes in Pinecone's error bodies
_INVALID_ARGUMENT, _NOT_FOUND, _UNIMPLEMENTED, _INTERNAL, _UNAUTHENTICATED = 3, 5, 12, 13, 16
Json = dict[str, Any]


class _ApiError(Exception):
    def __init__(self, message: str, status: int = 400, code: int = _INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _unsupported(what: str) -> _ApiError:
    return _ApiError(f"{what} is not supported by the local index (facepipe does not use it)", code=_UNIMPLEMENTED)


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


def _ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(i, str) and i for i in value):
        raise _ApiError("ids must be a non-empty list of non-empty strings")
    return value


def _body(request: Request) -> Json:
    body = json.loads(request.get_data() or b"{}")
    if not isinstance(body, dict):
        raise _ApiError("the request body must be a JSON object")
    return body


def _upsert(index: EmbeddedIndex, request: Request) -> Json:
    body = _body(request)
    items = body.get("vectors")
    if not isinstance(items, list) or not items:
        raise _ApiError("vectors must be a non-empty list")
    vectors = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise _ApiError("each vector needs a non-empty string id")
        if item.get("sparseValues") is not None:
            raise _unsupported("sparse values")
        vectors.append(Vector(item["id"], _array(item.get("values"), index.dimension), _metadata(item.get("metadata"))))
    index.upsert(vectors, _namespace(body.get("namespace")))
    return {"upsertedCount": len(vectors)}


def _query(index: EmbeddedIndex, request: Request) -> Json:
    body = _body(request)
    namespace, top_k, condition = _namespace(body.get("namespace")), body.get("topK"), body.get("filter")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= _MAX_TOP_K:
        raise _ApiError(f"topK must be an integer between 1 and {_MAX_TOP_K}")
    if body.get("id") is not None:
        raise _unsupported("a query by id")
    if body.get("includeValues"):
        raise _unsupported("includeValues")
    if condition is not None and not isinstance(condition, dict):
        raise _ApiError("filter must be an object")
    found = index.query(_array(body.get("vector"), index.dimension), top_k, namespace, condition or None)
    matches = []
    for match in found:
        entry: Json = {"id": match.id, "score": match.score, "values": []}
        if body.get("includeMetadata"):
            entry["metadata"] = dict(match.metadata)
        matches.append(entry)
    return {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}}


def _fetch(index: EmbeddedIndex, request: Request) -> Json:
    namespace, ids = _namespace(request.args.get("namespace")), _ids(request.args.getlist("ids"))
    found = index.fetch(ids, namespace)
    vectors = {v.id: {"id": v.id, "values": v.values.tolist(), "metadata": dict(v.metadata)} for v in found}
    return {"vectors": vectors, "namespace": namespace, "usage": {"readUnits": 1}}


def _delete(index: EmbeddedIndex, request: Request) -> Json:
    body = _body(request)
    if body.get("deleteAll") or body.get("filter") is not None:
        raise _unsupported("a delete by filter or of everything")
    index.delete(_ids(body.get("ids")), _namespace(body.get("namespace")))
    return {}


def _update(index: EmbeddedIndex, request: Request) -> Json:
    body = _body(request)
    if body.get("filter") is not None:
        raise _unsupported("an update by filter")
    if body.get("values") is not None or body.get("sparseValues") is not None:
        raise _unsupported("an update of values")
    vector_id = body.get("id")
    if not isinstance(vector_id, str) or not vector_id:
        raise _ApiError("id must be a non-empty string")
    fields = _metadata(body.get("setMetadata"))
    if fields:  # unknown ids are ignored
        index.update_metadata([vector_id], fields, _namespace(body.get("namespace")))
    return {}


def _stats(index: EmbeddedIndex, request: Request) -> Json:
    if _body(request).get("filter"):
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


_Route = Callable[[EmbeddedIndex, Request], Json]
_ROUTES: dict[str, _Route] = {
    "/vectors/upsert": _upsert,
    "/query": _query,
    "/vectors/fetch": _fetch,
    "/vectors/delete": _delete,
    "/vectors/update": _update,
    "/describe_index_stats": _stats,
}
_URLS = Map([Rule(path, endpoint=path, methods=["GET"] if path == "/vectors/fetch" else ["POST"]) for path in _ROUTES])


class DataPlane:
    """The WSGI app: Pinecone's data-plane routes that facepipe uses, over ``index``."""

    def __init__(self, index: EmbeddedIndex) -> None:
        self.index = index

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        status, payload = self.answer(request)
        return Response(json.dumps(payload), status, content_type="application/json")(environ, start_response)

    def answer(self, request: Request) -> tuple[int, Json]:
        """(HTTP status, JSON body) for one request."""
        try:
            if not request.headers.get("Api-Key"):
                raise _ApiError("no Api-Key header; pass the API key", status=401, code=_UNAUTHENTICATED)
            try:
                path, _ = _URLS.bind_to_environ(request.environ).match()
            except HTTPException:
                raise _ApiError(f"no route {request.method} {request.path}", status=404, code=_NOT_FOUND) from None
            return 200, _ROUTES[path](self.index, request)
        except _ApiError as exc:
            return exc.status, {"code": exc.code, "message": exc.message, "details": []}
        except (json.JSONDecodeError, VectorIndexError, ValueError) as exc:
            return 400, {"code": _INVALID_ARGUMENT, "message": str(exc), "details": []}
        except Exception as exc:  # a bug here must answer, not drop the connection
            logger.exception("vector server: %s %s failed", request.method, request.path)
            return 500, {"code": _INTERNAL, "message": f"internal error: {exc}", "details": []}


def serve_vector_index(index: EmbeddedIndex, host: str = "127.0.0.1", port: int = 0) -> LocalServer:
    """Serve ``index`` on Pinecone's data-plane REST routes in a daemon thread (port 0 = any free port)."""
    return LocalServer(DataPlane(index), host, port, name="vector-server").start()

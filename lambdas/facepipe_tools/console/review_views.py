"""The review (``/review``) and one group (``/review/{group}``).

The groups of unknown faces, newest first (``Review.groups``, a page at a time) or, with
``?order=size``, largest first (every group read: ``Review.all_groups``); ``?source=`` keeps the
groups with faces from that source. Each group shows a few of its crops and its size, and takes
one name: a person's name (offered by a ``<datalist>``) assigns the group to them
(``PeopleOperations.assign``), any other name makes a new person (``new_person``; the "New
person" button always does); dismissing erases its faces (``dismiss``, asked first). The page's
script (inline, with the response's CSP nonce) makes that one key per group: j/k move between
groups, Enter submits the group's name (or goes to its field), Escape leaves the field, d
dismisses after a confirm, o opens the group.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from facepipe.operations import OperationError
from facepipe.people import PersonNotFoundError, keys
from facepipe.review import ReviewGroup
from facepipe_tools.console.actions import act, directory_of, form_of, local_path, path_id
from facepipe_tools.console.pages import backend_of, confirm, message, page, redirect
from facepipe_tools.console.paging import BadCursor, start_key
from facepipe_tools.console.people_views import DATALIST_LIMIT, STALE_LINK

__all__ = ["CROPS_PER_GROUP", "REVIEW_PAGE", "ROUTES", "review_url"]

#: groups on a page of the review
REVIEW_PAGE = 20
#: crops shown per group on the review page (the group's page shows them all)
CROPS_PER_GROUP = 6
ORDERS = {"recent": "Newest first", "size": "Largest first"}


def review_url(source: str = "", order: str = "recent", **extra: str | int | None) -> str:
    """The review page with this filter, order and position (``after=`` cursor or ``page=``)."""
    params: dict[str, Any] = {"source": source, "order": "" if order == "recent" else order, **extra}
    query = urlencode({k: v for k, v in params.items() if v})
    return "/review" + (f"?{query}" if query else "")


def _face_view(face: Any) -> dict[str, Any]:
    """A review face (``ReviewFace`` or a ``Directory.group_faces`` item) as the templates show it."""
    if isinstance(face, dict):
        quality = face.get("quality") or {}
        return {"face_id": str(face["face_id"]), "band": str(quality.get("band", "")), "source": str(face.get("source", ""))}
    return {
        "face_id": face.face_id,
        "band": face.band,
        "source": face.source,
        "created_at": face.created_at,
        "similarity": face.similarity,
        "request_id": face.request_id,
    }


def review(request: Request) -> Response:
    query = request.query_params
    source = query.get("source", "").strip()[:200]
    order = query.get("order", "recent")
    order = order if order in ORDERS else "recent"
    backend, directory = backend_of(request), directory_of(request)
    previous = following = None
    if order == "size":
        everyone = sorted(backend.review.all_groups(source or None), key=lambda g: g.last_seen, reverse=True)
        everyone.sort(key=lambda g: -g.size)
        try:
            number = max(1, int(query.get("page", "1")))
        except ValueError:
            number = 1
        groups = everyone[(number - 1) * REVIEW_PAGE : number * REVIEW_PAGE]
        previous = review_url(source, order, page=number - 1 if number > 2 else None) if number > 1 else None
        following = review_url(source, order, page=number + 1) if number * REVIEW_PAGE < len(everyone) else None
    else:
        after = query.get("after")
        try:
            if after:
                start_key(after, keys.REVIEW_PARTITION)
        except BadCursor:
            return message(request, 400, STALE_LINK)
        groups, cursor = backend.review.groups(source or None, after, REVIEW_PAGE)
        previous = review_url(source, order) if after else None
        following = review_url(source, order, after=cursor) if cursor else None
    here = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
    context = {
        "title": "Review",
        "groups": [_group_view(g, directory.group_faces(g.group_id, CROPS_PER_GROUP)) for g in groups],
        "source": source,
        "order": order,
        "orders": ORDERS,
        "previous": previous,
        "next": following,
        "here": here,
        "suggestions": directory.suggestions(DATALIST_LIMIT),
    }
    return page(request, "review.html", context)


def _group_view(group: ReviewGroup, faces: list[Any]) -> dict[str, Any]:
    return {"group": group, "faces": [_face_view(f) for f in faces]}


def group(request: Request) -> Response:
    group_id = path_id(request, "group_id")
    backend, directory = backend_of(request), directory_of(request)
    found = backend.review.group(group_id)
    if found is None:
        return message(request, 404, f"Review group {group_id} is gone: its faces were named or dismissed, or expired.")
    context = {
        "title": f"Review group {group_id[:8]}",
        "group": found,
        "faces": [_face_view(f) for f in backend.review.faces(group_id)],
        "suggestions": directory.suggestions(DATALIST_LIMIT),
        "here": f"/review/{group_id}",
    }
    return page(request, "group.html", context)


async def name_group(request: Request) -> Response:
    """Name a group: assign it to the person the name (or id) is, or make a new person of it."""
    group_id = path_id(request, "group_id")
    form = await form_of(request)
    name, new = form.get("name", "").strip(), form.get("action") == "new"
    back = local_path(form.get("back"), "/review")
    here = local_path(form.get("here"), back)
    backend, directory = backend_of(request), directory_of(request)

    def work() -> tuple[str, str]:
        if not name:
            raise OperationError("Enter a name for the group, or pick a person.")
        found = backend.review.group(group_id)
        if found is None:
            raise PersonNotFoundError(f"review group {group_id} is gone: it was named or dismissed already")
        faces = f"{found.size} face{'s' if found.size != 1 else ''}"
        if not new:
            try:
                person = directory.resolve(name)
            except PersonNotFoundError:
                person = None
            if person is not None:
                assigned = backend.assign(group_id, person.person_id)
                return back, f"{faces} assigned to {assigned.name}."
        created = backend.new_person(group_id, name)
        return back, f"New person {created.name}, from {faces}."

    return await act(request, work, back=here)


def dismiss_question(request: Request) -> Response:
    group_id = path_id(request, "group_id")
    found = backend_of(request).review.group(group_id)
    if found is None:
        return redirect(request, "/review", f"Review group {group_id} is gone already.", refused=True)
    return confirm(
        request,
        title=f"Dismiss these {found.size} faces?",
        text="They are nobody to name. Their crops, vectors and records are erased, and the same frames sent again do not bring them back.",
        action=f"/review/{group_id}/dismiss",
        button="Dismiss",
        cancel=f"/review/{group_id}",
        danger=True,
    )


async def dismiss(request: Request) -> Response:
    """Dismiss a group (``/review/{group}/dismiss``) or one face of it (``/review/faces/{face}/dismiss``)."""
    target = path_id(request, "group_id" if "group_id" in request.path_params else "face_id")
    form = await form_of(request)
    back = local_path(form.get("back"), "/review")
    here = local_path(form.get("here"), back)
    backend = backend_of(request)

    def work() -> tuple[str, str]:
        count = backend.dismiss(target)
        return back, f"Dismissed {count} face{'s' if count != 1 else ''}."

    return await act(request, work, back=here)


ROUTES: list[BaseRoute] = [
    Route("/review", review, name="review"),
    Route("/review/{group_id}", group, name="review_group"),
    Route("/review/{group_id}/name", name_group, methods=["POST"], name="name_group"),
    Route("/review/{group_id}/dismiss", dismiss_question, methods=["GET"], name="dismiss_question"),
    Route("/review/{group_id}/dismiss", dismiss, methods=["POST"], name="dismiss_group"),
    Route("/review/faces/{face_id}/dismiss", dismiss, methods=["POST"], name="dismiss_face"),
]

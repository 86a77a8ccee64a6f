"""People (``/people``) and a person (``/people/{id}``).

People: a grid of a page of people by name (``Directory.people_page``: a prefix search, the
named/unnamed filter, cursors), with a face, the counts of the page's people only, and when each
was last seen. A person: every face, newest first (source, time, similarity, quality band,
indexed, taught), and the changes, each an operation of ``facepipe.operations``: rename, merge
into another person (asked first), erase (asked first, listing what goes), and per face confirm,
not this person, unassign.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from facepipe.people import Person, PersonNotFoundError
from facepipe_tools.console.actions import IDENTIFIER, REFUSALS, act, directory_of, form_of, path_id, reason
from facepipe_tools.console.directory import Named, is_generated
from facepipe_tools.console.imagery import placeholder_jpeg, read_crop
from facepipe_tools.console.pages import backend_of, confirm, message, page, redirect
from facepipe_tools.console.paging import BadCursor

__all__ = ["DATALIST_LIMIT", "FACES_PER_PAGE", "ROUTES", "people_url", "person_card"]

#: the most people a name field's ``<datalist>`` offers (named people, by name)
DATALIST_LIMIT = 300
#: faces on a page of a person
FACES_PER_PAGE = 120
NAMED_CHOICES = {"all": "Everyone", "named": "Named", "unnamed": "Unnamed"}
STALE_LINK = "This page link is out of date or was changed: start again from the first page."


def people_url(search: str = "", named: str = "all", **cursor: str | None) -> str:
    """The People page with this search, filter and cursor (``after=`` or ``before=``)."""
    params = {"q": search, "named": "" if named == "all" else named, **cursor}
    query = urlencode({k: v for k, v in params.items() if v})
    return "/people" + (f"?{query}" if query else "")


def person_card(person: Person) -> dict[str, Any]:
    """What a template shows of a person: the person and whether nobody has named them yet."""
    return {"person": person, "unnamed": is_generated(person)}


def people(request: Request) -> Response:
    query = request.query_params
    search = query.get("q", "").strip()[:100]
    named = query.get("named", "all")
    named = named if named in NAMED_CHOICES else "all"
    try:
        listing = directory_of(request).people_page(
            search=search, named=cast(Named, named), after=query.get("after"), before=query.get("before")
        )
    except BadCursor:
        return message(request, 400, STALE_LINK)
    counted = backend_of(request).people.with_counts(listing.items)
    context = {
        "title": "People",
        "people": [person_card(p) for p in counted],
        "search": search,
        "named": named,
        "choices": NAMED_CHOICES,
        "previous": people_url(search, named, before=listing.previous) if listing.previous else None,
        "next": people_url(search, named, after=listing.next) if listing.next else None,
        "first": people_url(search, named) if listing.previous else None,
    }
    return page(request, "people.html", context)


def person_face(request: Request) -> Response:
    """The picture of a person in the grid: the crop of an enrolled or indexed face, else grey."""
    person_id = path_id(request, "person_id")
    backend = backend_of(request)
    face_id = directory_of(request).cover(person_id)
    data = read_crop(backend.recognizer.s3, backend.bucket, face_id) if face_id else None
    return Response(data or placeholder_jpeg(), media_type="image/jpeg")


def _face_view(face: dict[str, Any]) -> dict[str, Any]:
    quality = face.get("quality") or {}
    return {
        "face_id": str(face["face_id"]),
        "source": str(face.get("source", "")),
        "request_id": str(face.get("request_id", "")),
        "created_at": str(face.get("created_at", "")),
        "similarity": float(face.get("similarity") or 0.0),
        "band": str(quality.get("band", "")),
        "size": float(quality.get("size", 0.0) or 0.0),
        "indexed": bool(face.get("indexed")),
        "enrolled": bool(face.get("enrolled")),
        "taught": str(face.get("taught") or ""),
        "pending": bool(face.get("pending")),
    }


def person(request: Request) -> Response:
    person_id = path_id(request, "person_id")
    backend, directory = backend_of(request), directory_of(request)
    try:
        found = backend.people.get_person(person_id)
    except PersonNotFoundError:
        return message(request, 404, f"Nobody has the id {person_id}: they were erased, or never existed.")
    if found.merged_into:
        return redirect(request, f"/people/{found.merged_into}", f"{found.name} was merged into this person.")
    faces = directory.faces(person_id)
    try:
        number = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        number = 1
    pages = max(1, -(-len(faces) // FACES_PER_PAGE))
    number = min(number, pages)
    shown = faces[(number - 1) * FACES_PER_PAGE : number * FACES_PER_PAGE]
    context = {
        "title": found.name,
        "card": person_card(found),
        "faces": [_face_view(f) for f in shown],
        "total": len(faces),
        "number": number,
        "pages": pages,
        "suggestions": [p for p in directory.suggestions(DATALIST_LIMIT) if p.person_id != person_id],
    }
    return page(request, "person.html", context)


# --- changes to a person -------------------------------------------------------------------
async def rename(request: Request) -> Response:
    person_id = path_id(request, "person_id")
    name = (await form_of(request)).get("name", "").strip()
    backend = backend_of(request)

    def work() -> tuple[str, str]:
        renamed = backend.rename(person_id, name)
        return f"/people/{person_id}", f"Renamed to {renamed.name}."

    return await act(request, work, back=f"/people/{person_id}")


def merge_question(request: Request) -> Response:
    """``GET /people/{id}/merge?into=…``: who ``into`` names, and the question before the merge."""
    person_id = path_id(request, "person_id")
    back = f"/people/{person_id}"
    into = request.query_params.get("into", "").strip()
    if not into:
        return redirect(request, back, "Enter the name (or id) of the person to merge into.", refused=True)
    backend, directory = backend_of(request), directory_of(request)
    try:
        source = backend.people.get_person(person_id)
        target = directory.resolve(into)
    except REFUSALS as exc:
        return redirect(request, back, reason(exc), refused=True)
    if target.person_id == source.person_id:
        return redirect(request, back, "A person cannot be merged into themselves.", refused=True)
    details = [
        f"{source.name}'s {source.face_count} faces move to {target.name}, with their vectors and the tags of their frames.",
        f"{source.name} leaves the list; their id leads to {target.name} from now on.",
        "A face merged wrongly can be moved out again from its person's page (Unassign).",
    ]
    return confirm(
        request,
        title=f"Merge {source.name} into {target.name}?",
        text=f"{source.name} ({source.person_id}) becomes part of {target.name} ({target.person_id}).",
        action=f"/people/{person_id}/merge",
        fields={"into": target.person_id},
        button="Merge",
        cancel=back,
        details=details,
    )


async def merge(request: Request) -> Response:
    person_id = path_id(request, "person_id")
    into = (await form_of(request)).get("into", "")
    backend, directory = backend_of(request), directory_of(request)

    def work() -> tuple[str, str]:
        source = backend.people.get_person(person_id)
        target = backend.merge(person_id, directory.resolve(into).person_id)
        return f"/people/{target.person_id}", f"Merged {source.name} into {target.name}: {target.face_count} faces now."

    return await act(request, work, back=f"/people/{person_id}")


def erase_question(request: Request) -> Response:
    """``GET /people/{id}/delete``: what the erasure would remove, and the question."""
    person_id = path_id(request, "person_id")
    try:
        preview = backend_of(request).preview_delete(person_id)
    except REFUSALS as exc:
        return redirect(request, f"/people/{person_id}", reason(exc), refused=True)
    name = str(preview["name"])
    details = [
        f"{preview['faces']} face records, with their kept crops (every stored version) and their vectors "
        f"({preview['indexed faces']} indexed)",
        f"{name} in the tags of {preview['images tagged']} images: anonymised (unknown), their file names dropped",
        f"{preview['negative links']} negative links (faces someone said are not {name})",
        "the stored responses that named them, and the registry entries of new people",
    ]
    return confirm(
        request,
        title=f"Erase {name}?",
        text=f"Everything facepipe keeps of {name} ({person_id}) is erased, and cannot be brought back:",
        action=f"/people/{person_id}/delete",
        button=f"Erase {name}",
        cancel=f"/people/{person_id}",
        danger=True,
        details=details,
    )


async def erase(request: Request) -> Response:
    person_id = path_id(request, "person_id")
    backend = backend_of(request)

    def work() -> tuple[str, str]:
        erasure = backend.delete(person_id)
        text = (
            f"Erased {erasure.name}: {len(erasure.faces)} face records, {erasure.vectors} vectors, "
            f"{erasure.object_versions} stored crops, {erasure.tags} tags."
        )
        return "/people", text

    return await act(request, work, back=f"/people/{person_id}")


# --- changes to one face -------------------------------------------------------------------
async def _face_change(request: Request, change: str) -> Response:
    face_id = path_id(request, "face_id")
    form = await form_of(request)
    person_id = form.get("person", "")
    back = f"/people/{person_id}" if IDENTIFIER.fullmatch(person_id) else "/people"
    backend = backend_of(request)
    short = face_id[:8]

    def work() -> tuple[str, str]:
        if change == "confirm":
            confirmed = backend.confirm(face_id)
            return back, f"Face {short} confirmed as {confirmed.name}."
        if change == "not":
            holder = backend.person(person_id).name if back != "/people" else "this person"
            backend.not_this_person(face_id)
            return back, f"Face {short} is not {holder}: it left them and waits in Review."
        alone = backend.unassign(face_id)
        return back, f"Face {short} is a person of its own now: {alone.name}."

    return await act(request, work, back=back)


async def confirm_face(request: Request) -> Response:
    return await _face_change(request, "confirm")


async def not_this_person(request: Request) -> Response:
    return await _face_change(request, "not")


async def unassign(request: Request) -> Response:
    return await _face_change(request, "unassign")


ROUTES: list[BaseRoute] = [
    Route("/people", people, name="people"),
    Route("/people/{person_id}", person, name="person"),
    Route("/people/{person_id}/face.jpg", person_face, name="person_face"),
    Route("/people/{person_id}/rename", rename, methods=["POST"], name="rename"),
    Route("/people/{person_id}/merge", merge_question, methods=["GET"], name="merge_question"),
    Route("/people/{person_id}/merge", merge, methods=["POST"], name="merge"),
    Route("/people/{person_id}/delete", erase_question, methods=["GET"], name="erase_question"),
    Route("/people/{person_id}/delete", erase, methods=["POST"], name="erase"),
    Route("/faces/{face_id}/confirm", confirm_face, methods=["POST"], name="confirm_face"),
    Route("/faces/{face_id}/not", not_this_person, methods=["POST"], name="not_this_person"),
    Route("/faces/{face_id}/unassign", unassign, methods=["POST"], name="unassign"),
]

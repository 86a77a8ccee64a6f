"""Activity (``/activity``): the latest frames and photos, and the crops every page shows.

Each frame is drawn (``imagery.render_frame``: the kept crops at their boxes, on a canvas of the
frame's size) by ``/activity/frame.png``; over it an SVG of the same size carries the names under
the boxes, as text, each face a link to its person (or, unknown, to its review group). A crop
is streamed through the console: ``/crops/{face_id}.jpg`` (404 when none is kept).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from facepipe_tools.console.actions import IDENTIFIER, directory_of, path_id
from facepipe_tools.console.directory import Frame
from facepipe_tools.console.imagery import DrawnFace, frame_size, read_crop, render_frame, render_scale
from facepipe_tools.console.pages import backend_of, message, page
from facepipe_tools.console.paging import BadCursor
from facepipe_tools.console.people_views import STALE_LINK

__all__ = ["ACTIVITY_PAGE", "LABEL_SIZE", "ROUTES", "activity_url", "frame_view"]

#: frames on a page of Activity
ACTIVITY_PAGE = 24
#: the names' font size, in drawn pixels (a drawn frame is shown at half its size)
LABEL_SIZE = 24
_DIGEST = re.compile(r"[0-9a-f]{0,64}")
_REQUEST_ID_LENGTH = 1024


def activity_url(source: str = "", **cursor: str | None) -> str:
    query = urlencode({k: v for k, v in {"source": source, **cursor}.items() if v})
    return "/activity" + (f"?{query}" if query else "")


def _label(tag: dict[str, Any]) -> tuple[str, str, str | None]:
    """(kind, label, link) of a tagged face: a person's name and page; unknown and its review group; erased."""
    if tag.get("erased"):
        return "erased", "erased", None
    person_id = str(tag.get("person_id") or "")
    if person_id and IDENTIFIER.fullmatch(person_id):
        return "named", str(tag.get("name") or person_id), f"/people/{person_id}"
    group = str(tag.get("review_group") or "")
    return "unknown", "unknown", f"/review/{group}" if group and IDENTIFIER.fullmatch(group) else None


def frame_view(frame: Frame) -> dict[str, Any]:
    """A frame as the template draws it: its picture's address and size, and each face's box,
    label and link in the picture's pixels."""
    size = frame.size or frame_size([t.get("box") or [] for t in frame.tags])
    scale = render_scale(size)
    width, height = round(size[0] * scale), round(size[1] * scale)
    faces = []
    for tag in frame.tags:
        box = [float(v) * scale for v in (tag.get("box") or [])]
        if len(box) != 4:
            continue
        kind, label, href = _label(tag)
        below = box[3] + LABEL_SIZE + 6
        faces.append(
            {
                "x": round(box[0], 1),
                "y": round(box[1], 1),
                "w": round(box[2] - box[0], 1),
                "h": round(box[3] - box[1], 1),
                "tx": round(min(max((box[0] + box[2]) / 2, LABEL_SIZE), width - LABEL_SIZE), 1),
                "ty": round(below if below <= height - 4 else max(box[1] - 8, LABEL_SIZE), 1),
                "kind": kind,
                "label": label,
                "href": href,
                "similarity": float(tag.get("similarity") or 0.0),
            }
        )
    picture = "/activity/frame.png?" + urlencode({"request_id": frame.request_id, "digest": frame.digest})
    return {"frame": frame, "picture": picture, "width": width, "height": height, "faces": faces}


def activity(request: Request) -> Response:
    query = request.query_params
    source = query.get("source", "").strip()[:200]
    try:
        listing = directory_of(request).activity(source=source, after=query.get("after"), before=query.get("before"), size=ACTIVITY_PAGE)
    except BadCursor:
        return message(request, 400, STALE_LINK)
    context = {
        "title": "Activity",
        "frames": [frame_view(f) for f in listing.items],
        "source": source,
        "previous": activity_url(source, before=listing.previous) if listing.previous else None,
        "next": activity_url(source, after=listing.next) if listing.next else None,
        "label_size": LABEL_SIZE,
    }
    return page(request, "activity.html", context)


def frame_picture(request: Request) -> Response:
    """``/activity/frame.png?request_id=…&digest=…``: the frame drawn from its faces' crops."""
    request_id, digest = request.query_params.get("request_id", ""), request.query_params.get("digest", "")
    if not request_id or len(request_id) > _REQUEST_ID_LENGTH or not _DIGEST.fullmatch(digest):
        raise HTTPException(404)
    backend = backend_of(request)
    frame = directory_of(request).frame(request_id, digest)
    if frame is None:
        raise HTTPException(404)
    drawn = []
    for tag in frame.tags:
        kind = _label(tag)[0]
        face_id = str(tag.get("face_id") or "")
        keep = kind != "erased" and IDENTIFIER.fullmatch(face_id)
        crop = read_crop(backend.recognizer.s3, backend.bucket, face_id) if keep else None
        drawn.append(DrawnFace(tag.get("box") or [], crop, kind))
    size = frame.size or frame_size([face.box for face in drawn])
    return Response(render_frame(size, drawn), media_type="image/png")


def crop(request: Request) -> Response:
    """``/crops/{face_id}.jpg``: a face's kept crop (faces/, sightings/ or review/), 404 when none."""
    face_id = path_id(request, "face_id")
    backend = backend_of(request)
    data = read_crop(backend.recognizer.s3, backend.bucket, face_id)
    if data is None:
        raise HTTPException(404)
    return Response(data, media_type="image/jpeg")


ROUTES: list[BaseRoute] = [
    Route("/activity", activity, name="activity"),
    Route("/activity/frame.png", frame_picture, name="frame_picture"),
    Route("/crops/{face_id}.jpg", crop, name="crop"),
]

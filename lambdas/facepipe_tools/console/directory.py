"""What the console's pages read that the core's operations do not offer: a page at a time.

The core reads whole listings (``PeopleStore.list_people``, ``Review.all_groups``), which the CLI
needs and a page of 48 does not. Here every listing reads its GSI1 partition from a cursor, only
as far as one page (``PAGE_SIZE``; how, in ``paging``):

* people (``"PEOPLE"``, sorted by lower-cased name): a search is a prefix of the sort key, the
  named/unnamed filter a filter expression on the name; counts are read for the page only
  (``PeopleStore.with_counts``);
* frames and photos (``"ACTIVITY"``, newest first), their tags read in one BatchGetItem per
  100 faces (a META item says how many faces its image has);
* a few faces of a review group, a person's cover face, a person's faces without their vectors.

A cursor is checked to belong to the listing it is used on (``paging.BadCursor`` otherwise).
Nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from facepipe.operations import OperationError
from facepipe.people import Person, PersonNotFoundError, generated_name, keys
from facepipe.people.items import from_item
from facepipe.review import encode_cursor
from facepipe_tools.console.paging import Listing, first, projection, window

if TYPE_CHECKING:
    from facepipe.people import PeopleStore

__all__ = [
    "FACE_FIELDS",
    "PAGE_SIZE",
    "Directory",
    "Frame",
    "Named",
    "is_generated",
    "looks_generated",
]

#: people on a page of People
PAGE_SIZE = 48
#: a generated name: ``person-`` and six characters of the id (``facepipe.people.generated_name``)
GENERATED_PREFIX = "person-"
GENERATED_LENGTH = len(generated_name("0" * 32))
#: the attributes of a face the pages show (not its vector)
FACE_FIELDS = (
    "face_id",
    "person_id",
    "request_id",
    "image_digest",
    "face_index",
    "source",
    "box",
    "similarity",
    "model",
    "indexed",
    "enrolled",
    "crop_key",
    "quality",
    "taught",
    "created_at",
    "pending",
)
_ID = re.compile(r"[0-9a-f]{32}")

#: which people a listing shows: everyone, those with a name a person gave, those still unnamed
Named = Literal["all", "named", "unnamed"]


def is_generated(person: Person) -> bool:
    """Whether ``person`` still has the name facepipe generated for them (nobody named them)."""
    return person.name == generated_name(person.person_id)


def looks_generated(name: str) -> bool:
    """Whether ``name`` has the shape of a generated name (what the named/unnamed filter tests:
    DynamoDB can compare a name with a prefix and a length, not with the person's id)."""
    return name.startswith(GENERATED_PREFIX) and len(name) == GENERATED_LENGTH


@dataclass(frozen=True)
class Frame:
    """A frame or photo recognition answered (its META item) and the tags of its faces."""

    request_id: str
    digest: str
    filename: str
    source: str
    result: str
    faces: int
    tagged_at: str
    tags: list[dict[str, Any]] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (width, height) when the META item records it (it does not yet)

    @classmethod
    def from_item(cls, item: Mapping[str, Any], tags: Sequence[dict[str, Any]] = ()) -> Frame:
        data = from_item(item)
        width, height = int(data.get("width") or 0), int(data.get("height") or 0)
        return cls(
            str(data.get("request_id", "")),
            str(data.get("image_digest", "")),
            str(data.get("filename", "")),
            str(data.get("source", "")),
            str(data.get("result", "")),
            int(data.get("faces", 0)),
            str(data.get("tagged_at", "")),
            list(tags),
            (width, height) if width > 0 and height > 0 else None,
        )

    def with_tags(self, tags: Mapping[tuple[str, str], list[dict[str, Any]]]) -> Frame:
        """This frame with its tags out of ``Directory.tags_of``."""
        return replace(self, tags=tags.get((self.request_id, self.digest[:16]), []))


def _common_prefix(*prefixes: str) -> str | None:
    """The longest of ``prefixes`` when each of the others starts it; None when two disagree (no key has both)."""
    longest = max(prefixes, key=len)
    return longest if all(longest.startswith(p) for p in prefixes) else None


class Directory:
    """Listings for the pages, over the people table (``PeopleStore``) the operations use."""

    def __init__(self, people: PeopleStore) -> None:
        self.people = people

    # --- people -------------------------------------------------------------------------------
    def people_page(
        self, *, search: str = "", named: Named = "all", after: str | None = None, before: str | None = None, size: int = PAGE_SIZE
    ) -> Listing[Person]:
        """A page of people by name (without counts: ``PeopleStore.with_counts`` reads them for
        the page). ``search`` is a prefix of the name, any case; ``named`` filters named or
        unnamed people (``looks_generated``)."""
        prefix = _common_prefix(search.strip().lower(), GENERATED_PREFIX if named == "unnamed" else "")
        if prefix is None:
            return Listing([])
        condition: ConditionBase = Key("GSI1PK").eq(keys.PEOPLE_PARTITION)
        if prefix:
            condition = condition & Key("GSI1SK").begins_with(prefix)
        query: dict[str, Any] = {"IndexName": keys.PEOPLE_INDEX, "KeyConditionExpression": condition}
        shaped = Attr("name").begins_with(GENERATED_PREFIX) & Attr("name").size().eq(GENERATED_LENGTH)
        if named == "unnamed":
            query["FilterExpression"] = shaped
        elif named == "named":
            query["FilterExpression"] = ~shaped
        page = window(self.people, keys.PEOPLE_PARTITION, query, after, before, size)
        return Listing([Person.from_item(i) for i in page.items], page.previous, page.next)

    def people_cursor(self, person: Person) -> str:
        """The cursor of the People page that starts just after ``person`` (benchmarks, links)."""
        return encode_cursor(
            {
                **keys.profile_key(person.person_id),
                "GSI1PK": keys.PEOPLE_PARTITION,
                "GSI1SK": keys.people_sort_key(person.name, person.person_id),
            }
        )

    def find_by_name(self, name: str) -> list[Person]:
        """The people named exactly ``name``: one GSI1 range (the core's ``find_by_name`` reads everyone)."""
        condition = Key("GSI1PK").eq(keys.PEOPLE_PARTITION) & Key("GSI1SK").begins_with(f"{name.lower()}#")
        items = self.people.query(IndexName=keys.PEOPLE_INDEX, KeyConditionExpression=condition)
        return [p for p in map(Person.from_item, items) if p.name == name]

    def resolve(self, ref: str) -> Person:
        """A person by id, or by name when exactly one person has it (``PersonNotFoundError``,
        ``OperationError`` for a name several people share)."""
        ref = ref.strip()
        if _ID.fullmatch(ref):
            try:
                return self.people.get_person(ref)
            except PersonNotFoundError:
                pass
        named = self.find_by_name(ref)
        if not named:
            raise PersonNotFoundError(f"nobody is named {ref!r}")
        if len(named) > 1:
            ids = ", ".join(p.person_id for p in named)
            raise OperationError(f"{len(named)} people are named {ref!r}; enter the id of the one you mean: {ids}")
        return named[0]

    def suggestions(self, limit: int) -> list[Person]:
        """Named people by name, at most ``limit``: the ``<datalist>`` a name field offers."""
        return self.people_page(named="named", size=limit).items

    def faces(self, person_id: str) -> list[dict[str, Any]]:
        """A person's faces, newest first, without their vectors."""
        condition = Key("PK").eq(keys.person_pk(person_id)) & Key("SK").begins_with("FACE#")
        items = self.people.query(KeyConditionExpression=condition, ConsistentRead=True, **projection(FACE_FIELDS))
        return sorted((from_item(i) for i in items), key=lambda f: str(f.get("created_at", "")), reverse=True)

    def cover(self, person_id: str, look_at: int = 16) -> str | None:
        """The face shown for a person: among the first ``look_at`` of their faces, an enrolled
        one, else an indexed one, else any (None: no faces)."""
        condition = Key("PK").eq(keys.person_pk(person_id)) & Key("SK").begins_with("FACE#")
        faces = first(self.people, KeyConditionExpression=condition, Limit=look_at, **projection(("face_id", "indexed", "enrolled")))
        if not faces:
            return None
        best = max(faces, key=lambda f: (bool(f.get("enrolled")), bool(f.get("indexed"))))
        return str(best["face_id"])

    # --- the review ---------------------------------------------------------------------------
    def group_faces(self, group_id: str, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` faces of a review group (id, quality, time), without their vectors."""
        condition = Key("PK").eq(keys.review_pk(group_id)) & Key("SK").begins_with("FACE#")
        items = first(
            self.people, KeyConditionExpression=condition, Limit=limit, **projection(("face_id", "quality", "created_at", "source"))
        )
        return [from_item(i) for i in items]

    # --- activity -----------------------------------------------------------------------------
    def activity(self, *, source: str = "", after: str | None = None, before: str | None = None, size: int = 24) -> Listing[Frame]:
        """The latest frames and photos, newest first (``source``: of that source only), with their tags."""
        query: dict[str, Any] = {"IndexName": keys.PEOPLE_INDEX, "KeyConditionExpression": Key("GSI1PK").eq(keys.ACTIVITY_PARTITION)}
        if source:
            query["FilterExpression"] = Attr("source").eq(source)
        page = window(self.people, keys.ACTIVITY_PARTITION, query, after, before, size, newest_first=True)
        frames = [Frame.from_item(i) for i in page.items]
        tags = self.tags_of(frames)
        return Listing([f.with_tags(tags) for f in frames], page.previous, page.next)

    def frame(self, request_id: str, digest: str) -> Frame | None:
        """One image's META item and tags (None: no such image)."""
        item = self.people.get(keys.meta_key(request_id, digest))
        if item is None:
            return None
        frame = Frame.from_item(item)
        return frame.with_tags(self.tags_of([frame]))

    def tags_of(self, frames: Sequence[Frame]) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """The tags of ``frames``, by (request_id, digest), in face order: BatchGetItem of the
        keys their META items imply (``faces`` tags each)."""
        wanted = [keys.tag_key(f.request_id, f.digest, i) for f in frames for i in range(f.faces)]
        found: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for item in map(from_item, self.people.batch_get(wanted)):
            found.setdefault((str(item["request_id"]), str(item.get("image_digest", ""))[:16]), []).append(item)
        for tags in found.values():
            tags.sort(key=lambda t: int(t.get("face_index", 0)))
        return found

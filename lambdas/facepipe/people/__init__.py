"""People, their faces and the tags of each frame/photo in one DynamoDB table (docs/people.md)."""

from facepipe.people.errors import PersonGoneError, PersonNotFoundError
from facepipe.people.items import FaceRecord, Person, Tag
from facepipe.people.keys import face_id_for, generated_name, person_id_for
from facepipe.people.store import PeopleStore

__all__ = [
    "FaceRecord",
    "PeopleStore",
    "Person",
    "PersonGoneError",
    "PersonNotFoundError",
    "Tag",
    "face_id_for",
    "generated_name",
    "person_id_for",
]

"""What the console's pages call: the data operations, behind one protocol.

The pages change nothing themselves: every change is one of the core's people operations
(``facepipe.operations.PeopleOperations``: rename, merge, erase, teach), and they read through
the same stores (the people table, the review, the bucket's crops). The real backend is
``facepipe_tools.admin.Admin``; routes reach it with ``facepipe_tools.console.backend_of(request)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from facepipe.operations import Erasure
    from facepipe.people import PeopleStore, Person
    from facepipe.recognition import Recognizer
    from facepipe.review import Review

__all__ = ["ConsoleBackend"]


class ConsoleBackend(Protocol):
    """The data operations behind the console's pages (``PeopleOperations`` provides them all)."""

    people: PeopleStore
    review: Review
    recognizer: Recognizer  # its S3 client reads the crops

    @property
    def bucket(self) -> str:
        """The bucket holding the kept crops ("" when none is set)."""
        ...

    def person(self, ref: str) -> Person: ...

    def rename(self, ref: str, name: str) -> Person: ...

    def merge(self, source_ref: str, target_ref: str) -> Person: ...

    def unassign(self, face_id: str) -> Person: ...

    def delete(self, ref: str) -> Erasure: ...

    def preview_delete(self, ref: str) -> dict[str, int | str]: ...

    def confirm(self, face_id: str) -> Person: ...

    def not_this_person(self, face_id: str) -> str: ...

    def assign(self, target: str, to: str) -> Person: ...

    def new_person(self, target: str, name: str) -> Person: ...

    def dismiss(self, target: str) -> int: ...

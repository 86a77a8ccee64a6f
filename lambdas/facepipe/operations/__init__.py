"""What people do to the people list: rename, merge, unassign, erase, and teach it from the
review (``changes``, ``erasure``, ``teaching``), each idempotent and resumable; the CLI and the
console only call these.

They live here, above ``facepipe.people`` rather than in it: they work through the recognizer's
parts (the index, the review, the gallery's registry, the events, S3), which all stand on the
people table, so inside ``facepipe.people`` they would import upward.
"""

from facepipe.operations.base import MergeRefused, OperationError
from facepipe.operations.changes import Changes
from facepipe.operations.erasure import Erasing, Erasure
from facepipe.operations.teaching import Teaching

__all__ = ["Erasure", "MergeRefused", "OperationError", "PeopleOperations"]


class PeopleOperations(Changes, Erasing, Teaching):
    """Every people operation, on one recognizer (``progress`` wraps the long loops: a progress bar)."""

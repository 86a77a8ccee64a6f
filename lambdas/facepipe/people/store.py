"""People, their faces and the tags of each image in the one DynamoDB table (docs/people.md).

``PeopleStore`` is the table as its callers know it, assembled from one part per concept, each
on the same requests (``table``: retried while DynamoDB refuses overlapping work):

* ``profiles``: a person created once, read with their counts, followed through merges, renamed;
* ``presence``: a person merged away or being erased, and the check every write under them makes;
* ``faces``: a person's faces (recorded, moved, adopted from the review, indexed, erased);
* ``negatives``: the faces people said are not them;
* ``tags``: each image's tags and META, the response-sent marker, the stored responses.

Ids are derived from the work (``keys.face_id_for``) and first writes are conditional, so a
repeated delivery writes nothing new: a person's counts move only together with a new face
item, in one transaction. Faces and tags are written only while their person is present
(``presence``). A face is held by one person at most: its claim moves with it, and an erased
face's claim stays as the mark that keeps a redelivered frame from bringing it back (``claims``).
"""

from __future__ import annotations

from facepipe.people.faces import Faces
from facepipe.people.negatives import Negatives
from facepipe.people.presence import Presence
from facepipe.people.profiles import Profiles
from facepipe.people.tags import Tags


class PeopleStore(Profiles, Presence, Faces, Negatives, Tags):
    """The people table: profiles, presence, faces, negative links and tags over one set of requests."""

"""Recognition: who the faces of a frame or photo are, their tags, and the answer (docs/architecture.md)."""

from facepipe.recognition.recognizer import Recognizer
from facepipe.recognition.results import ImageRef, Recognised, image_digest, quality_of_entry

__all__ = ["ImageRef", "Recognised", "Recognizer", "image_digest", "quality_of_entry"]

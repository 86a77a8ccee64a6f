"""Vectors kept in DynamoDB items: float32, base64 (a 128-d vector is 684 characters, 512-d 2,732)."""

from __future__ import annotations

import base64

import numpy as np


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float32)

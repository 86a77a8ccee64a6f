"""Similarity of every pair of labelled faces, by quality band: the numbers and plot behind a threshold."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from facepipe.detection.quality import BANDS, Band

if TYPE_CHECKING:
    from facepipe.matching import Calibration
    from facepipe_tools.labelling import LabelledFace

#: quality bands in the order reports show them
BANDS_BEST_FIRST: tuple[Band, ...] = tuple(reversed(BANDS))


@dataclass(frozen=True)
class Pairs:
    """Every pair of faces from different files: similarity, same person, the worse quality
    band of the two, the smaller size, and whether either face is degraded (blur / JPEG)."""

    similarity: np.ndarray
    same: np.ndarray
    band: np.ndarray
    size: np.ndarray
    degraded: np.ndarray

    def select(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.similarity[mask], self.same[mask], self.band[mask], self.size[mask], self.degraded[mask])


def pairs_of(faces: Sequence[LabelledFace], file_of: Callable[[LabelledFace], str] = lambda f: f.file) -> Pairs:
    """All pairs of ``faces`` whose files differ (``file_of``: which file a face is from), except
    pairs of two strangers' faces: nobody knows whether they are one person (a passer-by in the
    background of two photos of one series often is: 0.954 on the held-out set)."""
    from facepipe.detection.quality import rank

    if len(faces) < 2:
        empty = np.zeros(0)
        return Pairs(empty, empty.astype(bool), empty.astype(str), empty, empty.astype(bool))
    vectors = np.stack([f.vector for f in faces])
    first, second = np.triu_indices(len(faces), 1)
    files = np.array([file_of(f) for f in faces])
    named = np.array([f.name is not None for f in faces])
    keep = (files[first] != files[second]) & (named[first] | named[second])
    first, second = first[keep], second[keep]
    identity = np.array([f.identity for f in faces])
    ranks = np.array([rank(f.quality.band) for f in faces])
    sizes = np.array([f.quality.size for f in faces])
    degraded = np.array([f.degraded for f in faces])
    bands = np.array(BANDS)[np.minimum(ranks[first], ranks[second])]
    return Pairs(
        similarity=np.einsum("ij,ij->i", vectors[first], vectors[second]),
        same=identity[first] == identity[second],
        band=bands,
        size=np.minimum(sizes[first], sizes[second]),
        degraded=degraded[first] | degraded[second],
    )


class BandSummary(TypedDict):
    band: Band
    threshold: float
    same_pairs: int
    different_pairs: int
    same_min: float | None
    same_median: float | None
    different_median: float | None
    different_max: float | None
    same_below_threshold: int
    different_at_or_above_threshold: int


def band_summary(pairs: Pairs, calibration: Calibration) -> list[BandSummary]:
    """Per quality band of the pair: counts, the extremes and what the band's threshold does."""
    rows: list[BandSummary] = []
    for band in BANDS_BEST_FIRST:
        selected = pairs.select(pairs.band == band)
        genuine, impostor = selected.similarity[selected.same], selected.similarity[~selected.same]
        threshold = calibration.threshold(band)
        rows.append(
            {
                "band": band,
                "threshold": threshold,
                "same_pairs": len(genuine),
                "different_pairs": len(impostor),
                "same_min": float(genuine.min()) if len(genuine) else None,
                "same_median": float(np.median(genuine)) if len(genuine) else None,
                "different_median": float(np.median(impostor)) if len(impostor) else None,
                "different_max": float(impostor.max()) if len(impostor) else None,
                "same_below_threshold": int((genuine < threshold).sum()),
                "different_at_or_above_threshold": int((impostor >= threshold).sum()),
            }
        )
    return rows


def plot_pairs(pairs: Pairs, calibration: Calibration, title: str, path: Path) -> Path:
    """Histograms (pair counts, log scale) of same-person vs different-person similarity, one
    panel per quality band of the pair, the band's threshold drawn as a vertical line. PNG (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, 3, figsize=(13, 3.8), sharex=True)
    lowest = min(float(pairs.similarity.min(initial=1.0)), calibration.good)
    bins = np.linspace(max(-1.0, math.floor(lowest * 20) / 20 - 0.05), 1.0, 61)
    for panel, band in zip(panels, BANDS_BEST_FIRST, strict=True):
        selected = pairs.select(pairs.band == band)
        genuine, impostor = selected.similarity[selected.same], selected.similarity[~selected.same]
        if len(impostor):
            panel.hist(impostor, bins=bins, alpha=0.6, color="tab:red", label=f"different people ({len(impostor)})")
        if len(genuine):
            panel.hist(genuine, bins=bins, alpha=0.6, color="tab:green", label=f"same person ({len(genuine)})")
        if len(selected.similarity):
            panel.set_yscale("log")  # the tails are what a threshold is about
        threshold = calibration.threshold(band)
        panel.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:.3f}")
        panel.set_title(f"{band} pairs")
        panel.set_xlabel("cosine similarity")
        if not len(selected.similarity):
            panel.text(0.5, 0.5, "no pairs", transform=panel.transAxes, ha="center")
        panel.legend(fontsize=7, loc="upper left")
    panels[0].set_ylabel("pairs (log scale)")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path

"""Synthetic face templates for benchmarks and tests (no images, no people).

Real 128-d face_recognition templates of different people lie 0.6–1.0 apart (FIELD-NOTES,
`../shared/data/faces`: 0.70–1.02), around a common centre; a new photo of the same person lands
0.23–0.42 from their template. `people` draws independent Gaussian templates whose pairwise
distances concentrate at `spread` (default 0.85, 1st–99th percentile ≈ 0.73–0.97), and
`new_photos` moves each by noise of norm `lo`–`hi`. Isotropic Gaussians are the hard case for an
approximate index (real templates cluster in fewer dimensions), so recall measured here is a
floor.
"""

from __future__ import annotations

import numpy as np

from kiosk.face.ann import DIM
from kiosk.face.types import Vector


def people(n: int, rng: np.random.Generator, *, center: Vector | None = None,
           spread: float = 0.85) -> Vector:
    """`n` templates of different people: typical pairwise distance `spread`."""
    sigma = spread / np.sqrt(2 * DIM)
    base = np.zeros(DIM, dtype=np.float32) if center is None else np.asarray(center, np.float32)
    return (base + rng.normal(0.0, sigma, (n, DIM))).astype(np.float32)


def new_photos(templates: Vector, rng: np.random.Generator, *, lo: float = 0.25,
               hi: float = 0.37) -> Vector:
    """Each template moved in a random direction by a distance in [`lo`, `hi`]."""
    noise = rng.normal(0.0, 1.0, templates.shape)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    noise *= rng.uniform(lo, hi, (len(templates), 1))
    return (templates + noise).astype(np.float32)

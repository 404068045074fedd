"""`face_recognition`, imported without its process-wide side effect.

face_recognition's `api` module sets `PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True` when it is
imported, which makes Pillow accept cut-off images everywhere in the process, silently: the
content probe (`content/probe.py`) would then let a truncated JPEG through. Import it from
here, which puts Pillow's default back.
"""

from __future__ import annotations

import face_recognition
from PIL import ImageFile

ImageFile.LOAD_TRUNCATED_IMAGES = False

__all__ = ["face_recognition"]

"""Recorded input as frame sources: a video file, or a folder of still images.

Both replay with the same timestamps every time (see `Frame.timestamp`): the video's own
frame rate, or the folder's nominal `fps`. The folder is listed once, when the source is
made, and read in file-name order (name frames `000001.png`, ... to keep them in order).

A folder being filled while it is read (a camera tool writing snapshots, a copy in progress)
holds half-written files: an image that is empty, cut short (a PNG without its closing IEND
chunk, a JPEG without its end marker) or not decodable is skipped with a logged reason and
listed in `ImageFolderSource.skipped`, never a crash. `image_file_problem` is that check.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from kiosk.vision.frames import BGRImage, Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"


def image_file_problem(data: bytes, suffix: str) -> str | None:
    """Why `data` (a whole file) is not a complete image of its type, or None if it looks whole.

    Checks only the framing that a cut-short write breaks; decoding catches the rest.
    """
    if not data:
        return "empty file"
    kind = suffix.lower()
    if kind == ".png":
        if not data.startswith(_PNG_SIGNATURE):
            return "not a PNG (bad signature)"
        if not data.endswith(_PNG_END):
            return "PNG cut short (no IEND chunk at the end)"
    elif kind in (".jpg", ".jpeg"):
        if not data.startswith(b"\xff\xd8"):
            return "not a JPEG (no start marker)"
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            return "JPEG cut short (no end marker)"
    elif kind == ".bmp":
        if len(data) < 6 or not data.startswith(b"BM"):
            return "not a BMP"
        if int.from_bytes(data[2:6], "little") > len(data):
            return "BMP cut short (smaller than its header says)"
    return None


class ImageFolderSource:
    """The images in `folder` (by name), one frame each, `fps` frames per nominal second."""

    def __init__(self, folder: Path, *, fps: float = 10.0) -> None:
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder {folder} does not exist")
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.fps = fps
        self._pending = sorted(p for p in folder.iterdir()
                               if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        self._pending.reverse()  # pop() from the end takes them in name order
        self._index = 0
        self.skipped: list[tuple[Path, str]] = []

    def _load(self, path: Path) -> BGRImage | None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            problem: str | None = f"unreadable: {exc.strerror or exc}"
        else:
            problem = image_file_problem(data, path.suffix)
            if problem is None:
                image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if image is not None:
                    return image
                problem = "not a decodable image"
        self.skipped.append((path, problem))
        log.warning("skipped %s: %s", path.name, problem)
        return None

    def read(self) -> Frame | None:
        while self._pending:
            image = self._load(self._pending.pop())
            if image is not None:
                frame = Frame(image, self._index / self.fps, self._index)
                self._index += 1
                return frame
        return None

    def close(self) -> None:
        self._pending.clear()


class VideoFileSource:
    """The frames of a video file OpenCV can read (e.g. MJPG .avi), then None."""

    def __init__(self, path: Path, *, default_fps: float = 30.0) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"video file {path} does not exist")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise ValueError(f"video file {path} cannot be read (unknown format or codec?)")
        self._cap: cv2.VideoCapture | None = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self.fps = fps if fps > 0 else default_fps  # some containers do not say
        self._index = 0

    def read(self) -> Frame | None:
        if self._cap is None:
            return None
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        frame = Frame(image, self._index / self.fps, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

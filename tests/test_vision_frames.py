"""Frame sources: a camera, a recorded video, a folder of snapshots (half-written ones too)."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.vision.camera import CameraConfig, CameraOpenError, CameraSource
from kiosk.vision.files import ImageFolderSource, VideoFileSource, image_file_problem
from kiosk.vision.frames import Frame

W, H = 320, 240


def shade(i: int) -> np.ndarray:
    """A frame whose brightness says which one it is, with a coloured corner (channel order)."""
    image = np.full((H, W, 3), 20 * i + 10, np.uint8)
    image[:40, :40] = (255, 0, 0)  # blue in BGR
    return image


def brightness(frame: Frame) -> float:
    return float(frame.image[60:, 60:].mean())


def read_all(source: Any) -> list[Frame]:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def test_a_recorded_video_plays_back_every_frame_in_order_with_its_timing(
        tmp_path: Path) -> None:
    path = tmp_path / "counter.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (W, H))
    assert writer.isOpened()
    for i in range(12):
        writer.write(shade(i))
    writer.release()

    source = VideoFileSource(path)
    frames = read_all(source)
    assert [f.index for f in frames] == list(range(12))
    assert [f.timestamp for f in frames] == pytest.approx([i / 10 for i in range(12)])
    assert all(f.image.shape == (H, W, 3) and f.image.dtype == np.uint8 for f in frames)
    assert [brightness(f) for f in frames] == pytest.approx([20 * i + 10 for i in range(12)],
                                                            abs=6)
    assert frames[0].image[5, 5].argmax() == 0  # BGR: the blue corner is channel 0 ...
    assert frames[0].rgb()[5, 5].argmax() == 2  # ... and channel 2 in RGB
    assert source.read() is None
    source.close()
    source.close()


def test_a_missing_or_unreadable_video_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.avi"):
        VideoFileSource(tmp_path / "nowhere.avi")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match=r"junk\.avi"):
        VideoFileSource(junk)


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def test_an_image_folder_skips_half_written_files_and_says_why(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for i in range(4):
        (tmp_path / f"{i:03d}.png").write_bytes(png(shade(i)))
    whole = png(shade(9))
    (tmp_path / "001a.png").write_bytes(whole[: len(whole) // 2])  # a copy in progress
    (tmp_path / "001b.png").write_bytes(b"")
    jpeg = cv2.imencode(".jpg", shade(9))[1].tobytes()
    (tmp_path / "002a.jpg").write_bytes(jpeg[:-100])
    (tmp_path / "002b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50 + b"IEND\xaeB`\x82")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "gray.png").write_bytes(png(np.full((H, W), 200, np.uint8)))

    source = ImageFolderSource(tmp_path, fps=5)
    with caplog.at_level(logging.WARNING):
        frames = read_all(source)
    assert [round(brightness(f)) for f in frames] == [10, 30, 50, 70, 200]
    assert [f.timestamp for f in frames] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    assert frames[-1].image.shape == (H, W, 3)  # a grey snapshot still arrives as BGR
    skipped = {path.name: why for path, why in source.skipped}
    assert set(skipped) == {"001a.png", "001b.png", "002a.jpg", "002b.png"}
    assert "cut short" in skipped["001a.png"] and "empty" in skipped["001b.png"]
    assert "cut short" in skipped["002a.jpg"] and "decodable" in skipped["002b.png"]
    assert all(name in caplog.text for name in skipped)


def test_a_missing_image_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent"):
        ImageFolderSource(tmp_path / "absent")


@settings(deadline=None)
@given(st.binary(max_size=300), st.sampled_from([".png", ".jpg", ".JPEG", ".bmp", ".gif"]))
def test_the_completeness_check_never_crashes_on_any_bytes(data: bytes, suffix: str) -> None:
    problem = image_file_problem(data, suffix)
    assert problem is None or (isinstance(problem, str) and problem)


@settings(deadline=None, max_examples=60)
@given(st.sampled_from([".png", ".jpg", ".bmp"]), st.floats(0, 0.999))
def test_every_cut_short_image_is_caught(suffix: str, keep: float) -> None:
    whole = cv2.imencode(suffix, shade(3))[1].tobytes()
    assert image_file_problem(whole, suffix) is None
    assert image_file_problem(whole[: int(keep * len(whole))], suffix) is not None


def test_a_camera_that_does_not_exist_fails_naming_the_device() -> None:
    with pytest.raises(CameraOpenError, match="camera device 97"):
        CameraSource(CameraConfig(device=97))


class FakeCapture:
    """Stands in for cv2.VideoCapture: grants 640x480 at 15 fps, fails after `frames`."""

    def __init__(self, device: int, backend: int, frames: int = 3) -> None:
        self.settings: dict[int, float] = {}
        self.left = frames
        self.released = False

    def isOpened(self) -> bool:  # OpenCV's name
        return True

    def set(self, prop: int, value: float) -> bool:
        self.settings[prop] = value
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FRAME_WIDTH: 640, cv2.CAP_PROP_FRAME_HEIGHT: 480,
                cv2.CAP_PROP_FPS: 15}.get(prop, 0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.left -= 1
        return (True, shade(1)) if self.left >= 0 else (False, None)

    def release(self) -> None:
        self.released = True


def test_a_camera_is_asked_for_the_configured_mode_and_reports_what_it_granted(
        caplog: pytest.LogCaptureFixture) -> None:
    made: list[FakeCapture] = []
    ticks = iter([100.0, 100.033, 100.066])

    def capture(device: int, backend: int) -> FakeCapture:
        made.append(FakeCapture(device, backend))
        return made[-1]

    config = CameraConfig.from_mapping(tomllib.loads(
        "device = 2\nwidth = 1280\nheight = 720\nfps = 30.0\n"))
    with caplog.at_level(logging.WARNING):
        source = CameraSource(config, clock=lambda: next(ticks), capture=capture)
    cap = made[0]
    assert cap.settings[cv2.CAP_PROP_FRAME_WIDTH] == 1280
    assert cap.settings[cv2.CAP_PROP_FPS] == 30.0
    assert source.granted == (640, 480, 15.0)
    assert "640x480" in caplog.text  # a camera that cannot do 720p30 is not silent
    frames = read_all(source)
    assert [f.timestamp for f in frames] == [100.0, 100.033, 100.066]
    assert [f.index for f in frames] == [0, 1, 2]
    source.close()
    assert cap.released


@pytest.mark.parametrize("table", [{"device": -1}, {"fps": 0}, {"fourcc": "MJPEG"},
                                   {"widht": 1280}, {"buffer_frames": 0}])
def test_bad_camera_settings_are_refused_at_start_up(table: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CameraConfig.from_mapping(table)

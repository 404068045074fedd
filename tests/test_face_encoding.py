"""Finding and encoding faces: detection on a downscaled copy must not change who a face is, and
boxes and landmarks must land where the face is in the full frame."""

from __future__ import annotations

import numpy as np
import pytest
from face_id_samples import (
    blank_720p,
    face_crop,
    kiosk_encoder,
    needs_faces,
    place,
    real_faces,
)
from hypothesis import given
from hypothesis import strategies as st

from kiosk.face.encoding import FaceEncoder, scale_box


@given(st.integers(16, 2000), st.integers(16, 2000), st.floats(1.0, 4.0), st.data())
def test_a_box_found_on_the_small_copy_maps_onto_the_same_place_in_the_frame(
        h: int, w: int, scale: float, data: st.DataObject) -> None:
    sh, sw = int(h / scale), int(w / scale)  # the small copy's size
    top, bottom = sorted(data.draw(st.tuples(st.integers(0, sh), st.integers(0, sh))))
    left, right = sorted(data.draw(st.tuples(st.integers(0, sw), st.integers(0, sw))))
    t, r, b, lf = scale_box((top, right, bottom, left), scale, h, w)
    assert 0 <= t <= b <= h and 0 <= lf <= r <= w  # inside the frame, still a box
    for got, small in ((t, top), (r, right), (b, bottom), (lf, left)):
        assert abs(got - small * scale) <= 1.0


def test_a_frame_without_a_face_has_no_faces() -> None:
    enc = FaceEncoder()
    assert enc(blank_720p()) == []
    assert enc.last.detect_ms > 0  # the breakdown is recorded even when nothing is found


def test_frames_that_are_not_rgb_bytes_are_refused() -> None:
    with pytest.raises(ValueError):
        FaceEncoder()(np.zeros((72, 128, 3), dtype=np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FaceEncoder()(np.zeros((72, 128, 4), dtype=np.uint8))


@needs_faces
def test_a_face_in_a_720p_frame_is_found_where_it_is_and_encoded_like_its_photo() -> None:
    faces, enc = real_faces(), kiosk_encoder()
    photo = faces.probes["obama.jpg"]
    crop = face_crop(photo, enc)
    frame = place(blank_720p(), crop, height=520, left=600, top=100)
    width = round(crop.shape[1] * 520 / crop.shape[0])
    found = enc(frame)
    assert len(found) == 1
    top, right, bottom, left = found[0].box
    assert 100 <= top < bottom <= 620 and 600 <= left < right <= 600 + width  # full-frame pixels
    assert found[0].encoding.shape == (128,) and found[0].encoding.dtype == np.float32
    same_photo = enc(photo)[0].encoding
    assert np.linalg.norm(found[0].encoding - same_photo) < 0.2  # the same person, clearly


@needs_faces
def test_downscaled_detection_encodes_the_same_face_as_full_resolution() -> None:
    photo = real_faces().probes["alex_lacamoire.jpg"]
    assert photo.shape[1] > 640  # really downscaled for detection
    small = kiosk_encoder()(photo)
    full = FaceEncoder(detect_width=None)(photo)
    assert len(small) == len(full) == 1
    assert np.linalg.norm(small[0].encoding - full[0].encoding) < 0.1


@needs_faces
def test_several_faces_come_largest_first() -> None:
    faces, enc = real_faces(), kiosk_encoder()
    frame = place(blank_720p(), face_crop(faces.probes["obama.jpg"], enc), 480, 60, 120)
    frame = place(frame, face_crop(faces.probes["kit_harington.jpg"], enc), 300, 800, 300)
    found = enc(frame)
    assert len(found) == 2
    assert found[0].height > found[1].height
    assert found[0].box[3] < 640 <= found[1].box[3]  # obama (left) is the larger one


@needs_faces
def test_landmarks_come_on_request_and_sit_on_the_face() -> None:
    photo = real_faces().probes["obama_partial.jpg"]
    plain = kiosk_encoder()(photo)[0]
    assert plain.landmarks == {}
    marked = FaceEncoder(landmarks=True)(photo)[0]
    assert len(marked.landmarks["left_eye"]) == 6 and len(marked.landmarks["chin"]) == 17
    top, right, bottom, left = marked.box
    xs = [x for x, _ in marked.landmarks["nose_tip"]]
    ys = [y for _, y in marked.landmarks["nose_tip"]]
    assert left <= min(xs) and max(xs) <= right and top <= min(ys) and max(ys) <= bottom
    assert np.array_equal(marked.encoding, plain.encoding)  # landmarks do not change the template


def test_importing_the_face_pipeline_leaves_pillow_strict_about_truncated_images() -> None:
    """face_recognition turns on Pillow's LOAD_TRUNCATED_IMAGES on import; ours turns it off,
    so the content probe still refuses a cut-off creative in the same process."""
    from PIL import ImageFile

    import kiosk.face.encoding  # noqa: F401
    from content.creative_errors import CreativeError
    from content.probe import probe

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 30, 30)).save(out, "JPEG")
    data = out.getvalue()
    try:
        probe(data[: len(data) // 2])
    except CreativeError as exc:
        assert exc.reason == "truncated"
    else:
        raise AssertionError("a truncated JPEG was accepted")

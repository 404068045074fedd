"""Creative validation as a brand would meet it on upload, and the demo's sample creatives."""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from pathlib import Path

import pytest
from content_fixtures import (
    encode,
    jpeg_bytes,
    picture,
    png_bytes,
    png_with_header,
    webp_bytes,
    write_mp4,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ImageFile

from content.probe import CreativeError, Limits, probe, sniff
from content.samples import Brand, generate_samples


def reason(data: bytes | Path, **kwargs: object) -> str:
    with pytest.raises(CreativeError) as info:
        probe(data, **kwargs)  # type: ignore[arg-type]
    assert str(info.value)  # every refusal says something to a person
    return info.value.reason


@pytest.fixture(scope="module")
def mp4_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("video") / "loop.mp4", size=(160, 96), frames=30,
                     fps=10.0)


# -- identification ----------------------------------------------------------------------------


def test_type_comes_from_the_bytes_not_the_file_name(tmp_path: Path, mp4_file: Path) -> None:
    (tmp_path / "poster.jpg").write_bytes(png_bytes())
    (tmp_path / "clip.mp4").write_bytes(jpeg_bytes())
    (tmp_path / "photo.png").write_bytes(mp4_file.read_bytes())
    (tmp_path / "noext").write_bytes(webp_bytes())
    assert probe(tmp_path / "poster.jpg").media_type == "image/png"
    assert probe(tmp_path / "clip.mp4").media_type == "image/jpeg"
    assert probe(tmp_path / "photo.png").media_type == "video/mp4"
    assert probe(str(tmp_path / "noext")).media_type == "image/webp"


def test_a_declared_type_that_disagrees_is_reported() -> None:
    assert reason(png_bytes(), declared_type="image/jpeg") == "type_mismatch"
    assert reason(jpeg_bytes(), declared_type="video/mp4") == "type_mismatch"
    assert probe(png_bytes(), declared_type="IMAGE/PNG; charset=binary").media_type == "image/png"
    assert probe(jpeg_bytes(), declared_type="image/jpg").media_type == "image/jpeg"


def test_image_facts_and_hash() -> None:
    for data, media_type in ((png_bytes((200, 120)), "image/png"),
                             (jpeg_bytes((200, 120)), "image/jpeg"),
                             (webp_bytes((200, 120)), "image/webp")):
        found = probe(data)
        assert (found.media_type, found.width, found.height) == (media_type, 200, 120)
        assert found.size == len(data)
        assert found.sha256 == hashlib.sha256(data).hexdigest()
        assert found.duration_ms is None and found.codec is None
        entry = found.to_entry("x.img")
        assert (entry.width, entry.height, entry.size) == (200, 120, len(data))


def test_bytes_and_path_give_the_same_answer(tmp_path: Path) -> None:
    data = jpeg_bytes()
    (tmp_path / "a").write_bytes(data)
    seen: list[int] = []
    assert probe(tmp_path / "a", progress=seen.append) == probe(data)
    assert seen[-1] == len(data)


def test_a_rotated_photo_reports_the_size_it_is_shown_at() -> None:
    img = picture((200, 100))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    found = probe(encode(img, "JPEG", exif=exif.tobytes()))
    assert (found.width, found.height) == (100, 200)


@pytest.mark.parametrize("make", [png_bytes, jpeg_bytes, webp_bytes])
def test_truncated_images_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    data = make((300, 200))
    for cut in (len(data) // 3, len(data) // 2, len(data) - 10, len(data) - 2):
        assert reason(data[:cut]) == "truncated", cut


def test_a_damaged_png_is_refused() -> None:
    data = bytearray(png_bytes())
    data[len(data) // 2] ^= 0x01
    assert reason(bytes(data)) == "corrupt"


def test_a_file_hidden_after_an_image_is_refused() -> None:
    zip_tail = b"PK\x03\x04" + b"payload" * 20
    assert reason(png_bytes() + zip_tail) == "trailing_data"
    assert reason(webp_bytes() + zip_tail) == "trailing_data"


@pytest.mark.parametrize("data", [
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00;<script>alert(1)</script>",  # GIF/JS polyglot
    b"%PDF-1.4\n1 0 obj<<>>endobj\n",
    b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(40),
    b"<svg xmlns='http://www.w3.org/2000/svg'><script>x()</script></svg>",
    b"  <!doctype html><html><body>hi</body></html>",
    b"just some words a user typed\n",
    b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),  # HEIF image
    b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + bytes(64),  # QuickTime
    b"\x1a\x45\xdf\xa3\x93\x42\x82\x88matroska\x42\x87\x81\x04\x42\x85\x81\x02" + bytes(32),
    b"RIFF\x24\x00\x00\x00AVI LIST" + bytes(40),
    bytes(range(256)) * 4,
])
def test_garbage_and_foreign_formats_are_unknown_type(data: bytes) -> None:
    assert reason(data) == "unknown_type"


def test_empty_and_too_large() -> None:
    assert reason(b"") == "empty"
    assert reason(png_bytes(), limits=Limits(max_bytes=100)) == "too_large"


def test_pixel_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = png_with_header(9000, 9000)  # ~10 kB that would decode to 81 megapixels
    assert len(bomb) < 50_000

    def no_decoding(self: object) -> None:
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert reason(bomb) == "too_many_pixels"
    # Far past Pillow's own guard too: refused as soon as the header is read.
    assert reason(png_with_header(40000, 40000, idat=b"x")) == "too_many_pixels"


def test_pixel_size_limits() -> None:
    assert reason(png_bytes((20, 20))) == "dimensions"
    assert reason(png_bytes((300, 100)), limits=Limits(max_width=256)) == "dimensions"
    assert reason(png_bytes((300, 100)), limits=Limits(max_pixels=20_000)) == "too_many_pixels"
    assert probe(png_bytes((20, 20)), limits=Limits(min_width=16, min_height=16)).width == 20


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        Limits(min_width=0)
    with pytest.raises(ValueError):
        Limits(max_width=20000)
    assert "AVC1" in Limits(video_codecs=frozenset({"avc1"})).video_codecs


def test_errors_survive_pickling() -> None:
    err = pickle.loads(pickle.dumps(CreativeError("codec", "no")))
    assert (err.reason, str(err)) == ("codec", "no")


# -- video -------------------------------------------------------------------------------------


def test_video_facts_from_a_generated_mp4(mp4_file: Path) -> None:
    found = probe(mp4_file)
    assert found.media_type == "video/mp4"
    assert (found.width, found.height) == (160, 96)
    assert found.duration_ms == 3000
    assert found.frames == 30 and found.fps == pytest.approx(10.0)
    assert found.codec is not None and found.codec.upper() in {"FMP4", "MP4V"}
    assert found.to_entry("loop.mp4").duration_ms == 3000
    assert probe(mp4_file.read_bytes()) == found  # bytes go through a temporary file


def test_video_limits(mp4_file: Path) -> None:
    assert reason(mp4_file, limits=Limits(max_video_ms=2000)) == "too_long"
    assert reason(mp4_file, limits=Limits(video_codecs=frozenset({"avc1"}))) == "codec"
    assert reason(mp4_file, limits=Limits(min_width=200)) == "dimensions"


def test_a_codec_outside_the_allowed_set_is_refused(tmp_path: Path) -> None:
    try:
        path = write_mp4(tmp_path / "mjpeg.mp4", fourcc="MJPG")
    except RuntimeError:
        pytest.skip("this OpenCV cannot write MJPEG into MP4")
    with pytest.raises(CreativeError) as info:
        probe(path)
    assert info.value.reason == "codec"
    assert "MJPG" in str(info.value)


def test_broken_videos_are_refused(mp4_file: Path) -> None:
    data = mp4_file.read_bytes()
    assert reason(data[: len(data) // 2]) == "truncated"
    assert reason(data[:-3]) == "truncated"
    ftyp_only = data[: int.from_bytes(data[:4], "big")]
    assert reason(ftyp_only) == "bad_video"  # no 'moov': nothing to play
    # A structurally complete file whose media is noise cannot be opened or decoded.
    size = int.from_bytes(data[:4], "big")
    junk_moov = data[:size] + (8 + 64).to_bytes(4, "big") + b"moov" + bytes(range(64))
    assert reason(junk_moov) == "bad_video"


def test_webm_is_identified(tmp_path: Path) -> None:
    try:
        path = write_mp4(tmp_path / "clip.webm", fourcc="VP80", frames=10)
    except RuntimeError:
        pytest.skip("this OpenCV cannot write WebM")
    found = probe(path)
    assert found.media_type == "video/webm"
    assert found.codec == "VP80"
    assert reason(path.read_bytes()[:-40]) == "truncated"
    assert reason(path, declared_type="video/mp4") == "type_mismatch"


# -- robustness --------------------------------------------------------------------------------

_MAGICS = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x01\x00\x00WEBP",
           b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41", b"\x1a\x45\xdf\xa3",
           b"\x1a\x45\xdf\xa3\x93\x42\x82\x84webm\x42\x87\x81\x04\x42\x85\x81\x02"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_MAGICS), st.binary(max_size=600))
def test_random_bytes_only_ever_raise_creative_error(magic: bytes, tail: bytes) -> None:
    with contextlib.suppress(CreativeError):
        probe(magic + tail)


@pytest.fixture(scope="module")
def valid_files(mp4_file: Path) -> list[bytes]:
    return [png_bytes((96, 80)), jpeg_bytes((96, 80)), webp_bytes((96, 80)),
            mp4_file.read_bytes()]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_real_files_only_ever_raise_creative_error(valid_files: list[bytes],
                                                           data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(valid_files))
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    try:
        found = probe(bytes(damaged[:cut]))
    except CreativeError:
        return
    assert found.size == cut


def test_sniff_on_headers_alone() -> None:
    assert sniff(png_bytes()[:16]) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0") == "image/jpeg"
    with pytest.raises(CreativeError):
        sniff(b"GIF89a")


# -- sample creatives --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate_samples(tmp_path_factory.mktemp("samples"),
                            [Brand("Nordic Roast", "Coffee worth the queue"), "Solo Shop"],
                            seed=7)


def test_samples_are_posters_in_both_orientations_and_a_short_video(samples: list[Path]) -> None:
    names = sorted(p.name for p in samples)
    assert names == ["nordic-roast-landscape.jpg", "nordic-roast-loop.mp4",
                     "nordic-roast-portrait.png", "solo-shop-landscape.jpg",
                     "solo-shop-portrait.png"]
    found = {p.name: probe(p) for p in samples}
    assert (found["nordic-roast-portrait.png"].width,
            found["nordic-roast-portrait.png"].height) == (1080, 1920)
    assert found["solo-shop-landscape.jpg"].media_type == "image/jpeg"
    assert (found["solo-shop-landscape.jpg"].width,
            found["solo-shop-landscape.jpg"].height) == (1920, 1080)
    video = found["nordic-roast-loop.mp4"]
    assert video.media_type == "video/mp4" and video.duration_ms == 3000
    assert not list(samples[0].parent.glob(".*"))  # no temporary files left behind


def test_samples_are_deterministic_per_seed(samples: list[Path], tmp_path: Path) -> None:
    again = generate_samples(tmp_path / "again",
                             [Brand("Nordic Roast", "Coffee worth the queue"), "Solo Shop"],
                             seed=7)
    assert [p.name for p in again] == [p.name for p in samples]
    for a, b in zip(samples, again, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    other = generate_samples(tmp_path / "other", ["Solo Shop"], seed=8, video=False)
    assert [p.name for p in other] == ["solo-shop-portrait.png", "solo-shop-landscape.jpg"]
    first = next(p for p in samples if p.name == "solo-shop-portrait.png")
    assert other[0].read_bytes() != first.read_bytes()  # another seed, another poster

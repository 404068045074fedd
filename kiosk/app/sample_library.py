"""A verified content library with a playlist of the sample creatives, built on this machine
(`content.samples`: drawn locally, nothing downloaded) and signed with a key made here.

For the app's tests, `bench/kiosk.py` and `kiosk app --sample-content` (a terminal without a
controller): the files go in through the library's own verified path and the manifest is
activated only because its signature verifies under the key the library trusts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from content.manifest import FileEntry, Manifest
from content.playlist import HOUR_MS, Playlist, PlaylistHour, PlaylistItem
from content.probe import probe
from content.samples import generate_samples
from content.signing import load_or_create_private_key, sign_manifest
from kiosk.app.services import Resolver
from kiosk.player import ContentLibrary


@dataclass(frozen=True)
class SampleContent:
    library: ContentLibrary
    playlist: Playlist
    entries: tuple[FileEntry, ...]


def build_sample_library(root: Path, now_ms: int, *, orientation: str = "landscape",
                         item_ms: int = 8_000, hours: int = 2, video: bool = True,
                         seed: int = 0, samples_dir: Path | None = None) -> SampleContent:
    """Posters of the profile's orientation and the sample video, alternating, `item_ms`
    each, from the start of the current UTC hour for `hours` hours."""
    samples = samples_dir or root / "samples"
    paths = sorted(samples.glob("*")) if samples.is_dir() and any(samples.iterdir()) else (
        generate_samples(samples, seed=seed, video=True))
    wanted = ".png" if orientation == "portrait" else ".jpg"
    chosen = [p for p in paths if p.suffix == wanted] + (
        [p for p in paths if p.suffix == ".mp4"] if video else [])
    key = load_or_create_private_key(root / "sample-signing-key.pem")  # kept across restarts
    library = ContentLibrary(root / "library", 512 * 1024 * 1024,
                             trusted_keys=key.public_key())
    entries = []
    for path in chosen:
        probed = probe(path)
        if not library.has(probed.sha256, probed.size):
            writer = library.open_partial(probed.sha256, 0)
            writer.write(path.read_bytes())
            writer.close()
            library.commit_partial(probed.sha256, probed.sha256)
        entries.append(probed.to_entry(path.name))
    order = _interleave(entries)
    items, at = [], 0
    for entry in itertools.cycle(order):
        if at + item_ms > HOUR_MS:
            break
        campaign = entry.name.rsplit("-", 1)[0]
        items.append(PlaylistItem(offset_ms=at, duration_ms=item_ms, creative=entry.sha256,
                                  campaign_id=campaign))
        at += item_ms
    start = now_ms - now_ms % HOUR_MS
    playlist = Playlist(hours=[PlaylistHour(start_ms=start + i * HOUR_MS, items=items)
                               for i in range(hours)])
    manifest = Manifest(package_id=f"samples-{orientation}", created_ms=now_ms,
                        files=entries, playlist=playlist)
    library.activate(sign_manifest(manifest, key))
    return SampleContent(library, playlist, tuple(entries))


def _interleave(entries: list[FileEntry]) -> list[FileEntry]:
    """Images with the video(s) spread between them (image, video, image, image, ...)."""
    videos = [e for e in entries if e.media_type.startswith("video/")]
    images = [e for e in entries if not e.media_type.startswith("video/")]
    out: list[FileEntry] = []
    for i, image in enumerate(images):
        out.append(image)
        if videos and i % 2 == 0:
            out.append(videos[(i // 2) % len(videos)])
    return out or videos


def library_resolver(library: ContentLibrary) -> Resolver:
    """creative sha256 -> (its file, its media type), from the manifest now playing."""
    cache: dict[str, tuple[str, dict[str, str]]] = {}

    def resolve(sha256: str) -> tuple[Path, str] | None:
        current = library.current()
        if current is None:
            return None
        types = cache.get("types")
        if types is None or types[0] != current.sha256:
            types = (current.sha256, {f.sha256: f.media_type for f in current.manifest.files})
            cache["types"] = types
        media_type = types[1].get(sha256)
        if media_type is None or not library.has(sha256):
            return None
        return library.path(sha256), media_type

    return resolve

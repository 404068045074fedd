"""Content packages shared by controller and terminal.

- `content.manifest`: the signed manifest (per file: sha256, size, media type, pixel size,
  duration) and the playlist it carries.
- `content.playlist`: the playlist format a terminal plays (hour loops on the wall clock).
- `content.signing`: Ed25519 keys, signing and verifying manifests.
- `content.hashing`, `content.probe`: streaming sha256; creative validation from the bytes.
- `content.package`: build, sign and verify a package directory; `content.samples`: demo
  creatives drawn with Pillow/OpenCV; `content.cli`: the `kiosk-content` command.
"""

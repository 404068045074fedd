"""Content packages shared by controller and terminal.

- `content.manifest`: the signed manifest (per file: sha256, size, media type, pixel size,
  duration) and the playlist it carries.
- `content.playlist`: the playlist format a terminal plays (hour loops on the wall clock).
"""

"""Which font draws a text (pure apart from looking for font files).

Kivy's bundled Roboto has no Chinese glyphs (they come out as empty boxes), so text with CJK
characters is drawn with a CJK font found on the system (Debian: `fonts-wqy-microhei` or
`fonts-noto-cjk`); `KIOSK_CJK_FONT` names one explicitly. Latin-only text keeps Roboto.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path

DEFAULT_FONT = "Roboto"
CJK_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def has_cjk(text: str) -> bool:
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"
               or "\uff00" <= ch <= "\uffef" for ch in text)


def find_cjk_font(candidates: Iterable[str] = CJK_CANDIDATES,
                  env_value: str | None = None) -> str | None:
    for path in (env_value, *candidates):
        if path and Path(path).is_file():
            return path
    return None


@cache
def cjk_font() -> str | None:
    return find_cjk_font(env_value=os.environ.get("KIOSK_CJK_FONT"))


def font_for(text: str) -> str:
    if has_cjk(text):
        return cjk_font() or DEFAULT_FONT
    return DEFAULT_FONT

"""What is on screen, read from a widget tree (duck-typed: any object with `children`,
`to_window`, `size`; no Kivy import), and what is wrong with its layout.

`visible(root)` lists the widgets marked with `kiosk_role` that a shopper can see (opacity
above zero, inside no hidden parent). `layout_problems` reports, in words a tester can read:
a widget outside the window, text bigger than its box (clipped), and two controls or texts
drawn over each other. Full-window media ("media") is the backdrop and may be under anything.
The technician self-test runs the same check on the live screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kiosk.app.profiles import Rect

BACKDROP = ("media",)


@dataclass(frozen=True)
class Seen:
    widget: Any
    role: str
    rect: Rect
    text: str
    clipped_inside: bool  # inside a scrolling or clipping container


def window_rect(widget: Any) -> Rect:
    x, y = widget.to_window(widget.x, widget.y)
    return Rect(float(x), float(y), float(widget.width), float(widget.height))


def _walk(widget: Any, clipped: bool) -> Iterator[tuple[Any, bool]]:
    if getattr(widget, "opacity", 1) <= 0:
        return
    yield widget, clipped
    inner = clipped or getattr(widget, "kiosk_clips", False) or type(widget).__name__ in (
        "ScrollView", "StencilView")
    for child in reversed(list(getattr(widget, "children", []))):
        yield from _walk(child, inner)


def visible(root: Any) -> list[Seen]:
    out = []
    for widget, clipped in _walk(root, False):
        role = getattr(widget, "kiosk_role", None)
        if role is None or widget.width <= 0 or widget.height <= 0:
            continue
        out.append(Seen(widget, role, window_rect(widget), str(getattr(widget, "text", "")),
                        clipped))
    return out


def texts(root: Any) -> list[str]:
    return [s.text for s in visible(root) if s.text]


def layout_problems(root: Any, window_size: tuple[float, float]) -> list[str]:
    window = Rect(0, 0, float(window_size[0]), float(window_size[1]))
    seen = visible(root)
    problems: list[str] = []
    for s in seen:
        label = f"{s.role} {s.text[:40]!r}" if s.text else s.role
        if not s.clipped_inside and not window.contains(s.rect):
            problems.append(f"{label} is outside the window: {s.rect}")
        tw, th = getattr(s.widget, "texture_size", (0, 0))
        if s.text and (tw > s.rect.w + 1 or th > s.rect.h + 1):
            problems.append(f"{label} is clipped: text {tw}x{th} in a {s.rect.w:.0f}x"
                            f"{s.rect.h:.0f} box")
    front = [s for s in seen if s.role not in BACKDROP and not s.clipped_inside]
    for i, a in enumerate(front):
        for b in front[i + 1:]:
            if _related(a.widget, b.widget):
                continue
            if a.rect.overlaps(b.rect):
                problems.append(f"{a.role} {a.text[:30]!r} overlaps {b.role} {b.text[:30]!r}")
    return problems


def _related(a: Any, b: Any) -> bool:
    """One inside the other (a label inside a button is part of it, not over it)."""
    for x, y in ((a, b), (b, a)):
        p = getattr(y, "parent", None)
        for _ in range(64):  # a window is its own parent
            if p is None:
                break
            if p is x:
                return True
            p = getattr(p, "parent", None)
    return False

"""Find a font that can draw Chinese names; fall back clearly when there is none."""

from __future__ import annotations

import warnings
from functools import cache

from matplotlib import font_manager, rcParams

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)


@cache
def find_cjk_font() -> str | None:
    """The first installed font family able to draw CJK text, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in installed), None)


@cache
def use_cjk_font() -> str | None:
    """Put a CJK-capable font first in matplotlib's sans-serif list; warn once if there is none."""
    name = find_cjk_font()
    if name is None:
        warnings.warn("no CJK font found (install fonts-noto-cjk): Chinese names will show as boxes", stacklevel=2)
        return None
    rcParams["font.sans-serif"] = [name, *rcParams["font.sans-serif"]]
    rcParams["font.family"] = "sans-serif"
    rcParams["axes.unicode_minus"] = False
    return name

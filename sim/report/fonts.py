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


CJK_FILE_HINTS = ("cjk", "wqy", "droidsansfallback", "sourcehansans", "simhei", "msyh", "pingfang", "uming")


@cache
def find_cjk_font() -> str | None:
    """The first installed font family able to draw CJK text, or None.

    matplotlib caches the fonts it saw on first use; a font installed since is found among the system's font files
    and added, so installing fonts-noto-cjk helps at once."""
    name = _known_family()
    if name is None:
        for path in font_manager.findSystemFonts():
            if any(hint in path.lower().replace("-", "").replace("_", "") for hint in CJK_FILE_HINTS):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable font file is skipped
                    continue
        name = _known_family()
    return name


def _known_family() -> str | None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in installed), None)


@cache
def use_cjk_font() -> str | None:
    """Put a CJK-capable font first in matplotlib's sans-serif list; if there is none, say so in one warning and
    silence matplotlib's one-per-glyph warnings."""
    name = find_cjk_font()
    if name is None:
        warnings.warn("no CJK font found (install fonts-noto-cjk): Chinese names will show as boxes", stacklevel=2)
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        return None
    rcParams["font.sans-serif"] = [name, *rcParams["font.sans-serif"]]
    rcParams["font.family"] = "sans-serif"
    rcParams["axes.unicode_minus"] = False
    return name

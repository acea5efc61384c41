"""A 64x64 RGB picture of the dishwashing state, drawn in pure numpy.

The prototype's video frames were one constant image (its renderer never saw
the state), so its "video" policy learned from nothing. Here every
decision-relevant quantity of ``render_state()`` has its own place on the
frame, and ``tests/test_render.py`` checks that a linear probe reads the dish
type and the backlog back from single held-out frames.

Layout (rows y, columns x; 2-pixel margin kept free for the error flash)::

    y  2- 5  clock: shift progress, left to right           (yellow)
    y  7- 9  arrival intensity: arrival_rate / peak          (purple)
    x  2-15  backlog (y 14-61): stacked dishes from the bottom (blue); the height is
             ceil(48 * backlog / cap), so any backlog shows and quarters of the
             cap fall on exact 12-pixel steps
    x 19-46  rack (y 12-39): the dish on the rack, one shape AND colour per type
             good items this step (y 42-45): one green square each, up to 7
             error budget (y 48-52): error rate / SLA; the white tick is the
             SLA, green under it, red over it
    x 50-54  last speed, bar from the bottom                 (orange)
    x 57-61  last care, bar from the bottom                  (cyan)
    border   red when errors_this_step > 0

Everything static (background, tracks, glyphs, textures) is precomputed once,
so a frame is a copy of the background plus a dozen slice assignments
(``benchmarks/renderer.py`` measures the rate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

H = W = 64
STATE_KEYS = (
    "minute", "shift_minutes", "backlog", "backlog_cap", "dish_type", "n_types",
    "arrival_rate", "peak_arrival_rate", "good_this_step", "errors_this_step",
    "errors_so_far", "attempts_so_far", "sla", "last_action",
)

# Regions as (y0, y1, x0, x1), half-open.
CLOCK = (2, 6, 2, 62)
ARRIVAL = (7, 10, 2, 62)
BACKLOG = (14, 62, 2, 16)
RACK = (12, 40, 19, 47)
GOOD = (42, 46, 19, 47)
BUDGET = (48, 53, 19, 47)
SPEED = (12, 62, 50, 55)
CARE = (12, 62, 57, 62)

BACKGROUND = (24, 26, 32)
TRACK = (52, 54, 62)
RACK_BG = (40, 44, 56)
CLOCK_RGB = (235, 200, 60)
ARRIVAL_RGB = (170, 90, 255)
BACKLOG_RGB = (90, 160, 255)
GOOD_RGB = (60, 210, 90)
UNDER_RGB = (60, 200, 90)
OVER_RGB = (240, 50, 50)
SPEED_RGB = (255, 140, 20)
CARE_RGB = (0, 200, 200)
FLASH_RGB = (255, 30, 30)
MAX_GOOD_SQUARES = 7

# One colour per dish type; the shape differs too (see _glyph_masks).
DISH_RGB = (
    (240, 240, 240),  # 0 plate: disc
    (245, 205, 40),   # 1 bowl: lower half disc
    (80, 220, 255),   # 2 glass: tall narrow rectangle
    (225, 60, 60),    # 3 mug: square body with a handle
    (180, 115, 60),   # 4 pot: wide body with two handles
    (210, 80, 230),   # 5 cutlery: an X
)
N_GLYPHS = len(DISH_RGB)


def _glyph_masks(size: int) -> list[np.ndarray]:
    """Boolean masks, one distinct silhouette per dish type."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2.0
    r2 = (yy - c) ** 2 + (xx - c) ** 2
    plate = r2 <= (0.45 * size) ** 2
    bowl = (r2 <= (0.45 * size) ** 2) & (yy >= c)
    glass = (np.abs(xx - c) <= 0.16 * size) & (np.abs(yy - c) <= 0.42 * size)
    mug = (xx >= 0.15 * size) & (xx <= 0.62 * size) & (np.abs(yy - c) <= 0.3 * size)
    ring = ((yy - c) ** 2 + (xx - 0.64 * size) ** 2)
    mug |= (ring <= (0.2 * size) ** 2) & (ring >= (0.1 * size) ** 2) & (xx > 0.62 * size)
    pot = (np.abs(xx - c) <= 0.36 * size) & (yy >= 0.35 * size) & (yy <= 0.8 * size)
    pot |= (np.abs(np.abs(xx - c) - 0.42 * size) <= 0.06 * size) & (np.abs(yy - 0.45 * size)
                                                                     <= 0.05 * size)
    cutlery = (np.abs(yy - xx) <= 0.09 * size) | (np.abs(yy + xx - (size - 1)) <= 0.09 * size)
    cutlery &= (np.abs(yy - c) <= 0.45 * size) & (np.abs(xx - c) <= 0.45 * size)
    return [plate, bowl, glass, mug, pot, cutlery]


def _build_static() -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    bg = np.empty((H, W, 3), np.uint8)
    bg[:] = BACKGROUND
    for y0, y1, x0, x1 in (CLOCK, ARRIVAL, BACKLOG, GOOD, BUDGET, SPEED, CARE):
        bg[y0:y1, x0:x1] = TRACK
    y0, y1, x0, x1 = RACK
    bg[y0:y1, x0:x1] = RACK_BG
    # Rack patches (glyph drawn on the rack background), one per type.
    size = y1 - y0 - 4
    patches = []
    for mask, rgb in zip(_glyph_masks(size), DISH_RGB, strict=True):
        patch = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
        patch[:] = RACK_BG
        patch[2:2 + size, 2:2 + size][mask] = rgb
        patches.append(patch)
    # Backlog texture: dishes 3 px thick with a 1 px darker gap, bottom-aligned.
    y0, y1, x0, x1 = BACKLOG
    stack = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    stack[:] = BACKLOG_RGB
    rows_from_bottom = np.arange(y1 - y0)[::-1]
    stack[rows_from_bottom % 4 == 3] = (45, 85, 150)
    # Good-items tally: 3 px squares with 1 px gaps.
    y0, y1, x0, x1 = GOOD
    tally = np.empty((y1 - y0, 4 * MAX_GOOD_SQUARES, 3), np.uint8)
    tally[:] = TRACK
    for k in range(MAX_GOOD_SQUARES):
        tally[:, 4 * k:4 * k + 3] = GOOD_RGB
    return bg, patches, stack, tally


_BG, _RACK_PATCHES, _STACK, _TALLY = _build_static()
_BACKLOG_H = BACKLOG[1] - BACKLOG[0]
_BAR_H = SPEED[1] - SPEED[0]
_CLOCK_W = CLOCK[3] - CLOCK[2]
_BUDGET_W = BUDGET[3] - BUDGET[2]


def _frac(num: float, den: float) -> float:
    if den <= 0:
        return 0.0
    f = num / den
    return 0.0 if f < 0 else (1.0 if f > 1 else f)


def render_frame(state: Mapping, out: np.ndarray | None = None) -> np.ndarray:
    """Draw one (64, 64, 3) uint8 frame of ``state`` (an env's ``render_state()``).

    ``out`` may be a preallocated (64, 64, 3) uint8 array (or a view) to draw into,
    which saves a copy when frames go straight into a frame stack.
    """
    dish = int(state["dish_type"])
    if not 0 <= dish < N_GLYPHS or int(state["n_types"]) > N_GLYPHS:
        raise ValueError(f"render_frame draws {N_GLYPHS} dish types; got dish_type={dish} "
                         f"with n_types={state['n_types']}")
    f = _BG.copy() if out is None else out
    if out is not None:
        f[...] = _BG

    y0, y1, x0, x1 = CLOCK
    f[y0:y1, x0:x0 + int(_frac(state["minute"], state["shift_minutes"]) * _CLOCK_W + 0.5)] = \
        CLOCK_RGB
    y0, y1, x0, x1 = ARRIVAL
    n = int(_frac(state["arrival_rate"], state["peak_arrival_rate"]) * _CLOCK_W + 0.5)
    f[y0:y1, x0:x0 + n] = ARRIVAL_RGB

    y0, y1, x0, x1 = BACKLOG
    h = math.ceil(_frac(state["backlog"], state["backlog_cap"]) * _BACKLOG_H - 1e-9)
    if h:
        f[y1 - h:y1, x0:x1] = _STACK[_BACKLOG_H - h:]

    y0, y1, x0, x1 = RACK
    f[y0:y1, x0:x1] = _RACK_PATCHES[dish]

    good = min(int(state["good_this_step"] + 0.5), MAX_GOOD_SQUARES)
    if good > 0:
        y0, y1, x0, x1 = GOOD
        f[y0:y1, x0:x0 + 4 * good] = _TALLY[:, :4 * good]

    # Error budget: the observed error rate relative to the SLA, 0..2x SLA.
    attempts, errors, sla = state["attempts_so_far"], state["errors_so_far"], state["sla"]
    if attempts > 0 and errors > 0:
        ratio = errors / (sla * attempts) if sla > 0 else 2.0
        y0, y1, x0, x1 = BUDGET
        n = int(min(ratio / 2.0, 1.0) * _BUDGET_W + 0.5)
        f[y0:y1, x0:x0 + n] = UNDER_RGB if ratio <= 1.0 else OVER_RGB
    y0, y1, x0, x1 = BUDGET
    f[y0 - 1:y1 + 1, x0 + _BUDGET_W // 2] = 255

    speed, care = state["last_action"]
    y0, y1, x0, x1 = SPEED
    f[y1 - int(_frac(speed, 1.0) * _BAR_H + 0.5):y1, x0:x1] = SPEED_RGB
    y0, y1, x0, x1 = CARE
    f[y1 - int(_frac(care, 1.0) * _BAR_H + 0.5):y1, x0:x1] = CARE_RGB

    if state["errors_this_step"] > 0:
        f[:2] = FLASH_RGB
        f[-2:] = FLASH_RGB
        f[:, :2] = FLASH_RGB
        f[:, -2:] = FLASH_RGB
    return f

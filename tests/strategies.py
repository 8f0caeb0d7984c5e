"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@st.composite
def binary_masks(draw, min_side: int = 1, max_side: int = 24, nonempty: bool = True) -> np.ndarray:
    """A random ``(H, W)`` uint8 mask of 0/1; with ``nonempty``, at least one pixel set."""
    height = draw(st.integers(min_side, max_side))
    width = draw(st.integers(min_side, max_side))
    mask = draw(arrays(np.uint8, (height, width), elements=st.integers(0, 1)))
    if nonempty and not mask.any():
        mask[draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))] = 1
    return mask


@st.composite
def mask_pairs(draw, max_side: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Two masks of the same random shape (either may be empty)."""
    first = draw(binary_masks(max_side=max_side, nonempty=False))
    second = draw(arrays(np.uint8, first.shape, elements=st.integers(0, 1)))
    return first, second


@st.composite
def boxes(draw, max_coord: float = 100.0) -> list[float]:
    """A valid XYXY box with positive width and height."""
    x1 = draw(st.floats(0, max_coord, allow_nan=False))
    y1 = draw(st.floats(0, max_coord, allow_nan=False))
    w = draw(st.floats(0.5, max_coord, allow_nan=False))
    h = draw(st.floats(0.5, max_coord, allow_nan=False))
    return [x1, y1, x1 + w, y1 + h]

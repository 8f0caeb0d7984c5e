"""Figures for evaluation reports (matplotlib, drawn on Agg canvases: no display needed).

Figures are made with ``matplotlib.figure.Figure`` and an explicit Agg canvas, never
through ``pyplot``'s global state, so importing this module leaves the matplotlib backend
of the user's process (a notebook's, say) as it was.

Each function writes one PNG and returns its path. They mirror the figures of the
reference report: per-image Jaccard box plot, ROC curves, confusion matrix, overlays of
predictions, and training curves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from ._numbers import check_number
from .metrics import roc_auc, roc_curve

__all__ = [
    "OVERLAY_SIDE",
    "Overlay",
    "fit_overlay",
    "draw_overlay",
    "plot_jaccard_boxplot",
    "plot_roc_curves",
    "plot_confusion_matrix",
    "plot_overlays",
    "plot_loss_curves",
]


def _figure(**kwargs) -> Figure:
    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def plot_jaccard_boxplot(jaccard: Sequence[float], path: str | Path, *, threshold: float = 0.65) -> Path:
    """Box plot of per-image Jaccard indices, with the 0.65 threshold line (``threshold`` in [0, 1])."""
    check_number(threshold, "threshold", low=0, high=1)
    fig = _figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.boxplot([np.asarray(jaccard, float)], showmeans=True)
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold}")
    ax.set_xticks([1], [f"{len(jaccard)} images"])
    ax.set_ylabel("Jaccard index")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Per-image Jaccard (mean {np.mean(jaccard):.3f})")
    ax.legend(loc="lower left")
    return _save(fig, path)


def plot_roc_curves(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]], path: str | Path, *, band: bool = False
) -> Path:
    """ROC curves, one per category: ``{name: (y_true, scores)}``. Categories whose
    ground truth holds one class only are listed as undefined. With ``band``, each curve
    has its pointwise 95% bootstrap band (:func:`~isicseg.metrics.intervals.roc_band`) and
    its AUC's 95% interval in the legend."""
    from .metrics.intervals import bootstrap_interval, roc_band

    fig = _figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        if np.isnan(fpr).any() or np.isnan(tpr).any():
            ax.plot([], [], label=f"{name}: undefined (one class only)")
            continue
        if band:
            grid, low, high = roc_band(y, s)
            interval = bootstrap_interval(roc_auc, y, s)
            (line,) = ax.plot(
                fpr,
                tpr,
                drawstyle="steps-post",
                label=f"{name} (AUC {interval.estimate:.3f}, 95% {interval.low:.3f}-{interval.high:.3f})",
            )
            ax.fill_between(grid, low, high, step="post", color=line.get_color(), alpha=0.2, linewidth=0)
        else:
            ax.plot(fpr, tpr, drawstyle="steps-post", label=f"{name} (AUC {roc_auc(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("ROC")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_confusion_matrix(
    true: Sequence[int], predicted: Sequence[int], *, class_names: Sequence[str], path: str | Path
) -> Path:
    """Confusion matrix of true (rows) against predicted (columns) class labels; label 0
    is shown as ``none`` (no detection)."""
    names = ["none", *class_names[1:]]
    matrix = np.zeros((len(names), len(names)), dtype=int)
    for t, p in zip(true, predicted):
        matrix[t, p] += 1
    fig = _figure(figsize=(1.2 * len(names) + 1.5, 1.2 * len(names) + 1))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for (r, c), value in np.ndenumerate(matrix):
        ax.text(c, r, str(value), ha="center", va="center", color="black" if value < matrix.max() / 2 else "white")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    return _save(fig, path)


@dataclass
class Overlay:
    """What one overlay panel shows: image (H, W, 3 uint8), masks (H, W bool), boxes."""

    image: np.ndarray
    title: str
    true_mask: np.ndarray | None = None
    true_box: Sequence[float] | None = None
    pred_mask: np.ndarray | None = None
    pred_box: Sequence[float] | None = None
    caption: str = ""


OVERLAY_SIDE = 512
"""Longest side, in pixels, at which an overlay panel is drawn (a panel is ~300 px wide in
the figure, so a full-resolution dermoscopy image would only cost time)."""


def fit_overlay(panel: Overlay, max_side: int = OVERLAY_SIDE) -> Overlay:
    """The panel at the size it is drawn: the image scaled down to at most ``max_side``
    (bilinear), masks resized to the image (nearest) and boxes with them.

    Masks and boxes share one frame, the masks' (so a mask at the original resolution may
    come with an image decoded at a reduced size); without a mask, boxes are in the image's frame.

    Example:
        >>> panel = Overlay(np.zeros((2000, 3000, 3), np.uint8), "x", pred_mask=np.ones((2000, 3000), bool),
        ...     pred_box=(0, 0, 3000, 1000))
        >>> small = fit_overlay(panel)
        >>> small.image.shape, small.pred_mask.shape, small.pred_box
        ((341, 512, 3), (341, 512), (0.0, 0.0, 512.0, 170.5))
    """
    image = panel.image
    height, width = image.shape[:2]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    height, width = image.shape[:2]
    masks = [m for m in (panel.true_mask, panel.pred_mask) if m is not None]
    frame = masks[0].shape[:2] if masks else panel.image.shape[:2]
    sx, sy = width / frame[1], height / frame[0]

    def mask(m: np.ndarray | None) -> np.ndarray | None:
        if m is None or m.shape[:2] == (height, width):
            return m
        return np.asarray(Image.fromarray(m.astype(np.uint8)).resize((width, height), Image.Resampling.NEAREST)) > 0

    def box(b: Sequence[float] | None) -> tuple[float, ...] | None:
        return None if b is None else (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)

    return dataclasses.replace(
        panel,
        image=image,
        true_mask=mask(panel.true_mask),
        pred_mask=mask(panel.pred_mask),
        true_box=box(panel.true_box),
        pred_box=box(panel.pred_box),
    )


_COLOURS = {"true": (0, 255, 0), "pred": (255, 0, 255)}


def draw_overlay(panel: Overlay, path: str | Path, *, max_side: int = OVERLAY_SIDE) -> Path:
    """One panel as a PNG drawn with Pillow (no matplotlib figure): the image at
    ``max_side`` pixels at most, mask outlines and boxes (true green, predicted magenta)
    and the title and caption on top. What ``isicseg predict`` writes per image (cheaper
    than a one-panel :func:`plot_overlays`; see ``benchmarks/bench_speed.py``).

    Example:
        >>> mask = np.zeros((60, 80), bool); mask[10:40, 20:60] = True
        >>> panel = Overlay(np.full((60, 80, 3), 128, np.uint8), "x", pred_mask=mask, pred_box=(20, 10, 60, 40))
        >>> out = draw_overlay(panel, getfixture("tmp_path") / "o.png")
        >>> from PIL import Image; Image.open(out).size
        (80, 60)
    """
    from PIL import ImageDraw
    from scipy import ndimage

    panel = fit_overlay(panel, max_side)
    image = panel.image.copy()
    for kind, mask in (("true", panel.true_mask), ("pred", panel.pred_mask)):
        if mask is not None and mask.any():
            image[mask & ~ndimage.binary_erosion(mask, iterations=max(1, max(image.shape[:2]) // 256))] = _COLOURS[kind]
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for kind, box in (("true", panel.true_box), ("pred", panel.pred_box)):
        if box is not None:
            draw.rectangle([float(v) for v in box], outline=_COLOURS[kind], width=2)
    text = f"{panel.title}  {panel.caption}".strip()
    draw.rectangle([0, 0, canvas.width, 14], fill=(0, 0, 0))
    draw.text((3, 1), text, fill=(255, 255, 255))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, compress_level=1)
    return path


def _draw_box(ax: Axes, box: Sequence[float] | None, color: str) -> None:
    if box is not None:
        x1, y1, x2, y2 = box
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.5))


def plot_overlays(
    panels: Sequence[Overlay], path: str | Path, *, columns: int = 4, max_side: int | None = OVERLAY_SIDE
) -> Path:
    """A grid of images with the true mask and box (green) and the predicted mask and box
    (magenta), captioned with the predicted class and score; each panel is drawn at
    ``max_side`` pixels at most (see :func:`fit_overlay`; ``None``: as given)."""
    panels = [fit_overlay(panel, max_side) for panel in panels] if max_side is not None else list(panels)
    rows = max(1, -(-len(panels) // columns))
    fig = _figure(figsize=(3 * columns, 2.6 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, panel in zip(axes.ravel(), panels):
        ax.imshow(panel.image)
        for mask, color in ((panel.true_mask, "lime"), (panel.pred_mask, "magenta")):
            if mask is not None and mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors=color, linewidths=1)
        _draw_box(ax, panel.true_box, "lime")
        _draw_box(ax, panel.pred_box, "magenta")
        ax.set_title(f"{panel.title}\n{panel.caption}", fontsize=8)
    return _save(fig, path)


def plot_loss_curves(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """Training and validation loss per epoch: ``{"epoch": [...], "train_loss": [...],
    "val_loss": [...]}`` (validation optional)."""
    fig = _figure(figsize=(5, 3.5))
    ax = fig.subplots()
    epochs = list(history["epoch"])
    for key, label in (("train_loss", "training"), ("val_loss", "validation")):
        values = [v for v in history.get(key, []) if v is not None]
        if values and len(values) == len(epochs):
            ax.plot(epochs, values, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Loss per epoch")
    ax.legend()
    return _save(fig, path)

"""
ROC curves and per-image Jaccard
================================

The ISIC 2017 metrics are pure functions of masks and probabilities. Here made-up
predictions for 200 images are scored with :mod:`isicseg.metrics` and drawn with
:mod:`isicseg.viz`'s plotting helpers, the same figures that
:func:`isicseg.evaluate` writes.
"""

import tempfile
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np

from isicseg.metrics import binary_classification_scores, jaccard_index
from isicseg.viz import plot_jaccard_boxplot, plot_roc_curves

rng = np.random.default_rng(0)
n = 200
melanoma = rng.random(n) < 0.19
p_melanoma = np.clip(0.35 * melanoma + 0.65 * rng.random(n), 0, 1)
keratosis = ~melanoma & (rng.random(n) < 0.16)
p_keratosis = np.clip(0.25 * keratosis + 0.75 * rng.random(n), 0, 1)

yy, xx = np.mgrid[0:96, 0:128]
truth = (yy - 48) ** 2 + (xx - 64) ** 2 < 30**2
jaccard = [
    jaccard_index((yy - 48 - dy) ** 2 + (xx - 64 - dx) ** 2 < 30**2, truth) for dy, dx in rng.normal(0, 6, (n, 2))
]

scores = binary_classification_scores(melanoma.astype(int), p_melanoma)
print(f"melanoma AUC {scores['auc']:.3f}, specificity at 89% sensitivity {scores['spec_at_sens_89']:.3f}")
print(f"mean Jaccard {np.mean(jaccard):.3f}")

workdir = tempfile.TemporaryDirectory()  # removed at the end of the page
folder = Path(workdir.name)
roc = plot_roc_curves(
    {"melanoma": (melanoma, p_melanoma), "seborrheic keratosis": (keratosis, p_keratosis)}, folder / "roc.png"
)
box = plot_jaccard_boxplot(jaccard, folder / "jaccard.png")
fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
for ax, path in zip(axes, (roc, box)):
    ax.imshow(mpimg.imread(path))
    ax.axis("off")
fig.tight_layout()
plt.show()
workdir.cleanup()

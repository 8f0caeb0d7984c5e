"""
Synthetic lesions by class
==========================

:func:`isicseg.data.synthetic.render_lesion` draws dermoscopy-like images whose lesions
differ by class the way real ones do. This renders three of each class with the tight box
of each mask, as :class:`isicseg.ISIC2017Dataset` computes it.
"""

import matplotlib.pyplot as plt
import torch

from isicseg.data.synthetic import render_lesion
from isicseg.ops import masks_to_boxes

fig, axes = plt.subplots(3, 3, figsize=(9, 7))
for row, diagnosis in enumerate(["nevus", "seborrheic_keratosis", "melanoma"]):
    for column in range(3):
        image, mask = render_lesion(diagnosis, 192, 256, rng=10 * row + column)
        x1, y1, x2, y2 = masks_to_boxes(torch.from_numpy(mask)[None])[0].tolist()
        ax = axes[row, column]
        ax.imshow(image)
        ax.contour(mask, levels=[127], colors="lime", linewidths=1)
        ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="yellow"))
        ax.set_title(diagnosis.replace("_", " "), fontsize=9)
        ax.axis("off")
fig.tight_layout()
plt.show()

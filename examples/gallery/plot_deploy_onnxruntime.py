"""
Deploying a model
=================

``isicseg export runs/<name>/best.pt --format onnx --out lesions.onnx`` writes a trained
model as one ONNX file (``--format torchscript`` for a TorchScript one): the detector with its
mask head and the lesion classifier head, and the metadata a consumer needs. The file runs
with `onnxruntime <https://onnxruntime.ai>`_ alone; this page is such a consumer, using only
numpy, Pillow and onnxruntime. It exports a small untrained model so that the page builds
anywhere; with a trained checkpoint the code is the same.

What the graph does not do, the consumer does, as :func:`isicseg.predict` does it:

1. **Input**: RGB, resized so that the shorter side is ``input_shorter_side`` (bilinear),
   ``float32`` ``(3, H, W)`` in ``[0, 1]``. The graph resizes to the model's
   ``min_size``/``max_size`` and normalises by itself.
2. **Answer rule**: the top-scoring detection's mask probabilities, resized (bilinear) to the
   original image and ``> 0.5``; its box scaled the same way; the melanoma probability is
   ``class_scores[category_labels["melanoma"]]``.
3. **Clean-up** (``postprocess``, optional): the largest 8-connected component, its holes
   filled. Below in plain numpy.
4. **Mirror TTA** (``tta``) is not in the graph: a model whose run evaluated with it
   (``metadata["not_in_graph"]["tta"]``) answers here as ``isicseg predict`` without ``--tta``.
   Nor is the ``central`` answer rule (``metadata["not_in_graph"]["answer_rule"]``): the graph's
   ``class_scores`` read the top-scoring box, so this page answers as ``--answer-rule top``.
"""

import json
import tempfile
from collections import deque
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime
from PIL import Image

from isicseg import build_mask_rcnn, export_model
from isicseg.data.synthetic import render_lesion

workdir = tempfile.TemporaryDirectory()  # removed at the end of the page
folder = Path(workdir.name)
model = build_mask_rcnn(
    3, backbone="resnet18_fpn", classifier="pooled", label_scheme="binary", min_size=128, max_size=192
)
export_model(model, folder / "lesions.onnx")  # isicseg export CHECKPOINT --out lesions.onnx
image_path = folder / "lesion.jpg"
Image.fromarray(render_lesion("melanoma", 300, 400, rng=3)[0]).save(image_path)

# %%
# From here on, nothing of isicseg or torch is used.

session = onnxruntime.InferenceSession(str(folder / "lesions.onnx"), providers=["CPUExecutionProvider"])
metadata = json.loads(session.get_modelmeta().custom_metadata_map["isicseg"])
print({key: metadata[key] for key in ("label_scheme", "class_names", "category_labels", "outputs", "isicseg_version")})


def preprocess(path, shorter_side):
    """The input rule: RGB, shorter side resized to ``shorter_side``, CHW float32 in [0, 1]."""
    image = Image.open(path).convert("RGB")
    scale = shorter_side / min(image.size)
    size = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    resized = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32).transpose(2, 0, 1) / 255, (image.height, image.width)


def check_input(pixels, metadata):
    """The graph's input contract, checked before the run: the graph itself does not check its input (a 0-255
    image is answered without complaint, and a NaN image fails inside a Reshape node)."""
    contract = metadata["input"]
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.float32:
        raise ValueError(
            f"the image must be a float32 numpy array; got {type(pixels).__name__} {getattr(pixels, 'dtype', '')}"
        )
    if pixels.ndim != 3 or pixels.shape[0] != 3 or min(pixels.shape[1:]) < 1:
        raise ValueError(f"the image must be (3, H, W) RGB (layout {contract['layout']}); got shape {pixels.shape}")
    if not np.isfinite(pixels).all():
        raise ValueError(f"the image holds {int((~np.isfinite(pixels)).sum())} NaN or infinite values")
    low, high = contract["range"]
    if pixels.min() < low or pixels.max() > high:
        raise ValueError(
            f"the image's values must lie in [{low}, {high}]; got [{pixels.min():g}, {pixels.max():g}] (divide 0-255 pixels by 255)"
        )


def answer(outputs, names, original_height_and_width, threshold=0.5):
    """The answer rule: top detection's mask at the original size, its box, the category probabilities."""
    out = dict(zip(names, outputs))
    height, width = original_height_and_width
    probabilities = (
        {c: float(out["class_scores"][label]) for c, label in metadata["category_labels"].items()}
        if "class_scores" in out
        else {}
    )
    if len(out["scores"]) == 0:
        return np.zeros(original_height_and_width, bool), None, probabilities
    top = int(np.argmax(out["scores"]))
    probability = Image.fromarray(out["masks"][top, 0].astype(np.float32))
    mask = np.asarray(probability.resize((width, height), Image.Resampling.BILINEAR)) > threshold
    sy, sx = height / out["masks"].shape[-2], width / out["masks"].shape[-1]
    x1, y1, x2, y2 = out["boxes"][top]
    return mask, (x1 * sx, y1 * sy, x2 * sx, y2 * sy), probabilities


def components(mask, neighbours):
    """Labels of the connected components of a bool mask (0: outside), by breadth-first search."""
    labels = np.zeros(mask.shape, np.int32)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if labels[start]:
            continue
        count += 1
        labels[start] = count
        queue = deque([start])
        while queue:
            y, x = queue.popleft()
            for dy, dx in neighbours:
                ny, nx = y + dy, x + dx
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = count
                    queue.append((ny, nx))
    return labels, count


EIGHT = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
FOUR = [(-1, 0), (1, 0), (0, -1), (0, 1)]


def clean_mask(mask):
    """Largest 8-connected component, holes filled (background not 4-connected to the border)."""
    labels, count = components(mask, EIGHT)
    if count == 0:
        return mask
    largest = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    background, _ = components(~largest, FOUR)
    border = np.unique(np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]]))
    return largest | ~np.isin(background, border[border > 0])


pixels, original_height_and_width = preprocess(image_path, metadata["input"]["input_shorter_side"])
for wrong in (pixels * 255, np.full_like(pixels, np.nan)):  # what the graph would take without complaint, or crash on
    try:
        check_input(wrong, metadata)
        raise AssertionError("check_input let a wrong image through")
    except ValueError as error:
        print(f"refused: {error}")
check_input(pixels, metadata)
outputs = session.run(None, {"image": pixels})
mask, box, probabilities = answer(outputs, metadata["outputs"], original_height_and_width)
cleaned = clean_mask(mask)
print(
    f"{len(outputs[2])} detections; melanoma probability {probabilities['melanoma']:.3f}; mask {mask.sum()} px, cleaned {cleaned.sum()} px"
)

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.imshow(Image.open(image_path))
if box is not None:
    ax.contour(cleaned, levels=[0.5], colors="lime")
    ax.add_patch(plt.Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, edgecolor="yellow"))
ax.set_title("onnxruntime answer of an untrained model (its mask is noise)", fontsize=9)
ax.axis("off")
plt.show()
workdir.cleanup()

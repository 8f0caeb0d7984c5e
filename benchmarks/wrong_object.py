"""Why does the detector answer with the wrong object? Per-image failure analysis of a trained model.

For every image of ``--data``'s ``--split`` (read at the model's training size, shorter
side, aspect kept, as ``evaluate`` reads it), runs the model without test-time
augmentation and keeps **all** its detections, then reports per image: the lesion's share
of the frame, how many detections there were, the Jaccard of the answer (the top-scoring
detection, as the answer rule picks it) and of the best detection the model had (an
oracle pick), and the rank of that best detection. Images whose answer scores under 0.5
fall into three kinds:

* **wrong pick**: some detection has Jaccard >= 0.5, the rule picked another (the answer
  rule or the scores are at fault);
* **found, poorly outlined**: the best detection overlaps (Jaccard 0.1-0.5);
* **missed**: no detection overlaps the lesion (proposals, anchors or input size).

``--sizes`` re-runs the same model at other input sizes (shorter side) to see whether a
larger input finds the small lesions. Nothing here is tuned on the images it reads: it
describes a model's failures, it does not choose a fix.

    python benchmarks/wrong_object.py runs/bench_real/recipe/last.pt --data runs/bench_real/aspect_split --split validation
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _weights import use_weight_file  # noqa: E402

from isicseg import ISIC2017Dataset, load_model
from isicseg.data.io import read_image, read_mask
from isicseg.inference import upsample_mask

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@torch.inference_mode()
def analyse(model, dataset: ISIC2017Dataset, size: int) -> pd.DataFrame:
    rows = []
    for index, record in enumerate(dataset.records):
        height, width = dataset.original_height_and_width(index)
        truth = read_mask(record.mask_path, binarize=True).astype(bool)
        image = torch.from_numpy(read_image(record.image_path, size)).permute(2, 0, 1).float() / 255
        output = model([image])[0]
        scores = output["scores"]
        values = [jaccard(upsample_mask(output["masks"][k, 0], (height, width)), truth) for k in range(len(scores))]
        best = int(np.argmax(values)) if values else -1
        rows.append(
            {
                "image_id": record.image_id,
                "size": size,
                "lesion share": float(truth.mean()),
                "detections": len(scores),
                "answer jaccard": values[0] if values else 0.0,
                "best jaccard": values[best] if values else 0.0,
                "best rank": best + 1 if values else 0,
                "top score": float(scores[0]) if len(scores) else 0.0,
            }
        )
    return pd.DataFrame(rows)


def kinds(table: pd.DataFrame) -> dict[str, int]:
    failed = table[table["answer jaccard"] < 0.5]
    return {
        "images": len(table),
        "under 0.5": len(failed),
        "wrong pick": int((failed["best jaccard"] >= 0.5).sum()),
        "found, poorly outlined": int(((failed["best jaccard"] >= 0.1) & (failed["best jaccard"] < 0.5)).sum()),
        "missed": int((failed["best jaccard"] < 0.1).sum()),
        "mean answer jaccard": float(table["answer jaccard"].mean()),
        "mean best jaccard": float(table["best jaccard"].mean()),
        "median lesion share, failures": float(failed["lesion share"].median()) if len(failed) else float("nan"),
        "median lesion share, all": float(table["lesion share"].median()),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="validation")
    parser.add_argument("--sizes", type=int, nargs="*", default=[], help="further input sizes (shorter side) to try")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "mobilenet_v2-b0353104.pth")
    parser.add_argument("--out", type=Path, help="write the per-image table here (CSV)")
    args = parser.parse_args(argv)
    use_weight_file(args.weights, keep_existing=True)
    model = load_model(args.checkpoint).eval()
    trained = max(model.identity.min_size)
    dataset = ISIC2017Dataset(args.data, args.split, label_scheme=model.identity.label_scheme)
    tables = []
    for size in [trained, *args.sizes]:
        model.transform.min_size, model.transform.max_size = (
            (size,),
            max(model.transform.max_size, round(size * 1333 / 800)),
        )
        tables.append(analyse(model, dataset, size))
        print(
            f"input {size} px (shorter side){' (as trained)' if size == trained else ''}: {kinds(tables[-1])}",
            flush=True,
        )
    table = pd.concat(tables, ignore_index=True)
    failures = table[(table["size"] == trained) & (table["answer jaccard"] < 0.5)].sort_values("lesion share")
    print(failures.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        table.to_csv(args.out, index=False)
    return table


if __name__ == "__main__":
    main()

"""Small HAM10000 roots in both official layouts, written from synthetic lesions (no HAM10000 file is copied)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from isicseg.data.synthetic import render_lesion

# (lesion_id, dx, images): several images per lesion, every dx code, 15 images of 11 lesions
LESIONS = [
    ("HAM_0000001", "mel", 2),
    ("HAM_0000002", "mel", 1),
    ("HAM_0000003", "nv", 3),
    ("HAM_0000004", "nv", 1),
    ("HAM_0000005", "bkl", 2),
    ("HAM_0000006", "bkl", 1),
    ("HAM_0000007", "bcc", 1),
    ("HAM_0000008", "akiec", 1),
    ("HAM_0000009", "vasc", 1),
    ("HAM_0000010", "df", 1),
    ("HAM_0000011", "nv", 1),
]
SHAPE = {"mel": "melanoma", "bkl": "seborrheic_keratosis"}


def write_ham(root: Path, *, layout: str = "dataverse", masks: bool = True, groupings: bool = True) -> Path:
    """Write a HAM10000 root; image ids start at ISIC_0024306 as the real ones do."""
    root = Path(root)
    rows, number = [], 24306
    for lesion, dx, count in LESIONS:
        for _ in range(count):
            rows.append((lesion, f"ISIC_{number:07d}", dx))
            number += 1
    folders = (
        ["HAM10000_images_part_1", "HAM10000_images_part_2"]
        if layout == "dataverse"
        else ["ISIC2018_Task3_Training_Input"]
    )
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    if masks:
        (root / "HAM10000_segmentations_lesion_tschandl").mkdir(parents=True, exist_ok=True)
    for index, (_lesion, image_id, dx) in enumerate(rows):
        image, mask = render_lesion(SHAPE.get(dx, "nevus"), 48, 64, rng=index)
        Image.fromarray(image).save(root / folders[index % len(folders)] / f"{image_id}.jpg", quality=90)
        if masks:
            Image.fromarray(mask).save(root / "HAM10000_segmentations_lesion_tschandl" / f"{image_id}_segmentation.png")
    if layout == "dataverse":
        lines = ["lesion_id,image_id,dx,dx_type,age,sex,localization"]
        lines += [
            f"{lesion},{image_id},{dx},histo,{40 + i}.0,{'male' if i % 2 else 'female'},back"
            for i, (lesion, image_id, dx) in enumerate(rows)
        ]
        (root / "HAM10000_metadata.csv").write_text("\n".join(lines) + "\n")
    else:
        codes = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
        lines = ["image," + ",".join(codes)]
        lines += [
            image_id + "," + ",".join("1.0" if c.lower() == dx else "0.0" for c in codes) for _, image_id, dx in rows
        ]
        (root / "ISIC2018_Task3_Training_GroundTruth.csv").write_text("\n".join(lines) + "\n")
        if groupings:
            group_lines = ["image,lesion_id,diagnosis_confirm_type"] + [
                f"{image_id},{lesion},histopathology" for lesion, image_id, _ in rows
            ]
            (root / "ISIC2018_Task3_Training_LesionGroupings.csv").write_text("\n".join(group_lines) + "\n")
    return root

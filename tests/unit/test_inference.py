from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from scipy import ndimage

from isicseg import build_mask_rcnn
from isicseg.exceptions import ConfigError
from isicseg.inference import (
    _flip_back,
    _fuse,
    answer_from_detections,
    clean_mask,
    detect,
    pick_detection,
    upsample_mask,
)
from isicseg.models import FEW_PROPOSALS


def detections(scores, labels, size=(8, 10)):
    n = len(scores)
    masks = torch.zeros(n, 1, *size)
    boxes = []
    for i in range(n):
        masks[i, 0, i : i + 2, i : i + 3] = 0.9
        boxes.append([i, i, i + 3, i + 2])
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "scores": torch.tensor(scores),
        "masks": masks,
    }


def test_no_detection_gives_empty_answer():
    answer = answer_from_detections(detections([], []), "three_class", image_id="x", original_height_and_width=(16, 20))
    assert answer.mask.shape == (16, 20) and not answer.mask.any()
    assert answer.box is None and answer.label == 0 and answer.score == 0.0
    assert answer.probabilities == {"melanoma": 0.0, "seborrheic_keratosis": 0.0}


def test_top_scoring_detection_gives_mask_box_and_class():
    answer = answer_from_detections(detections([0.3, 0.8, 0.6], [3, 1, 2]), "three_class", image_id="x")
    assert answer.label == 1 and answer.score == np.float32(0.8)
    assert answer.box == (1.0, 1.0, 4.0, 3.0)
    assert answer.mask.sum() == 6 and answer.mask[1:3, 1:4].all()
    assert answer.probabilities["melanoma"] == np.float32(0.3)
    assert answer.probabilities["seborrheic_keratosis"] == np.float32(0.6)


def blobs(scores, places, size=(12, 12)):
    """Detections whose masks and boxes are 4x4 squares at ``places`` (top-left corners)."""
    masks = torch.zeros(len(scores), 1, *size)
    for k, (y, x) in enumerate(places):
        masks[k, 0, y : y + 4, x : x + 4] = 0.9
    boxes = torch.tensor([[x, y, x + 4, y + 4] for y, x in places], dtype=torch.float32).reshape(-1, 4)
    return {"scores": torch.tensor(scores), "masks": masks, "boxes": boxes}


def test_pick_detection_top_is_the_highest_score():
    det = blobs([0.3, 0.8, 0.6], [(0, 0), (4, 4), (8, 8)])
    assert pick_detection(det) == pick_detection(det, rule="top") == 1
    assert pick_detection(blobs([], [])) is None and pick_detection(blobs([], []), rule="central") is None


def test_pick_detection_central_weighs_the_score_against_the_distance_from_the_middle():
    # 40 x 60 image (height x width): a corner box at 0.9 and a middle box at 0.5; the corner box's centre
    # (2, 2) is off by (2/60 - 0.5, 2/40 - 0.5) = (-0.467, -0.45), 0.648 in all
    det = blobs([0.9, 0.5], [(0, 0), (18, 28)], size=(40, 60))
    assert pick_detection(det, rule="top") == 0 and pick_detection(det, rule="central") == 1
    det["scores"] = torch.tensor([1.16, 0.5])  # 1.16 - 0.648 > 0.5 - 0: a far-off box that scores enough wins
    assert pick_detection(det, rule="central") == 0
    # distances are fractions of width and height: the same offsets in a transposed image give the same pick
    transposed = blobs([0.9, 0.5], [(0, 0), (28, 18)], size=(60, 40))
    assert pick_detection(transposed, rule="central") == 1


def test_pick_detection_refuses_an_unknown_rule():
    with pytest.raises(ConfigError, match=r"Unknown answer rule 'biggest'; allowed: top, central\."):
        pick_detection(blobs([0.5], [(0, 0)]), rule="biggest")


def test_category_probability_is_max_of_its_label():
    answer = answer_from_detections(detections([0.2, 0.7, 0.4], [2, 1, 2]), "binary", image_id="x")
    assert answer.probabilities["melanoma"] == np.float32(0.4)
    assert math.isnan(answer.probabilities["seborrheic_keratosis"])  # merged with nevus in binary


def test_box_and_mask_scale_to_original_size():
    answer = answer_from_detections(detections([0.9], [1]), "binary", image_id="x", original_height_and_width=(16, 20))
    assert answer.box == (0.0, 0.0, 6.0, 4.0)
    assert answer.mask.shape == (16, 20) and answer.mask.sum() == 24


def test_upsample_mask_threshold():
    probabilities = torch.tensor([[0.2, 0.8]])
    assert upsample_mask(probabilities, (1, 2)).tolist() == [[False, True]]
    assert upsample_mask(probabilities, (2, 4)).tolist() == [[False, False, True, True]] * 2


def test_a_lower_mask_threshold_grows_the_answer_at_the_lesions_blurred_border():
    det = {
        "boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]),
        "labels": torch.tensor([1]),
        "scores": torch.tensor([0.9]),
        "masks": torch.tensor([[0.9, 0.45, 0.35, 0.1]]).repeat(4, 1)[None, None],
    }
    sizes = {
        threshold: int(answer_from_detections(det, "binary", image_id="x", mask_threshold=threshold).mask.sum())
        for threshold in (0.3, 0.4, 0.5)
    }
    assert sizes == {0.3: 12, 0.4: 8, 0.5: 4}
    assert upsample_mask(torch.tensor([[0.2, 0.45]]), (1, 2), 0.4).tolist() == [[False, True]]


@pytest.mark.parametrize("value", [0.0, 1.0, -0.2, 2.0])
def test_a_mask_threshold_outside_0_1_is_refused_at_each_config_and_on_the_command_line(value, capsys):
    from isicseg.cli import main
    from isicseg.config import EvalConfig
    from isicseg.inference import InferenceConfig

    message = (
        "InferenceConfig.mask_threshold must be a mask probability strictly between 0 and 1 (0.5: torchvision's); "
        f"got {value!r}."
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        InferenceConfig(mask_threshold=value)
    with pytest.raises(ConfigError, match=re.escape(message.replace("InferenceConfig", "EvalConfig"))):
        EvalConfig(mask_threshold=value)
    assert main(["evaluate", "missing.pt", "--data", "nowhere", "--mask-threshold", str(value)]) == 2
    assert capsys.readouterr().err == f"isicseg evaluate: error: {message}\n"  # before any file is read


def test_postprocess_keeps_largest_component_and_fills_holes():
    det = detections([0.9], [1], size=(12, 12))
    det["masks"][0, 0] = 0.0
    det["masks"][0, 0, 2:9, 2:9] = 0.9  # the lesion, 49 px
    det["masks"][0, 0, 5, 5] = 0.1  # a hole in it
    det["masks"][0, 0, 10:12, 10:12] = 0.9  # a speck elsewhere
    raw = answer_from_detections(det, "binary", image_id="x")
    clean = answer_from_detections(det, "binary", image_id="x", postprocess=True)
    assert raw.mask.sum() == 48 + 4 and not raw.mask[5, 5]
    assert clean.mask.sum() == 49 and clean.mask[5, 5] and not clean.mask[10:, 10:].any()


def test_clean_mask_properties():
    rng = np.random.default_rng(0)
    for _ in range(30):
        mask = rng.random((20, 24)) > 0.6
        out = clean_mask(mask)
        labels, count = ndimage.label(out, structure=np.ones((3, 3), bool))
        assert count == (1 if mask.any() else 0)
        assert np.array_equal(out, ndimage.binary_fill_holes(out))  # no holes left
        original, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
        assert out.sum() >= np.bincount(original.ravel())[1:].max(initial=0)  # the largest component, at least
    assert not clean_mask(np.zeros((4, 4), bool)).any()


@pytest.mark.slow
def test_tta_is_exactly_mirror_equivariant_and_fuses_one_detection():
    torch.manual_seed(0)
    model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=96, classifier="pooled").eval()
    image = torch.rand(3, 64, 80)
    with torch.no_grad():
        plain = detect(model, [image])[0]
        a, b = detect(model, [image, image.flip(-1)], tta=True)
    assert len(a["scores"]) == 1 <= len(plain["scores"])
    torch.testing.assert_close(a["masks"], b["masks"].flip(-1), rtol=0, atol=1e-6)
    torch.testing.assert_close(a["boxes"][:, [0, 2]], 80 - b["boxes"][:, [2, 0]], rtol=0, atol=1e-4)
    torch.testing.assert_close(a["class_scores"], b["class_scores"])
    torch.testing.assert_close(a["scores"], b["scores"])
    assert a["masks"].shape[-2:] == (64, 80)


def _lesion_crop_model(views: int) -> torch.nn.Module:
    """A detector with a ``lesion_crop`` head of random frozen weights and a random regression."""
    from isicseg.models.heads import LesionCropClassifier, attach_classifier

    torch.manual_seed(0)
    model = attach_classifier(build_mask_rcnn(3, backbone="resnet18_fpn", min_size=96, max_size=120), "lesion_crop")
    model.classifier = LesionCropClassifier(0, 3, crop_size=32, views=views)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 0.3)
    return model.eval()


@pytest.mark.parametrize("views, head_calls", [(8, 1), (1, 2)])
def test_tta_runs_a_mirror_invariant_head_once_on_the_fused_box(views, head_calls):
    model = _lesion_crop_model(views)
    calls = []
    model.classifier.register_forward_hook(
        lambda module, args, kwargs, out: calls.append(kwargs["boxes"]), with_kwargs=True
    )
    image = torch.rand(3, 64, 80)  # resized to 96 x 120 inside the model: classify scales the box
    with torch.no_grad():
        a, b = detect(model, [image, image.flip(-1)], tta=True)
    assert len(calls) == head_calls and model.classifier.mirror_invariant == (views > 1)
    assert (
        float(a["class_scores"][1:].max() - a["class_scores"][1:].min()) > 1e-3
    )  # the random regression gives unequal classes
    torch.testing.assert_close(a["class_scores"], b["class_scores"], rtol=0, atol=1e-5)  # still mirror-equivariant
    if views > 1:  # the head saw the fused box, mapped into the model's 96 x 120 frame
        torch.testing.assert_close(calls[0][0], a["boxes"][0] * 1.5, rtol=0, atol=1e-4)
        with torch.no_grad():
            expected = model.classify([image], [a["boxes"][0]])[0]
        torch.testing.assert_close(a["class_scores"], expected)


def test_classify_on_the_top_box_equals_the_forward_pass():
    model = _lesion_crop_model(8)
    image = torch.rand(3, 64, 80)
    with torch.no_grad():
        output = model([image])[0]
        without = model([image], classify=False)[0]
        again = model.classify([image], [output["boxes"][0] if len(output["boxes"]) else None])[0]
    assert "class_scores" not in without
    torch.testing.assert_close(without["masks"], output["masks"])
    torch.testing.assert_close(again, output["class_scores"], rtol=0, atol=1e-5)


def test_tta_of_a_mirror_symmetric_image_with_symmetric_answer_equals_no_tta():
    views = [detections([0.9], [1], size=(8, 8))]
    views[0]["masks"][0, 0] = 0.0
    views[0]["masks"][0, 0, 2:6, 1:7] = 0.8  # symmetric about the vertical axis
    views[0]["boxes"] = torch.tensor([[1.0, 2.0, 7.0, 6.0]])
    fused = _fuse([views[0], _flip_back(views[0], 8)])
    for key in ("masks", "boxes", "scores", "labels"):
        torch.testing.assert_close(fused[key], views[0][key])


def test_bf16_inference_gives_float32_outputs_close_to_fp32():
    torch.manual_seed(0)
    model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=96, classifier="pooled").eval()
    image = torch.rand(3, 64, 80)
    with torch.no_grad():
        fp32 = detect(model, [image])[0]
        bf16 = detect(model, [image], precision="bf16")[0]
    assert {k: v.dtype for k, v in bf16.items()} == {k: v.dtype for k, v in fp32.items()}
    assert bf16["masks"].dtype == torch.float32
    torch.testing.assert_close(bf16["class_scores"], fp32["class_scores"], atol=0.03, rtol=0)
    with pytest.raises(ConfigError, match=r"precision 'fp16' needs a CUDA device; got device 'cpu'"):
        detect(model, [image], precision="fp16")
    with pytest.raises(ConfigError, match=r"precision must be one of 'auto', 'bf16', 'fp16', 'fp32'; got 'half'"):
        detect(model, [image], precision="half")


@pytest.mark.parametrize("tta", [False, True])
def test_predict_and_evaluate_see_each_image_once_per_view(synthetic_root, tta):
    from isicseg import InferenceConfig, ISIC2017Dataset, evaluate, predict

    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=80, label_scheme="binary", **FEW_PROPOSALS
    )
    seen: list[int] = []
    model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    config = InferenceConfig(batch_size=3, tta=tta)
    dataset = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=5)
    evaluate(model, dataset, config=config)
    views = 2 if tta else 1
    assert seen == ([3, 3, 2, 2] if tta else [3, 2])  # batches of 3 (and their mirror images)
    assert sum(seen) == views * len(dataset)
    seen.clear()
    answers = list(predict(model, [r.image_path for r in dataset.records], config=config))
    assert sum(seen) == views * len(dataset) and len(answers) == len(dataset)
    assert [a.image_id for a in answers] == dataset.image_ids


class _TwoObjects(torch.nn.Module):
    """A stand-in detector on 12 x 12 images: an object in a corner (top score) and the lesion in the
    middle; its head answers with the box's left edge, so a test can tell which box the head read."""

    def __init__(self) -> None:
        super().__init__()
        self.classified: list[list] = []

    def forward(self, images, classify=True):
        outputs = []
        for image in images:
            det = blobs([0.7, 0.5], [(0, 0), (4, 5)], size=tuple(image.shape[-2:]))
            det["labels"] = torch.tensor([1, 2])
            if classify:
                det["class_scores"] = self._scores(det["boxes"][0])
            outputs.append(det)
        return outputs

    @staticmethod
    def _scores(box):
        return torch.tensor([0.0, float(box[0]), 1.0, 1.0])  # background + three classes

    def classify(self, images, boxes):
        self.classified.append([None if b is None else b.tolist() for b in boxes])
        return [self._scores(box) for box in boxes]


def test_detect_and_answer_follow_the_answer_rule_and_the_head_reads_the_picked_box():
    model, image = _TwoObjects(), torch.rand(3, 12, 12)
    top = detect(model, [image])[0]
    assert model.classified == [] and top["class_scores"][1] == 0.0  # the forward pass read the top box
    central = detect(model, [image], answer_rule="central")[0]
    assert model.classified == [[[5.0, 4.0, 9.0, 8.0]]]  # read again, on the middle box
    assert central["class_scores"][1] == 5.0 and torch.equal(central["scores"], top["scores"])
    a = answer_from_detections(top, "three_class", image_id="x")
    b = answer_from_detections(central, "three_class", image_id="x", answer_rule="central")
    assert (a.box, a.score) == ((0.0, 0.0, 4.0, 4.0), np.float32(0.7))
    assert (b.box, b.score) == ((5.0, 4.0, 9.0, 8.0), np.float32(0.5))
    assert a.mask[:4, :4].all() and a.mask.sum() == 16 and b.mask[4:8, 5:9].all() and b.mask.sum() == 16


def test_tta_fuses_the_detections_the_rule_picks_in_each_view():
    model, image = _TwoObjects(), torch.rand(3, 12, 12)
    fused = detect(model, [image], tta=True, answer_rule="central")[0]
    # the stand-in answers the mirror image as the image: each view's rule picks the middle box (5, 4, 9, 8),
    # which the mirrored view maps back to (3, 4, 7, 8); the fused box is their mean
    assert len(fused["scores"]) == 1 and float(fused["scores"][0]) == pytest.approx(0.5)
    torch.testing.assert_close(fused["boxes"][0], torch.tensor([4.0, 4.0, 8.0, 8.0]))
    plain = detect(model, [image], tta=True)[0]
    torch.testing.assert_close(plain["boxes"][0], torch.tensor([4.0, 0.0, 8.0, 4.0]))  # (0, 0, 4, 4) and (8, 0, 12, 4)


@pytest.mark.parametrize("tta", [False, True])
def test_the_prediction_loop_answers_with_the_configs_rule(tta):
    from isicseg.inference import ImageToAnswer, InferenceConfig, answer_images

    model, image = _TwoObjects(), torch.rand(3, 12, 12)
    boxes = {}
    for rule in ("top", "central"):
        config = InferenceConfig(answer_rule=rule, tta=tta)
        items = [ImageToAnswer(image, "x", (24, 24))]
        ((_, answer),) = answer_images(model, items, label_scheme="three_class", config=config, device="cpu")
        boxes[rule] = answer.box
    # at twice the size: the corner object (0, 0, 4, 4) against the middle box (5, 4, 9, 8), fused with its mirror
    expected = (
        {"top": (8.0, 0.0, 16.0, 8.0), "central": (8.0, 8.0, 16.0, 16.0)}
        if tta
        else {
            "top": (0.0, 0.0, 8.0, 8.0),
            "central": (10.0, 8.0, 18.0, 16.0),
        }
    )
    assert boxes == expected


def test_the_prediction_loop_cuts_masks_at_the_configs_threshold():
    from isicseg.inference import ImageToAnswer, InferenceConfig, answer_images

    model, image = _TwoObjects(), torch.rand(3, 12, 12)
    sizes = {}
    for threshold in (0.2, 0.5, 0.7):
        config = InferenceConfig(mask_threshold=threshold)
        items = [ImageToAnswer(image, "x", (24, 24))]  # upsampled twice: the border is blurred
        ((_, answer),) = answer_images(model, items, label_scheme="three_class", config=config, device="cpu")
        sizes[threshold] = int(answer.mask.sum())
    assert sizes[0.2] > sizes[0.5] > sizes[0.7] > 0


def test_an_unknown_answer_rule_is_refused_at_the_config_and_on_the_command_line(capsys):
    from isicseg.cli import main
    from isicseg.inference import InferenceConfig

    message = "InferenceConfig.answer_rule must be one of 'top', 'central'; got 'best'."
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        InferenceConfig(answer_rule="best")
    assert main(["evaluate", "missing.pt", "--data", "nowhere", "--answer-rule", "best"]) == 2
    assert capsys.readouterr().err == f"isicseg evaluate: error: {message}\n"  # one line, before any file is read


@pytest.mark.parametrize("tta, rule", [(False, "top"), (False, "central"), (True, "central")])
def test_an_images_answer_does_not_depend_on_the_images_beside_it(tta, rule):
    # torchvision pads a batch to its largest image: in one pass with a wider image, a small one's answer changed
    torch.manual_seed(0)
    model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=128, classifier="pooled").eval()
    small, wide, twin = torch.rand(3, 64, 64), torch.rand(3, 64, 120), torch.rand(3, 64, 64)
    with torch.no_grad():
        alone = [detect(model, [image], tta=tta, answer_rule=rule)[0] for image in (wide, small, twin)]
        together = detect(model, [wide, small, twin], tta=tta, answer_rule=rule)
    assert len(alone[1]["scores"]) > 0
    for one, other in zip(alone, together):
        assert one.keys() == other.keys()
        for key in one:
            torch.testing.assert_close(
                other[key], one[key], rtol=1e-4, atol=1e-4
            )  # batched arithmetic differs a little

"""isicseg export: ONNX (run by onnxruntime) and TorchScript files answer as isicseg predict does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import mobilenet_v2

from isicseg import InferenceConfig, build_mask_rcnn, predict
from isicseg.cli import main
from isicseg.data.io import read_image
from isicseg.exceptions import ConfigError, WeightsError
from isicseg.export import ONNX_OPSETS, export_model, read_export_metadata
from isicseg.models import FEW_PROPOSALS

ort = pytest.importorskip("onnxruntime", reason="onnxruntime comes with the dev extra (pip install -e '.[dev]')")

pytestmark = pytest.mark.slow

SIZES = ((90, 120), (150, 100))  # (height, width): landscape and portrait, so both resize rules of the graph are used


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small model with the lesion_crop head (its ImageNet file saved here), its checkpoint and two images."""
    folder = tmp_path_factory.mktemp("export")
    home = folder / "torch"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(mobilenet_v2().state_dict(), home / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(home))
        patch.setattr(torch.hub, "_hub_dir", None)
        model = build_mask_rcnn(
            3,
            backbone="resnet18_fpn",
            min_size=64,
            max_size=96,
            classifier="lesion_crop",
            label_scheme="binary",
            **FEW_PROPOSALS,
        )
    with torch.no_grad():
        model.classifier.weight.normal_(0, 0.05)
        model.classifier.bias.copy_(torch.tensor([0.3, -0.3]))
    checkpoint = folder / "best.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "identity": model.identity.to_dict(),
            "run_config": {"eval": {"tta": True, "postprocess": True, "mask_threshold": 0.4}},
        },
        checkpoint,
    )
    rng = np.random.default_rng(0)
    images = []
    for index, (height, width) in enumerate(SIZES):
        pixels = rng.integers(90, 200, (height, width, 3), dtype=np.uint8)
        pixels[height // 4 : 3 * height // 4, width // 3 : 2 * width // 3] //= 3  # a dark lesion
        images.append(folder / f"ISIC_{index:07d}.png")
        Image.fromarray(pixels).save(images[-1])
    return model.eval(), checkpoint, images


def _run(path, fmt, image: torch.Tensor) -> list[np.ndarray]:
    if fmt == "onnx":
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return session.run(None, {"image": image.numpy()})
    with torch.no_grad():
        return [t.numpy() for t in torch.jit.load(str(path))(image)]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_model_gives_predicts_boxes_scores_masks_and_probabilities_on_two_image_sizes(trained, tmp_path, fmt):
    model, checkpoint, images = trained
    out = export_model(checkpoint, tmp_path / f"model.{fmt}", format=fmt)
    answers = list(
        predict(model, images, config=InferenceConfig(batch_size=1))
    )  # one image a pass, as the graph (GroupNorm sees the padding of a batch)
    assert [a.mask.shape for a in answers] == list(SIZES)
    for path, answer in zip(images, answers):
        image = (
            torch.from_numpy(read_image(path, 64)).permute(2, 0, 1).float().div(255)
        )  # the input rule: shorter side min_size
        boxes, labels, scores, masks, class_scores = _run(out, fmt, image)
        reference = answer.detections
        assert len(scores) == len(reference["scores"]) > 0
        np.testing.assert_allclose(boxes, reference["boxes"].numpy(), atol=1e-2)
        np.testing.assert_array_equal(labels, reference["labels"].numpy())
        np.testing.assert_allclose(scores, reference["scores"].numpy(), atol=1e-4)
        assert masks.shape == tuple(reference["masks"].shape) == (len(scores), 1, *image.shape[-2:])
        np.testing.assert_allclose(masks, reference["masks"].numpy(), atol=1e-3)
        np.testing.assert_allclose(class_scores, reference["class_scores"].numpy(), atol=1e-4)
        assert class_scores[2] == pytest.approx(answer.probabilities["melanoma"], abs=1e-4)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_without_a_detection_the_classifier_reads_the_whole_image(trained, tmp_path, fmt):
    model, _, images = trained
    model.roi_heads.score_thresh = 1.1  # nothing passes
    try:
        out = export_model(model, tmp_path / "none", format=fmt)
        image = torch.from_numpy(read_image(images[1], 64)).permute(2, 0, 1).float().div(255)
        boxes, _, scores, masks, class_scores = _run(out, fmt, image)
        with torch.no_grad():
            reference = model([image])[0]
    finally:
        model.roi_heads.score_thresh = 0.05
    assert boxes.shape == (0, 4) and scores.shape == (0,) and masks.shape[0] == 0
    np.testing.assert_allclose(class_scores, reference["class_scores"].numpy(), atol=1e-4)


def test_the_file_says_what_a_consumer_needs(trained, tmp_path):
    _, checkpoint, _ = trained
    metadata = read_export_metadata(export_model(checkpoint, tmp_path / "model.pt", format="torchscript"))
    assert metadata["label_scheme"] == "binary" and metadata["class_names"] == ["background", "benign", "melanoma"]
    assert metadata["category_labels"] == {"melanoma": 2}
    assert metadata["input"]["input_shorter_side"] == 64 and metadata["input"]["max_size"] == 96
    assert metadata["outputs"] == ["boxes", "labels", "scores", "masks", "class_scores"]
    assert metadata["not_in_graph"] == {"tta": True, "postprocess": True, "answer_rule": "top"}
    assert metadata["mask_threshold"] == 0.4  # the run's, which the consumer applies
    assert metadata["torch_version"] == torch.__version__ and metadata["isicseg_version"]


def test_a_file_that_is_not_an_isicseg_checkpoint_is_refused(trained, tmp_path):
    model, _, _ = trained
    plain = tmp_path / "state_dict.pt"
    torch.save({"model": model.state_dict()}, plain)
    with pytest.raises(WeightsError, match=rf"{plain} is not an isicseg checkpoint: .*with an 'identity'"):
        export_model(plain, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize("opset", [11, 21, True])
def test_an_unsupported_opset_is_refused_naming_the_allowed_ones(trained, tmp_path, opset):
    with pytest.raises(
        ConfigError, match=rf"ONNX opset {opset!r} is not supported; choose one of {ONNX_OPSETS[0]}..{ONNX_OPSETS[-1]}"
    ):
        export_model(trained[1], tmp_path / "model.onnx", opset=opset)


def test_an_existing_file_is_kept_without_overwrite_and_replaced_whole_with_it(trained, tmp_path, capsys):
    out = tmp_path / "model.pt"
    out.write_bytes(b"the user's file")
    code = main(["export", str(trained[1]), "--format", "torchscript", "--out", str(out)])
    assert code == 2 and out.read_bytes() == b"the user's file"
    assert f"{out} exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
    assert main(["export", str(trained[1]), "--format", "torchscript", "--out", str(out), "--overwrite"]) == 0
    assert read_export_metadata(out)["format"] == "torchscript"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_a_folder_or_unknown_format_is_refused(trained, tmp_path):
    with pytest.raises(ConfigError, match=rf"--out {tmp_path} is a folder"):
        export_model(trained[1], tmp_path)
    with pytest.raises(ConfigError, match="format must be one of onnx, torchscript; got 'tflite'"):
        export_model(trained[1], tmp_path / "m", format="tflite")


def test_the_deploy_pages_numpy_answer_rule_and_clean_up_are_isicsegs(monkeypatch):
    import runpy
    from pathlib import Path

    from isicseg.inference import answer_from_detections, clean_mask

    monkeypatch.setenv("MPLBACKEND", "agg")
    page = runpy.run_path(str(Path(__file__).parents[2] / "examples" / "gallery" / "plot_deploy_onnxruntime.py"))
    outputs, names, size = page["outputs"], page["metadata"]["outputs"], page["original_height_and_width"]
    expected = answer_from_detections(
        {k: torch.from_numpy(v) for k, v in zip(names, outputs)}, "binary", image_id="x", original_height_and_width=size
    )
    mask, box, probabilities = page["answer"](outputs, names, size)
    assert (
        mask.shape == expected.mask.shape and (mask != expected.mask).mean() < 0.002
    )  # Pillow's and torch's bilinear differ at a few edge pixels
    np.testing.assert_allclose(box, expected.box, rtol=1e-5)
    assert probabilities["melanoma"] == pytest.approx(expected.probabilities["melanoma"])
    rng = np.random.default_rng(1)
    for _ in range(5):
        noisy = rng.random((40, 50)) > 0.55
        np.testing.assert_array_equal(page["clean_mask"](noisy), clean_mask(noisy))


def test_read_export_metadata_refuses_a_missing_foreign_or_unmarked_file(trained, tmp_path):
    with pytest.raises(WeightsError, match=rf"Exported model {tmp_path / 'none.onnx'} does not exist"):
        read_export_metadata(tmp_path / "none.onnx")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(WeightsError, match="is neither a TorchScript nor an ONNX model"):
        read_export_metadata(tmp_path / "notes.txt")
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("a.txt", "x")
    with pytest.raises(WeightsError, match="is a zip file but not a TorchScript model"):
        read_export_metadata(tmp_path / "other.zip")
    plain = torch.jit.trace(torch.nn.Linear(2, 2), torch.rand(1, 2))
    plain.save(str(tmp_path / "plain.pt"))
    with pytest.raises(WeightsError, match="holds no isicseg metadata"):
        read_export_metadata(tmp_path / "plain.pt")

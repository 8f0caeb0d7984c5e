from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from isicseg import build_mask_rcnn
from isicseg.exceptions import ConfigError, UnknownNameError, WeightsError, WeightsNotFoundError
from isicseg.models import BACKBONES, BackboneSpec, cached_weights_path, list_backbones

LIGHT = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 96}


def norm_types(model):
    return {
        type(m)
        for m in model.backbone.body.modules()
        if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, FrozenBatchNorm2d))
    }


def test_backbones_registered():
    assert {"resnet50_fpn", "resnet50_fpn_v2", "resnet18_fpn", "mobilenet_v3_large_fpn"} <= set(list_backbones())


@pytest.mark.parametrize("bad", [1, 0, 2.0, True, "3", 10**9])
def test_num_classes_validated(bad):
    with pytest.raises(ConfigError, match=r"num_classes must be an int in 2..10,000 that counts the background"):
        build_mask_rcnn(bad)


def test_unknown_backbone_lists_available():
    with pytest.raises(
        UnknownNameError, match=r"Unknown backbone 'resnet5'. Available: .*resnet50_fpn.*Did you mean 'resnet50_fpn'"
    ):
        build_mask_rcnn(3, backbone="resnet5")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pretrained": 3}, r"pretrained must be 'coco', True, False, None, 'none' or a file path; got 3"),
        ({"norm": "layer"}, r"norm must be one of 'auto', 'frozen_bn', 'bn', 'gn'; got 'layer'"),
        ({"trainable_layers": 7}, r"trainable_layers must lie in 0..5 for 'resnet18_fpn'; got 7"),
        ({"trainable_layers": 3}, r"Without pretrained weights every backbone layer must train"),
        (
            {"pretrained": "coco"},
            r"Backbone 'resnet18_fpn' has no COCO weights; backbones with COCO weights: resnet50_fpn, resnet50_fpn_v2",
        ),
    ],
)
def test_argument_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_mask_rcnn(3, **{**LIGHT, **kwargs})


def test_scratch_model_uses_groupnorm_and_trains_everything():
    model = build_mask_rcnn(3, **LIGHT)
    assert norm_types(model) == {nn.GroupNorm}
    assert all(p.requires_grad for p in model.backbone.parameters())
    assert model.identity.norm == "gn" and model.identity.pretrained == "none"


def test_plain_batchnorm_warns():
    with pytest.warns(UserWarning, match="norm='bn' without pretrained weights"):
        model = build_mask_rcnn(3, norm="bn", **LIGHT)
    assert norm_types(model) == {nn.BatchNorm2d}


@pytest.mark.parametrize("backbone", ["resnet18_fpn", "mobilenet_v3_large_fpn"])
def test_forward_backward_smoke(backbone):
    torch.manual_seed(0)
    model = build_mask_rcnn(4, backbone=backbone, min_size=64, max_size=96)
    mask = torch.zeros(1, 60, 80, dtype=torch.uint8)
    mask[0, 10:40, 20:60] = 1
    target = {"boxes": torch.tensor([[20.0, 10.0, 60.0, 40.0]]), "labels": torch.tensor([3]), "masks": mask}
    model.train()
    losses = model([torch.rand(3, 60, 80)], [target])
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.roi_heads.mask_predictor.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        (out,) = model([torch.rand(3, 60, 80)])
    assert out["masks"].shape[1:] == (1, 60, 80)
    assert model.roi_heads.box_predictor.cls_score.out_features == 4
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 4


def test_min_and_max_size_reach_the_model():
    model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=(64, 80), max_size=120)
    assert model.transform.min_size == (64, 80) and model.transform.max_size == 120


@pytest.mark.parametrize("resolution", [28, 56])
def test_mask_resolution_sets_the_mask_heads_grid_in_training_and_eval_and_survives_a_checkpoint(resolution, tmp_path):
    from isicseg import load_model

    torch.manual_seed(0)
    model = build_mask_rcnn(3, mask_resolution=resolution, **LIGHT)
    grids = []
    model.roi_heads.mask_predictor.register_forward_hook(lambda module, args, out: grids.append(out.shape[-2:]))
    mask = torch.zeros(1, 64, 80, dtype=torch.uint8)
    mask[0, 10:40, 20:60] = 1
    target = {"boxes": torch.tensor([[20.0, 10.0, 60.0, 40.0]]), "labels": torch.tensor([2]), "masks": mask}
    image = torch.rand(3, 64, 80)
    model.train()
    losses = model([image], [target])
    assert torch.isfinite(losses["loss_mask"])  # the 64x80 target was projected onto the finer grid
    model.eval()
    with torch.no_grad():
        (out,) = model([image])
    assert grids == [(resolution, resolution)] * 2 and out["masks"].shape[-2:] == (64, 80)
    path = tmp_path / "model.pt"
    torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, path)
    loaded = load_model(path).eval()
    assert loaded.identity.mask_resolution == resolution
    with torch.no_grad():
        torch.testing.assert_close(loaded([image])[0]["masks"], out["masks"])
    old = model.identity.to_dict()
    del old["mask_resolution"]  # a file written before the setting existed: torchvision's grid
    torch.save({"model": model.state_dict(), "identity": old}, path)
    assert load_model(path).roi_heads.mask_roi_pool.output_size == (14, 14)


@pytest.mark.parametrize("bad", [27, 30.0, 8, 114, True, "56"])
def test_a_mask_resolution_that_is_not_an_even_int_in_14_to_112_is_refused_with_the_allowed_range(bad, tmp_path):
    from isicseg import load_model
    from isicseg.config import ModelConfig

    allowed = r"must be an even int in 14..112 \(the side of the mask head's output grid: 28 is torchvision's"
    with pytest.raises(ConfigError, match=rf"^mask_resolution {allowed}.*; got {bad!r}\.$"):
        build_mask_rcnn(3, mask_resolution=bad, **LIGHT)
    with pytest.raises(ConfigError, match=r"^ModelConfig.mask_resolution "):
        ModelConfig(mask_resolution=bad)
    model = build_mask_rcnn(3, **LIGHT)
    path = tmp_path / "model.pt"
    torch.save({"model": model.state_dict(), "identity": {**model.identity.to_dict(), "mask_resolution": bad}}, path)
    with pytest.raises(ConfigError, match=rf"^mask_resolution in {path} {allowed}"):
        load_model(path)


# --- weights -------------------------------------------------------------------------------


def coco_like(backbone="resnet50_fpn"):
    """A model of torchvision's COCO shape (91 classes, frozen BN) with recognisable weights."""
    torch.manual_seed(1)
    model = BACKBONES.get(backbone).build(
        91, norm_layer=FrozenBatchNorm2d, head_norm_layer=nn.BatchNorm2d, trainable_layers=3
    )
    with torch.no_grad():
        model.backbone.fpn.layer_blocks[0][0].weight.fill_(0.125)
    return model.state_dict()


def test_coco_weights_from_torch_home_cache(torch_home):
    spec = BACKBONES.get("resnet50_fpn")
    path = cached_weights_path(spec.coco_weights)
    assert "torch" in str(path) and path.name == "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    path.parent.mkdir(parents=True)
    state = coco_like()
    torch.save(state, path)
    model = build_mask_rcnn(3, pretrained="coco", min_size=64, max_size=96)
    assert torch.equal(model.backbone.fpn.layer_blocks[0][0].weight, state["backbone.fpn.layer_blocks.0.0.weight"])
    assert torch.equal(model.backbone.body.layer4[0].conv1.weight, state["backbone.body.layer4.0.conv1.weight"])
    assert model.roi_heads.box_predictor.cls_score.out_features == 3  # predictors replaced
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3
    assert norm_types(model) == {FrozenBatchNorm2d}
    assert not any(p.requires_grad for p in model.backbone.body.conv1.parameters())  # 3 trainable stages
    assert all(p.requires_grad for p in model.backbone.body.layer4.parameters())
    assert torch_home == []  # nothing was downloaded


def test_offline_without_cache_says_what_to_do(torch_home):
    with pytest.raises(WeightsNotFoundError) as info:
        build_mask_rcnn(3, pretrained=True, min_size=64, max_size=96)
    message = str(info.value)
    assert "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth are not in torchvision's cache" in message
    assert "the download failed: URLError" in message
    assert "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth" in message
    assert "pretrained=False" in message
    assert len(torch_home) == 1  # it did try (and the test's stand-in refused)


def test_download_false_never_tries(torch_home):
    with pytest.raises(WeightsNotFoundError, match=r"downloading is switched off \(download=False\)"):
        build_mask_rcnn(3, pretrained="coco", backbone="resnet50_fpn_v2", download=False)
    assert torch_home == []


def test_v2_coco_norms_match_torchvision(torch_home):
    spec = BACKBONES.get("resnet50_fpn_v2")
    path = cached_weights_path(spec.coco_weights)
    path.parent.mkdir(parents=True)
    torch.save(coco_like("resnet50_fpn_v2"), path)
    model = build_mask_rcnn(3, pretrained="coco", backbone="resnet50_fpn_v2", min_size=64, max_size=96)
    assert norm_types(model) == {FrozenBatchNorm2d}
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.roi_heads.mask_head.modules())


def test_coco_refuses_other_norm(torch_home):
    with pytest.raises(ConfigError, match="COCO weights need norm='frozen_bn'"):
        build_mask_rcnn(3, pretrained="coco", norm="gn")


def test_local_state_dict_and_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    source = build_mask_rcnn(3, **LIGHT)
    plain = tmp_path / "plain.pth"
    torch.save(source.state_dict(), plain)
    loaded = build_mask_rcnn(3, pretrained=plain, **LIGHT)
    for key, value in source.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    checkpoint = tmp_path / "ckpt.pt"
    torch.save({"model": source.state_dict(), "identity": source.identity.to_dict(), "epoch": 3}, checkpoint)
    again = build_mask_rcnn(3, pretrained=checkpoint, **LIGHT)
    assert torch.equal(again.roi_heads.box_predictor.cls_score.weight, source.roi_heads.box_predictor.cls_score.weight)
    assert again.identity.pretrained == str(checkpoint) and again.identity.norm == "gn"
    # a trained model's predictors are its answers: another class count is refused, not re-initialised
    with pytest.raises(
        WeightsError,
        match=rf"Weights from {plain} are for a model with 3 classes \(background included\), but num_classes=5 was asked for",
    ):
        build_mask_rcnn(5, pretrained=plain, **LIGHT)


class Payload:
    def __reduce__(self):
        return (print, ("this would run code",))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (Payload(), r"could not be loaded with weights_only=True .* never pickled code"),
        ([1, 2, 3], r"holds list, not a state dict"),
    ],
)
def test_unsafe_or_wrong_files_are_refused(tmp_path, content, match):
    path = tmp_path / "bad.pth"
    torch.save(content, path)
    with pytest.raises(WeightsError, match=match):
        build_mask_rcnn(3, pretrained=path, **LIGHT)


def test_missing_and_mismatched_files(tmp_path):
    with pytest.raises(WeightsNotFoundError, match=r"Weight file .*nope.pth does not exist"):
        build_mask_rcnn(3, pretrained=tmp_path / "nope.pth", **LIGHT)
    path = tmp_path / "mobile.pth"
    mobile = build_mask_rcnn(3, backbone="mobilenet_v3_large_fpn", min_size=64)
    torch.save({"model": mobile.state_dict(), "identity": mobile.identity.to_dict()}, path)
    with pytest.raises(
        WeightsError, match=r"holds a 'mobilenet_v3_large_fpn' model, but backbone='resnet18_fpn' was asked for"
    ):
        build_mask_rcnn(3, pretrained=path, **LIGHT)
    torch.save(mobile.state_dict(), path)
    with pytest.raises(WeightsError, match=r"do not fit the model: .*Check backbone= and norm="):
        build_mask_rcnn(3, pretrained=path, **LIGHT)


def test_user_backbone_through_registry():
    spec = BACKBONES.get("resnet18_fpn")
    BACKBONES.register("my_backbone", BackboneSpec(spec.build, description="test"))
    try:
        model = build_mask_rcnn(3, backbone="my_backbone", min_size=64)
        assert model.identity.backbone == "my_backbone"
    finally:
        BACKBONES.unregister("my_backbone")


def test_mask_resolution_is_refused_for_a_plugin_model_without_torchvisions_mask_pooling():
    spec = BACKBONES.get("resnet18_fpn")

    def build(*args, **kwargs):
        model = spec.build(*args, **kwargs)
        model.roi_heads.mask_roi_pool = nn.AdaptiveAvgPool2d(14)  # a plugin's own pooling
        return model

    BACKBONES.register("own_pooling", BackboneSpec(build, description="test"))
    try:
        assert build_mask_rcnn(3, backbone="own_pooling", min_size=64).identity.mask_resolution == 28
        with pytest.raises(
            ConfigError,
            match=r"^mask_resolution=56 needs a Mask R-CNN whose roi_heads.mask_roi_pool is torchvision's "
            r"MultiScaleRoIAlign; this backbone's model has AdaptiveAvgPool2d\. Keep mask_resolution=28\.$",
        ):
            build_mask_rcnn(3, backbone="own_pooling", min_size=64, mask_resolution=56)
    finally:
        BACKBONES.unregister("own_pooling")


def test_weights_that_do_not_fit(tmp_path):
    state = build_mask_rcnn(3, **LIGHT).state_dict()
    wrong_shape = dict(state)
    wrong_shape["backbone.body.conv1.weight"] = torch.zeros(8, 3, 7, 7)
    torch.save(wrong_shape, tmp_path / "a.pt")
    with pytest.raises(
        WeightsError,
        match=r"1 tensors differ in shape, e.g. backbone.body.conv1.weight is \(8, 3, 7, 7\) in the file but \(64, 3, 7, 7\)",
    ):
        build_mask_rcnn(3, pretrained=tmp_path / "a.pt", **LIGHT)
    missing = {k: v for k, v in state.items() if not k.startswith("backbone.fpn.")}
    torch.save(missing, tmp_path / "b.pt")
    with pytest.raises(WeightsError, match=r"tensors missing \(e.g. \['backbone.fpn"):
        build_mask_rcnn(3, pretrained=tmp_path / "b.pt", **LIGHT)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"min_size": 0},
            r"min_size must be an int .* in 16..4096, with max_size >= min_size; got min_size=0, max_size=96",
        ),
        ({"min_size": 64.5}, r"got min_size=64.5"),
        ({"min_size": 128, "max_size": 96}, r"got min_size=128, max_size=96"),
        (
            {"rpn_pre_nms_top_n_tst": 10},
            r"Unknown keyword arguments to build_mask_rcnn: 'rpn_pre_nms_top_n_tst' \(did you mean 'rpn_pre_nms_top_n_test'\?\)",
        ),
        (
            {"colour": 1},
            r"Unknown keyword arguments to build_mask_rcnn: 'colour'\. It passes on torchvision MaskRCNN's options: .*box_detections_per_img",
        ),
    ],
)
def test_build_mask_rcnn_refuses_bad_sizes_and_unknown_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_mask_rcnn(3, **{**LIGHT, **kwargs})


@pytest.mark.parametrize("content", [b"hello\n", b"<html>Not Found</html>", b""])
def test_a_file_that_is_not_weights_is_a_clear_error(tmp_path, content):
    from isicseg import load_model

    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=rf"Weight file {path} could not be loaded with weights_only=True"):
        load_model(path)
    with pytest.raises(WeightsError, match=rf"Weight file {path} could not be loaded"):
        build_mask_rcnn(3, path, **LIGHT)

"""ImageNet backbone weights through torchvision's weights enums and the TORCH_HOME cache."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import ResNet18_Weights
from torchvision.ops.misc import FrozenBatchNorm2d

from isicseg import build_mask_rcnn
from isicseg.exceptions import ConfigError, WeightsError, WeightsNotFoundError
from isicseg.models import BACKBONES, BackboneSpec, cached_weights_path

SMALL = {"min_size": 64, "max_size": 64}


def test_mobilenet_v2_body_is_torchvisions_imagenet_network(imagenet_home):
    model = build_mask_rcnn(3, backbone="mobilenet_v2_fpn", backbone_weights="imagenet", **SMALL)
    reference = torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1").features.eval()  # reads the same cached file
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        body = model.backbone.body.eval()(x)
        stages, h = {}, x
        for index, layer in enumerate(reference):
            h = stages[index] = layer(h)
    assert list(body) == ["0", "1"]  # torchvision's FPN MobileNet returns its last two stages
    torch.testing.assert_close(body["0"], stages[14], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(body["1"], stages[18], rtol=1e-4, atol=1e-5)
    assert len(model.backbone(x)) == 3  # 3 feature maps, one anchor generator level each
    assert model.rpn.anchor_generator.num_anchors_per_location() == [15, 15, 15]


def test_pretrained_backbone_uses_frozen_batchnorm_and_three_trainable_stages(imagenet_home):
    model = build_mask_rcnn(3, backbone="mobilenet_v2_fpn", backbone_weights="imagenet", **SMALL)
    assert {
        type(m)
        for m in model.backbone.body.modules()
        if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, FrozenBatchNorm2d))
    } == {FrozenBatchNorm2d}
    assert model.identity.norm == "frozen_bn" and model.identity.trainable_layers == 3
    assert model.identity.pretrained == "backbone:imagenet"
    frozen = [name for name, p in model.backbone.body.named_parameters() if not p.requires_grad]
    assert frozen and frozen[0].startswith("0.")  # the stem is frozen, as torchvision does
    override = build_mask_rcnn(3, backbone="mobilenet_v2_fpn", backbone_weights="imagenet", norm="bn", **SMALL)
    assert any(isinstance(m, nn.BatchNorm2d) for m in override.backbone.body.modules())


def test_local_file_equals_cached_imagenet(imagenet_home):
    a = build_mask_rcnn(3, backbone="mobilenet_v2_fpn", backbone_weights="imagenet", **SMALL)
    b = build_mask_rcnn(3, backbone="mobilenet_v2_fpn", backbone_weights=imagenet_home, **SMALL)
    for (key, x), y in zip(a.backbone.body.state_dict().items(), b.backbone.body.state_dict().values()):
        assert torch.equal(x, y), key


def test_resnet_body_loaded_from_its_enum(torch_home):
    path = cached_weights_path(ResNet18_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    torch.manual_seed(3)
    classifier = torchvision.models.resnet18()
    torch.save(classifier.state_dict(), path)  # a stand-in for the real file, same keys
    model = build_mask_rcnn(3, backbone="resnet18_fpn", backbone_weights="imagenet", **SMALL)
    assert torch.equal(model.backbone.body.layer4[1].conv2.weight, classifier.layer4[1].conv2.weight)
    assert torch.equal(model.backbone.body.bn1.running_var, classifier.bn1.running_var)
    assert torch_home == []


def test_missing_imagenet_file_says_what_to_do(torch_home):
    with pytest.raises(WeightsNotFoundError) as info:
        build_mask_rcnn(3, backbone="mobilenet_v2_fpn", backbone_weights="imagenet", **SMALL)
    message = str(info.value)
    assert "ImageNet weights mobilenet_v2-b0353104.pth are not in torchvision's cache" in message
    assert "hub/checkpoints" in message and "the download failed: URLError" in message
    assert "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth" in message


def test_weights_of_another_architecture_refused(imagenet_home):
    with pytest.raises(
        WeightsError,
        match=r"Backbone weights from .*mobilenet_v2-b0353104.pth do not fit the backbone: \d+ tensors missing",
    ):
        build_mask_rcnn(3, backbone="resnet18_fpn", backbone_weights=imagenet_home, **SMALL)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"backbone_weights": "imagenet", "norm": "gn"},
            r"ImageNet backbone weights need norm='frozen_bn' or 'bn'.*got norm='gn'",
        ),
        (
            {"backbone_weights": "imagenet", "pretrained": "coco"},
            r"Pass either pretrained= .* or backbone_weights= .*not both",
        ),
        ({"backbone_weights": 3}, r"backbone_weights must be 'imagenet', None, 'none' or a file path; got 3"),
    ],
)
def test_backbone_weight_argument_errors(kwargs, match, torch_home):
    with pytest.raises(ConfigError, match=match):
        build_mask_rcnn(3, backbone="resnet18_fpn", **SMALL, **kwargs)


def test_backbone_without_imagenet_weights_says_which_have_them(torch_home):
    BACKBONES.register("no_imagenet", BackboneSpec(BACKBONES.get("resnet18_fpn").build))
    try:
        with pytest.raises(
            ConfigError,
            match=r"Backbone 'no_imagenet' has no ImageNet weights; backbones with ImageNet weights: .*mobilenet_v2_fpn",
        ):
            build_mask_rcnn(3, backbone="no_imagenet", backbone_weights="imagenet", **SMALL)
    finally:
        BACKBONES.unregister("no_imagenet")


def test_none_strings_mean_no_weights():
    model = build_mask_rcnn(
        3, pretrained="none", backbone_weights="none", classifier="none", backbone="resnet18_fpn", **SMALL
    )
    assert model.identity.pretrained == "none" and model.identity.norm == "gn"
    assert not hasattr(model, "classifier")

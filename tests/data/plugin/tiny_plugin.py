"""A third-party isicseg plugin as a user would write it: a tiny backbone."""

from collections import OrderedDict

from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign

from isicseg.models import BackboneSpec


class TinyConvNet(nn.Module):
    out_channels = 32

    def __init__(self, norm_layer):
        super().__init__()
        layers = []
        channels = 3
        for out in (16, 32, 32):
            layers += [
                nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False),
                norm_layer(out),
                nn.ReLU(inplace=True),
            ]
            channels = out
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return OrderedDict([("0", self.body(x))])


def build(num_classes, *, norm_layer, head_norm_layer, trainable_layers, **kwargs):
    return MaskRCNN(
        TinyConvNet(norm_layer),
        num_classes,
        rpn_anchor_generator=AnchorGenerator(((16, 32, 64),), ((0.5, 1.0, 2.0),)),
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
        mask_roi_pool=MultiScaleRoIAlign(["0"], 14, 2),
        **kwargs,
    )


TINY_CONVNET = BackboneSpec(build, description="three strided convolutions (test plugin)")

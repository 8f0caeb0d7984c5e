"""Write the Sphinx inventories (objects.inv, format 2) that docs/conf.py uses for
cross-links, so the site builds without internet. Each entry names an object and its
page on the project's real documentation site; add entries here when a new reference
appears and run ``python docs/_inventories/make_inventories.py``.
"""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).parent

# name: (domain:role, path relative to the site root, including the anchor)
INVENTORIES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "python": (
        "Python",
        {
            **{
                name: ("py:class", f"library/functions.html#{name}")
                for name in (
                    "int",
                    "float",
                    "str",
                    "bool",
                    "dict",
                    "list",
                    "tuple",
                    "object",
                    "type",
                    "bytes",
                    "set",
                    "frozenset",
                )
            },
            "None": ("py:data", "library/constants.html#None"),
            "Exception": ("py:exception", "library/exceptions.html#Exception"),
            "ValueError": ("py:exception", "library/exceptions.html#ValueError"),
            "KeyError": ("py:exception", "library/exceptions.html#KeyError"),
            "FileNotFoundError": ("py:exception", "library/exceptions.html#FileNotFoundError"),
            "FloatingPointError": ("py:exception", "library/exceptions.html#FloatingPointError"),
            "BaseException": ("py:exception", "library/exceptions.html#BaseException"),
            "UserWarning": ("py:exception", "library/exceptions.html#UserWarning"),
            "pathlib.Path": ("py:class", "library/pathlib.html#pathlib.Path"),
            "Path": ("py:class", "library/pathlib.html#pathlib.Path"),
            "typing.Any": ("py:data", "library/typing.html#typing.Any"),
            "typing.Literal": ("py:data", "library/typing.html#typing.Literal"),
            "typing.Generic": ("py:class", "library/typing.html#typing.Generic"),
            "typing.TextIO": ("py:class", "library/typing.html#typing.TextIO"),
            "collections.abc.Callable": ("py:class", "library/collections.abc.html#collections.abc.Callable"),
            "collections.abc.Sequence": ("py:class", "library/collections.abc.html#collections.abc.Sequence"),
            "collections.abc.Iterable": ("py:class", "library/collections.abc.html#collections.abc.Iterable"),
            "collections.abc.Iterator": ("py:class", "library/collections.abc.html#collections.abc.Iterator"),
            "collections.abc.Mapping": ("py:class", "library/collections.abc.html#collections.abc.Mapping"),
        },
    ),
    "torch": (
        "PyTorch",
        {
            "torch.Tensor": ("py:class", "tensors.html#torch.Tensor"),
            "torch.device": ("py:class", "tensor_attributes.html#torch.device"),
            "torch.Generator": ("py:class", "generated/torch.Generator.html#torch.Generator"),
            "torch.nn.Module": ("py:class", "generated/torch.nn.Module.html#torch.nn.Module"),
            "torch.nn.modules.module.Module": ("py:class", "generated/torch.nn.Module.html#torch.nn.Module"),
            "torch.utils.data.dataset.Dataset": ("py:class", "data.html#torch.utils.data.Dataset"),
            "torch.utils.data.sampler.Sampler": ("py:class", "data.html#torch.utils.data.Sampler"),
            "torch.utils.data.dataloader.DataLoader": ("py:class", "data.html#torch.utils.data.DataLoader"),
            "torch.nn.GroupNorm": ("py:class", "generated/torch.nn.GroupNorm.html#torch.nn.GroupNorm"),
            "torch.nn.modules.normalization.GroupNorm": (
                "py:class",
                "generated/torch.nn.GroupNorm.html#torch.nn.GroupNorm",
            ),
            "torch.optim.Optimizer": ("py:class", "optim.html#torch.optim.Optimizer"),
            "torch.utils.data.Dataset": ("py:class", "data.html#torch.utils.data.Dataset"),
            "torch.utils.data.DataLoader": ("py:class", "data.html#torch.utils.data.DataLoader"),
            "torch.utils.data.Sampler": ("py:class", "data.html#torch.utils.data.Sampler"),
            "torch.optim.lr_scheduler.LambdaLR": ("py:class", "generated/torch.optim.lr_scheduler.LambdaLR.html"),
            "torch.amp.GradScaler": ("py:class", "amp.html#torch.amp.GradScaler"),
        },
    ),
    "torchvision": (
        "torchvision",
        {
            "torchvision.models.detection.MaskRCNN": ("py:class", "models/mask_rcnn.html"),
            "torchvision.models.detection.mask_rcnn.MaskRCNN": ("py:class", "models/mask_rcnn.html"),
            "torchvision.transforms.v2._container.Compose": (
                "py:class",
                "generated/torchvision.transforms.v2.Compose.html#torchvision.transforms.v2.Compose",
            ),
            "torchvision.transforms.v2._transform.Transform": (
                "py:class",
                "generated/torchvision.transforms.v2.Transform.html#torchvision.transforms.v2.Transform",
            ),
            "torchvision.models.WeightsEnum": ("py:class", "models.html"),
            "torchvision.models._api.WeightsEnum": ("py:class", "models.html"),
            "torchvision.tv_tensors.Image": (
                "py:class",
                "generated/torchvision.tv_tensors.Image.html#torchvision.tv_tensors.Image",
            ),
            "torchvision.tv_tensors.Mask": (
                "py:class",
                "generated/torchvision.tv_tensors.Mask.html#torchvision.tv_tensors.Mask",
            ),
            "torchvision.tv_tensors.BoundingBoxes": (
                "py:class",
                "generated/torchvision.tv_tensors.BoundingBoxes.html#torchvision.tv_tensors.BoundingBoxes",
            ),
            "torchvision.transforms.v2.Transform": (
                "py:class",
                "generated/torchvision.transforms.v2.Transform.html#torchvision.transforms.v2.Transform",
            ),
            "torchvision.transforms.v2.Compose": (
                "py:class",
                "generated/torchvision.transforms.v2.Compose.html#torchvision.transforms.v2.Compose",
            ),
            "torchvision.transforms.v2.Resize": (
                "py:class",
                "generated/torchvision.transforms.v2.Resize.html#torchvision.transforms.v2.Resize",
            ),
            "torchvision.transforms.v2": ("py:module", "transforms.html"),
            "torchvision.ops.masks_to_boxes": (
                "py:function",
                "generated/torchvision.ops.masks_to_boxes.html#torchvision.ops.masks_to_boxes",
            ),
            "torchvision.ops.box_iou": (
                "py:function",
                "generated/torchvision.ops.box_iou.html#torchvision.ops.box_iou",
            ),
        },
    ),
    "numpy": (
        "NumPy",
        {
            "numpy.ndarray": ("py:class", "reference/generated/numpy.ndarray.html#numpy.ndarray"),
            "numpy.random.Generator": ("py:class", "reference/random/generator.html#numpy.random.Generator"),
            "numpy.random._generator.Generator": ("py:class", "reference/random/generator.html#numpy.random.Generator"),
        },
    ),
    "PIL": ("Pillow", {"PIL.Image.Image": ("py:class", "reference/Image.html#PIL.Image.Image")}),
    "pandas": ("pandas", {"pandas.DataFrame": ("py:class", "reference/api/pandas.DataFrame.html#pandas.DataFrame")}),
}


def write(name: str, project: str, entries: dict[str, tuple[str, str]]) -> None:
    header = f"# Sphinx inventory version 2\n# Project: {project}\n# Version: \n# The remainder of this file is compressed using zlib.\n"
    body = "".join(f"{obj} {role} 1 {uri} -\n" for obj, (role, uri) in sorted(entries.items()))
    (HERE / f"{name}.inv").write_bytes(header.encode() + zlib.compress(body.encode()))


if __name__ == "__main__":
    for key, (project, entries) in INVENTORIES.items():
        write(key, project, entries)

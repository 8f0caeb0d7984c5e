"""isicseg: fine-tune torchvision's Mask R-CNN on ISIC 2017 skin-lesion data.

The public facade re-exports the names most scripts need::

    from isicseg import ISIC2017Dataset, build_mask_rcnn
"""

from importlib.metadata import PackageNotFoundError, version

from .data import ISIC2017Dataset as ISIC2017Dataset
from .data import LabelScheme as LabelScheme
from .data import check_dataset as check_dataset
from .data import write_synthetic_isic as write_synthetic_isic
from .exceptions import IsicsegError as IsicsegError
from .models import build_mask_rcnn as build_mask_rcnn
from .models import list_backbones as list_backbones
from .transforms import get_transform as get_transform

try:
    __version__ = version("isicseg")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "ISIC2017Dataset",
    "LabelScheme",
    "IsicsegError",
    "build_mask_rcnn",
    "check_dataset",
    "get_transform",
    "list_backbones",
    "write_synthetic_isic",
    "__version__",
]

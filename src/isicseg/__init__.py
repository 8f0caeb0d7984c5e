"""isicseg: fine-tune torchvision's Mask R-CNN on ISIC 2017 skin-lesion data.

The public facade re-exports the names most scripts need::

    from isicseg import ISIC2017Dataset, build_mask_rcnn
"""

from ._version import __version__ as __version__
from .checkpoint import read_checkpoint as read_checkpoint
from .data import HAM10000Dataset as HAM10000Dataset
from .data import ISIC2017Dataset as ISIC2017Dataset
from .data import LabelScheme as LabelScheme
from .data import check_dataset as check_dataset
from .data import write_synthetic_isic as write_synthetic_isic
from .engine import Trainer as Trainer
from .engine import TrainerConfig as TrainerConfig

# the wiring of the layers: a Trainer validating on ISIC data scores it as evaluate() does
from .engine.validation import register_default_evaluator as _register_default_evaluator
from .evaluation import IsicEvaluator as _IsicEvaluator
from .evaluation import evaluate as evaluate
from .exceptions import IsicsegError as IsicsegError
from .export import export_model as export_model
from .inference import InferenceConfig as InferenceConfig
from .inference import predict as predict
from .models import build_mask_rcnn as build_mask_rcnn
from .models import list_backbones as list_backbones
from .models import load_model as load_model
from .transforms import get_transform as get_transform

_register_default_evaluator(ISIC2017Dataset, _IsicEvaluator)

__all__ = [
    "HAM10000Dataset",
    "ISIC2017Dataset",
    "InferenceConfig",
    "IsicsegError",
    "LabelScheme",
    "Trainer",
    "TrainerConfig",
    "build_mask_rcnn",
    "check_dataset",
    "evaluate",
    "export_model",
    "get_transform",
    "list_backbones",
    "load_model",
    "read_checkpoint",
    "predict",
    "write_synthetic_isic",
    "__version__",
]

"""Reading ISIC 2017 and HAM10000 data: the datasets, label schemes, the official layouts, group-aware splits and
synthetic data."""

from ..labels import LABEL_SCHEMES as LABEL_SCHEMES
from ..labels import LabelScheme as LabelScheme
from ..labels import get_label_scheme as get_label_scheme
from ..labels import list_label_schemes as list_label_schemes
from .check import CheckReport as CheckReport
from .check import check_dataset as check_dataset
from .dataset import ISIC2017Dataset as ISIC2017Dataset
from .dataset import make_target as make_target
from .ham10000 import HAM10000Dataset as HAM10000Dataset
from .layout import SPLITS as SPLITS
from .layout import read_ground_truth as read_ground_truth
from .layout import split_paths as split_paths
from .sources import MultiSourceDataset as MultiSourceDataset
from .synthetic import write_synthetic_isic as write_synthetic_isic

__all__ = [
    "CheckReport",
    "HAM10000Dataset",
    "ISIC2017Dataset",
    "LABEL_SCHEMES",
    "LabelScheme",
    "MultiSourceDataset",
    "SPLITS",
    "check_dataset",
    "get_label_scheme",
    "list_label_schemes",
    "make_target",
    "read_ground_truth",
    "split_paths",
    "write_synthetic_isic",
]

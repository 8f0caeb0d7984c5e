"""Run under torchrun by test_distributed.py: only rank 1 sees a NaN loss (its first image).

torchrun --nproc_per_node 2 ddp_nonfinite_script.py DATA_ROOT OUT_DIR skip|raise
"""

import json
import sys

import torch

from isicseg import ISIC2017Dataset, build_mask_rcnn
from isicseg.engine import Trainer, TrainerConfig
from isicseg.engine import distributed as dist
from isicseg.exceptions import NonFiniteLossError
from isicseg.models import FEW_PROPOSALS

torch.set_num_threads(1)
root, out, mode = sys.argv[1:4]
dist.init_distributed(torch.device("cpu"))
seen = []


def poison_first_on_rank_1(image, target):
    seen.append(target["image_id"])
    return (image * float("nan") if dist.rank() == 1 and len(seen) == 1 else image), target


train = ISIC2017Dataset(root, "train", image_size=64, subset=4, transforms=poison_first_on_rank_1)
torch.manual_seed(0)
model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=86, **FEW_PROPOSALS)
trainer = Trainer(
    TrainerConfig(
        epochs=1, batch_size=1, optimizer="sgd", lr=0.001, warmup_steps=0, device="cpu", skip_nonfinite=mode == "skip"
    )
)
try:
    history = trainer.fit(model, train)
    result = {"skipped": history[0]["skipped_batches"], "steps": trainer.global_step}
except NonFiniteLossError as error:
    result = {"raised": str(error)}
with open(f"{out}/{mode}{dist.rank()}.json", "w") as handle:
    json.dump(result, handle)
# no barrier, no explicit shutdown: the group init_distributed created closes at exit by itself

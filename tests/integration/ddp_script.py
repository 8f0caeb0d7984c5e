"""Run under torchrun by test_distributed.py:

torchrun --nproc_per_node 2 ddp_script.py DATA_ROOT WEIGHTS OUT_DIR
"""

import json
import sys
from pathlib import Path

import torch

from isicseg import ISIC2017Dataset, build_mask_rcnn
from isicseg.callbacks import EarlyStopping
from isicseg.engine import Trainer, TrainerConfig
from isicseg.engine import distributed as dist
from isicseg.models import FEW_PROPOSALS

torch.set_num_threads(1)
root, weights, out = sys.argv[1:4]
val = ISIC2017Dataset(root, "validation", image_size=64)
train = ISIC2017Dataset(root, "train", image_size=64, subset=4)
model = build_mask_rcnn(3, pretrained=weights, backbone="resnet18_fpn", min_size=64, max_size=86, **FEW_PROPOSALS)
trainer = Trainer(TrainerConfig(device="cpu", eval_batch_size=3))
dist.init_distributed(torch.device("cpu"))
metrics = trainer.validate(model, val)
stopper = EarlyStopping(monitor="train_loss", mode="max", patience=1)
fit_trainer = Trainer(
    TrainerConfig(
        epochs=3, batch_size=1, optimizer="sgd", lr=0.001, warmup_steps=0, device="cpu", out_dir=f"{out}/run"
    ),
    callbacks=[stopper],
)
history = fit_trainer.fit(model, train)
files_after_fit = sorted(p.name for p in Path(f"{out}/run").iterdir())  # rank 0 writes them; every rank sees them
result = {
    "rank": dist.rank(),
    "world_size": dist.world_size(),
    "metrics": metrics,
    "epochs_run": len(history),
    "files_after_fit": files_after_fit,
    "wrapper_released": fit_trainer.model is model,  # DDP's reducer is not kept until interpreter exit
}
with open(f"{out}/rank{dist.rank()}.json", "w") as handle:
    json.dump(result, handle)
dist.shutdown_distributed()
dist.shutdown_distributed()  # a second call is a no-op
assert not dist.is_distributed() and dist.world_size() == 1

"""A training run driven by the integration tests in a separate process.

python train_script.py DATA_ROOT OUT_DIR EPOCHS [RESUME]
"""

import sys

import torch

from isicseg import ISIC2017Dataset, build_mask_rcnn, get_transform
from isicseg.callbacks import EarlyStopping, ModelCheckpoint
from isicseg.engine import Trainer, TrainerConfig
from isicseg.models import FEW_PROPOSALS

torch.set_num_threads(2)
root, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
resume = sys.argv[4] if len(sys.argv) > 4 else None
train = ISIC2017Dataset(root, "train", image_size=64, subset=6, transforms=get_transform("train"))
val = ISIC2017Dataset(root, "validation", image_size=64, subset=2)
torch.manual_seed(0)
model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=86, **FEW_PROPOSALS)
config = TrainerConfig(
    epochs=epochs, batch_size=2, optimizer="sgd", lr=0.005, warmup_steps=3, schedule="cosine", out_dir=out, seed=7
)
callbacks = [ModelCheckpoint(monitor="val_loss", mode="min"), EarlyStopping(monitor="val_loss", patience=10)]
Trainer(config, callbacks=callbacks).fit(model, train, val, resume=resume)
torch.save(model.state_dict(), f"{out}/final.pt")
print("finished", flush=True)

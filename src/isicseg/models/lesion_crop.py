"""The ``lesion_crop`` heads: an ImageNet MobileNetV2 on the lesion crop and the whole image.

``lesion_crop`` keeps the MobileNetV2 frozen and fits a logistic regression on its pooled
features in closed form; ``lesion_crop_tuned`` fine-tunes its last blocks, with a linear
layer, by the detector's optimiser.

See :mod:`isicseg.models.heads` for how heads are called and registered.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2
from torchvision.ops import FrozenBatchNorm2d, roi_align

from .._numbers import check_number
from ..exceptions import ConfigError
from .heads import HEADS
from .weights import load_torchvision_state_dict

__all__ = ["LesionCropClassifier", "fit_logistic", "TUNED_BLOCKS"]


def fit_logistic(
    x: Tensor, y: Tensor, *, num_outputs: int, l2: float = 1.0, max_iter: int = 300
) -> tuple[Tensor, Tensor]:
    """Multinomial logistic regression with an L2 penalty, fitted by L-BFGS.

    Minimises ``mean cross-entropy + l2 / 2 * ||weight||^2`` (the bias is not penalised).

    Args:
        x: Features ``(n, d)``, best standardised.
        y: Labels ``(n,)`` in ``0 .. num_outputs - 1``.
        num_outputs: Number of classes.
        l2: Strength of the penalty.
        max_iter: L-BFGS iterations.

    Returns:
        ``(weight (num_outputs, d), bias (num_outputs,))``.

    Example:
        >>> x = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]]); y = torch.tensor([0, 0, 1, 1])
        >>> weight, bias = fit_logistic(x, y, num_outputs=2, l2=0.01)
        >>> (x @ weight.T + bias).argmax(1).tolist()
        [0, 0, 1, 1]
    """
    x, y = x.detach().float(), y.detach().long()
    weight = torch.zeros(num_outputs, x.shape[1], requires_grad=True)
    bias = torch.zeros(num_outputs, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + l2 * weight.pow(2).sum() / 2
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return weight.detach(), bias.detach()


_STAGES = (7, 14, 18, 19)  # MobileNetV2 blocks ending at strides 8, 16, 32 and its last 1x1 conv
_STAGE_CHANNELS = 32 + 96 + 320 + 1280
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_VIEWS = (1, 2, 4, 8)
TUNED_BLOCKS = 5
"""Blocks of MobileNetV2 the ``lesion_crop_tuned`` head fine-tunes: its stride-32 stage and last convolution."""


def _dihedral(x: Tensor, k: int) -> Tensor:
    """View ``k`` (0-7) of the dihedral group: ``k // 2`` quarter turns of the image (even ``k``) or of its mirror
    image (odd ``k``)."""
    x = x.flip(-1) if k % 2 else x
    turns = k // 2  # torch.rot90 spelled with flips and transposes, which ONNX can export
    if turns == 1:
        return x.flip(-1).transpose(-2, -1)
    if turns == 2:
        return x.flip(-2).flip(-1)
    return x.transpose(-2, -1).flip(-1) if turns == 3 else x


@HEADS.register("lesion_crop")
class LesionCropClassifier(nn.Module):
    """A frozen ImageNet MobileNetV2 on the lesion crop and the whole image, and a logistic regression.

    The lesion's box (with a margin) and the whole image are each resampled to
    ``crop_size`` pixels (torchvision's ``roi_align``), colour-corrected by shades of grey
    (each image's illuminant, the Minkowski ``p``-mean of each channel of its whole view,
    is divided out, a standard step for dermoscopy colour cues), run through MobileNetV2's
    frozen ImageNet features, and average-pooled after the stride-8, 16 and 32 blocks and
    the last convolution (1728 values per view, 3456 in all). In eval mode the features are
    averaged over the ``views`` dihedral turns and flips of both views (a lesion has no up
    or down; training sees them through augmentation). A multinomial logistic regression
    on the standardised features gives the logits.

    The regression is not trained by the detector's optimiser: in training mode the head
    keeps the features and labels of the images it sees (the augmented training images,
    up to ``max_samples``), and after each epoch the Trainer hands every process's
    :meth:`collected_samples` to :meth:`fit_samples`, which fits it in closed form (:func:`fit_logistic`). Why this
    design, with the
    cross-validation that chose it: the "Models" guide. The ImageNet weights come from torchvision's weights API
    (``MobileNet_V2_Weights.IMAGENET1K_V1``, ``TORCH_HOME`` cache).

    With ``trainable_blocks=k`` (the ``lesion_crop_tuned`` head: ``k = 5``, the stride-32
    stage and the last convolution) the head instead **fine-tunes** the last ``k`` blocks
    of MobileNetV2 on every labelled lesion it is shown: a linear layer (``linear``) on the
    same pooled features gives the logits, and both are trained by the detector's
    optimiser through ``loss_lesion_class`` (its BatchNorm layers stay frozen: batches of
    a few images cannot estimate their statistics). In training each batch's views are
    seen in one random dihedral view. There is then nothing to fit in closed form
    (:meth:`collected_samples` stays empty). Measured against the frozen head: the
    "Training on real data" guide.

    Args:
        in_channels: Unused (the head has its own feature extractor); part of the
            :data:`HEADS` factory signature.
        num_classes: Classes **including the background**; the head predicts the others.
        crop_size: Side of the resampled crop and whole-image view (8-1024 pixels).
        margin: Margin added around the box on each side, as a fraction of its size (0-2).
        jitter: In training, each box side moves by up to this fraction of the box size
            (the eval boxes are detections, not ground truth); 0-1.
        l2: Penalty of the logistic regression, >= 0 (chosen by cross-validation on training images).
        max_samples: Most feature rows kept for the fit (the newest are kept); >= 1.
        color_power: ``p`` of the shades-of-grey colour constancy (0: off; at most 64). Saved with
            the model (a buffer), so a checkpoint is read the way it was fitted.
        views: Dihedral views averaged in eval mode, the first ``views`` of: itself, its
            mirror image, then both turned by one, two and three quarter turns (1: none; 8: all).
        trainable_blocks: Last blocks of MobileNetV2 fine-tuned, with a linear layer, by the
            optimiser (0: all frozen, the regression fitted in closed form; at most 19).

    Example:
        >>> head = LesionCropClassifier(0, 3, crop_size=64)
        >>> images = torch.rand(2, 3, 96, 96)
        >>> boxes = [torch.tensor([10.0, 10, 50, 60]), None]
        >>> head({}, images=images, image_sizes=[(96, 96), (80, 96)], boxes=boxes).shape
        torch.Size([2, 2])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        crop_size: int = 224,
        margin: float = 0.15,
        jitter: float = 0.1,
        l2: float = 1.0,
        max_samples: int = 20000,
        color_power: float = 6.0,
        views: int = 8,
        trainable_blocks: int = 0,
    ) -> None:
        super().__init__()
        del in_channels
        where = "LesionCropClassifier: "
        check_number(crop_size, "crop_size", low=8, high=1024, integer=True, where=where)
        check_number(margin, "margin", low=0, high=2, where=where)
        check_number(jitter, "jitter", low=0, high=1, where=where)
        check_number(l2, "l2", low=0, where=where)
        check_number(max_samples, "max_samples", low=1, integer=True, where=where)
        check_number(color_power, "color_power", low=0, high=64, where=where)
        if views not in _VIEWS:
            raise ConfigError(
                f"LesionCropClassifier views must be one of {', '.join(map(str, _VIEWS))}; got {views!r}."
            )
        self.crop_size, self.margin, self.jitter, self.l2, self.max_samples, self.views = (
            crop_size,
            margin,
            jitter,
            l2,
            max_samples,
            views,
        )
        self.register_buffer("color_power", torch.tensor(float(color_power)))
        self.features = mobilenet_v2(norm_layer=FrozenBatchNorm2d).features[: _STAGES[-1]]
        if not (isinstance(trainable_blocks, int) and 0 <= trainable_blocks <= len(self.features)):
            raise ConfigError(
                f"LesionCropClassifier trainable_blocks must be an integer from 0 (all frozen) to "
                f"{len(self.features)} (all of MobileNetV2's blocks); got {trainable_blocks!r}."
            )
        self.trainable_blocks = trainable_blocks
        self.features.requires_grad_(False)
        if trainable_blocks:
            self.features[len(self.features) - trainable_blocks :].requires_grad_(True)
        outputs = num_classes - 1
        dim = 2 * _STAGE_CHANNELS
        if trainable_blocks:  # a linear read-out trained by the optimiser
            self.linear = nn.Linear(dim, outputs)
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)
        else:  # the regression fitted in closed form, and the standardisation it was fitted on
            self.register_buffer("feature_mean", torch.zeros(dim))
            self.register_buffer("feature_scale", torch.ones(dim))
            self.register_buffer("weight", torch.zeros(outputs, dim))
            self.register_buffer("bias", torch.zeros(outputs))
        self._collected: list[tuple[Tensor, Tensor]] = []

    reads_features = False  # it has its own feature extractor

    @property
    def mirror_invariant(self) -> bool:
        """Whether eval features average over a view and its mirror image (``views >= 2``)."""
        return self.views >= 2

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        # a checkpoint from before colour constancy was added was fitted without it
        state_dict.setdefault(prefix + "color_power", torch.tensor(0.0))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def init_weights(self, download: bool = True) -> None:
        """Load MobileNetV2's ImageNet weights (torchvision's weights API and cache)."""
        state = load_torchvision_state_dict(MobileNet_V2_Weights.IMAGENET1K_V1, download=download)
        own = self.features.state_dict()
        self.features.load_state_dict({k: state[f"features.{k}"] for k in own})

    def train(self, mode: bool = True) -> LesionCropClassifier:
        """Set training mode for the head; its feature extractor always stays in eval mode."""
        super().train(mode)
        self.features.eval()  # frozen BatchNorm, no dropout: the same in both modes
        return self

    def _boxes(self, image_sizes: list[tuple[int, int]], boxes: list[Tensor | None], device: torch.device) -> Tensor:
        """Rows ``(index, x1, y1, x2, y2)``: the lesion view then the whole-image view of each image."""
        rows = []
        for index, ((height, width), box) in enumerate(zip(image_sizes, boxes)):
            zero = torch.zeros((), device=device)
            whole = torch.stack(
                [zero, zero, zero + width, zero + height]
            )  # traceable: sizes are tensors while exporting
            if box is None:
                crop = whole
            else:
                box = box.detach().float().to(device)
                size = (box[2:] - box[:2]).clamp(min=1.0).repeat(2)
                if self.training and self.jitter > 0:
                    box = box + (torch.rand(4, device=device) * 2 - 1) * self.jitter * size
                grow = torch.tensor([-1.0, -1.0, 1.0, 1.0], device=device) * self.margin * size
                crop = torch.minimum(torch.maximum(box + grow, whole.new_zeros(4)), whole[[2, 3, 2, 3]])
                crop = torch.where((crop[2:] - crop[:2] < 2).any(), whole, crop)  # a sliver: read the whole image
            rows += [torch.cat([crop.new_tensor([index]), crop]), torch.cat([whole.new_tensor([index]), whole])]
        return torch.stack(rows)

    def _shades_of_grey(self, views: Tensor) -> Tensor:
        """Divide each image's illuminant out of its two views (rows: lesion, whole, lesion, whole, ...).

        The views hold ImageNet-normalised pixels (the detector's transform); the
        illuminant is the ``p``-mean of each channel of the whole-image view, scaled to
        unit grey (norm sqrt(3)) so that a grey-balanced image is left unchanged.
        """
        mean = views.new_tensor(_IMAGENET_MEAN)[:, None, None]
        std = views.new_tensor(_IMAGENET_STD)[:, None, None]
        rgb = (views * std + mean).clamp(0, 1)
        p = float(self.color_power)
        whole = rgb[1::2].clamp(min=1e-6)
        illuminant = whole.pow(p).mean(dim=(-2, -1)).pow(1 / p)
        illuminant = illuminant / illuminant.norm(dim=1, keepdim=True).clamp(min=1e-6) * 3**0.5
        rgb = (rgb / illuminant.repeat_interleave(2, dim=0)[:, :, None, None]).clamp(0, 1)
        return (rgb - mean) / std

    def _pooled(self, x: Tensor) -> Tensor:
        pooled = []
        for index, block in enumerate(self.features, start=1):
            x = block(x)
            if index in _STAGES:
                pooled.append(x.mean(dim=(-2, -1)))
        return torch.cat(pooled, dim=1)

    def embed(self, images: Tensor, *, image_sizes: list[tuple[int, int]], boxes: list[Tensor | None]) -> Tensor:
        """Pooled features ``(batch, 3456)``: lesion view, then whole image (averaged over
        the dihedral ``views`` in eval mode; one random view per batch in training when
        fine-tuning). They carry gradients only through trainable blocks, with grad enabled."""
        views = roi_align(
            images.float(),
            self._boxes(image_sizes, boxes, images.device),
            self.crop_size,
            aligned=True,
            sampling_ratio=2,
        )
        if float(self.color_power) > 0:
            views = self._shades_of_grey(views)
        if self.training:
            turns = [int(torch.randint(0, 8, ())) if self.trainable_blocks else 0]
        else:
            turns = list(range(self.views))
        with torch.autocast(images.device.type, enabled=False):
            features = sum(self._pooled(_dihedral(views.detach(), k)) for k in turns) / len(turns)
        return features.reshape(len(image_sizes), -1)

    def forward(
        self,
        features: dict[str, Tensor],
        *,
        images: Tensor,
        image_sizes: list[tuple[int, int]],
        boxes: list[Tensor | None],
        labels: Tensor | None = None,
    ) -> Tensor:
        """Logits ``(batch, num_classes - 1)``; in training, also keeps the features for the fit
        (frozen) or carries the gradient of the trainable blocks (fine-tuning)."""
        embedding = self.embed(images, image_sizes=image_sizes, boxes=boxes)
        if self.trainable_blocks:
            return self.linear(embedding)
        embedding = embedding.detach()
        if self.training and labels is not None and torch.is_grad_enabled():  # a training step, never validation
            keep = labels >= 0
            self._collected.append((embedding[keep].cpu(), labels[keep].cpu()))
        return (embedding - self.feature_mean) / self.feature_scale @ self.weight.T + self.bias

    def collected_samples(self) -> list[tuple[Tensor, Tensor]]:
        """The features and labels kept in training since the model was built: one block of
        the newest ``max_samples`` rows at most (empty before any labelled image was seen)."""
        if self._collected:
            self._collected = [
                (
                    torch.cat([c[0] for c in self._collected])[-self.max_samples :],
                    torch.cat([c[1] for c in self._collected])[-self.max_samples :],
                )
            ]
        return self._collected

    def fit_samples(self, samples: list[list[tuple[Tensor, Tensor]]]) -> None:
        """Fit the logistic regression on every process's :meth:`collected_samples` (what the
        Trainer calls after each epoch; see :class:`~isicseg.engine.fitting.ClosedFormFit`).
        Does nothing when no labelled image was seen anywhere."""
        collected = [item for part in samples for item in part]
        if not collected:
            return
        x, y = torch.cat([c[0] for c in collected]), torch.cat([c[1] for c in collected])
        mean, scale = x.mean(0), x.std(0) + 1e-6
        weight, bias = fit_logistic((x - mean) / scale, y, num_outputs=self.weight.shape[0], l2=self.l2)
        for buffer, value in (
            (self.feature_mean, mean),
            (self.feature_scale, scale),
            (self.weight, weight),
            (self.bias, bias),
        ):
            buffer.copy_(value.to(buffer.device))

    def fit_collected(self) -> None:
        """Fit on this process's samples alone (outside a Trainer, e.g. in a notebook)."""
        self.fit_samples([self.collected_samples()])


HEADS.register("lesion_crop_tuned", partial(LesionCropClassifier, trainable_blocks=TUNED_BLOCKS))

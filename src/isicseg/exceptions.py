"""Errors and warnings raised by isicseg.

Every error derives from :class:`IsicsegError` and also from the built-in exception it
refines, so ``except ValueError`` keeps working for code that does not know isicseg.
Messages say what is wrong, what was received, what is allowed and, for data errors,
which file is at fault.
"""

from __future__ import annotations

__all__ = [
    "IsicsegError",
    "DatasetError",
    "DatasetNotFoundError",
    "UnknownNameError",
    "WeightsNotFoundError",
    "WeightsError",
    "DownloadError",
    "CheckpointError",
    "ConfigError",
    "NonFiniteLossError",
    "DataWarning",
    "PluginWarning",
]


class IsicsegError(Exception):
    """Base class of every error raised by isicseg."""


class DatasetError(IsicsegError, ValueError):
    """A data file exists but its content is not what ISIC 2017 files look like."""


class DatasetNotFoundError(IsicsegError, FileNotFoundError):
    """A data root, split folder or data file is missing."""


class UnknownNameError(IsicsegError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class WeightsNotFoundError(IsicsegError, FileNotFoundError):
    """Pretrained weights are neither cached, nor on disk, nor downloadable."""


class WeightsError(IsicsegError, ValueError):
    """A weight file exists but cannot be loaded safely into the requested model."""


class DownloadError(IsicsegError, OSError):
    """A file could not be downloaded, or what arrived is not what was expected."""


class CheckpointError(IsicsegError, OSError):
    """A checkpoint could not be written (full disk, permissions); the previous one is kept."""


class ConfigError(IsicsegError, ValueError):
    """An argument or configuration value is outside what is allowed."""


class NonFiniteLossError(IsicsegError, FloatingPointError):
    """A training step produced a NaN or infinite loss.

    Attributes:
        losses: The value of each loss component at the failing step.
        image_ids: The ids of the images in the failing batch.
        step: The global optimisation step at which it happened.
    """

    def __init__(self, message: str, *, losses: dict[str, float], image_ids: list[str], step: int) -> None:
        super().__init__(message)
        self.losses = losses
        self.image_ids = image_ids
        self.step = step


class DataWarning(UserWarning):
    """Data that isicseg can read but that is probably not what the user meant."""


class PluginWarning(UserWarning):
    """A plugin declared through an entry point could not be loaded."""

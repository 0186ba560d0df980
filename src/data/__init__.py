"""Feature stores, the synthetic data set and the LightningDataModule.

Names are imported on first use, so that the data-preparation scripts (which need only the
store and the converters) do not pay for importing Lightning.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AGCHDataModule": "src.data.datamodule",
    "make_synthetic": "src.data.synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)

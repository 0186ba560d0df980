"""Feature stores, the synthetic data set and the LightningDataModule."""

from src.data.datamodule import AGCHDataModule
from src.data.synthetic import make_synthetic

__all__ = ["AGCHDataModule", "make_synthetic"]

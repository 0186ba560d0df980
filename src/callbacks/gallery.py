"""The retrieval gallery in TensorBoard at the test (src/report/gallery.py), when the raw
images and texts of the store are at hand (``data.raw_source``, src/data/raw_items.py).

Drawn from the rows the test metric gathered, so the figure ranks exactly what the test
metrics rank. Without a TensorBoard logger nothing is drawn; without the raw items (another
dataset than news, no folder) one log line says why and the run goes on; a folder that is not
the release the store was made from is a warning, not a failed run (training is over).
"""

from __future__ import annotations

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn

from src.callbacks.figures import tensorboard_writer
from src.data.raw_items import RawUnavailable, raw_items
from src.report.gallery import DIRECTIONS, choose_queries, gallery_figure
from src.report.gallery_codes import SPLITS, metric_codes, store_attrs
from src.utils.errors import AGCHError
from src.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


class RetrievalGallery(Callback):
    """``test/gallery_i2t`` and ``test/gallery_t2i``: ``queries`` queries drawn with ``seed``,
    each with its ``top_k`` results, relevance and Hamming distance marked."""

    def __init__(self, queries: int = 4, top_k: int = 6, seed: int = 0) -> None:
        self.queries, self.top_k, self.seed = queries, top_k, seed

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        metric = getattr(pl_module, "test_metric", None)  # CrossModalHashingModule's
        if metric is None or tensorboard_writer(trainer) is None:
            return
        # every rank takes part in gathering the rows; rank zero draws
        with metric.sync_context(
            dist_sync_fn=metric.dist_sync_fn, should_sync=metric.sync_on_compute
        ):
            rows = {split: metric._split(split) for split in SPLITS}
        datamodule = getattr(trainer, "datamodule", None)
        if trainer.is_global_zero and datamodule is not None:
            self._draw(trainer, datamodule, rows)

    def _draw(self, trainer: Trainer, datamodule, rows: dict) -> None:
        """Both directions' figures into TensorBoard at ``trainer.global_step``."""
        try:
            attrs = store_attrs(datamodule.path)
            items = raw_items(attrs, getattr(datamodule, "raw_source", None), attrs["store_rows"])
        except RawUnavailable as reason:
            log.info(str(reason))
            return
        except AGCHError as error:
            rank_zero_warn(f"no retrieval gallery: {error}")
            return
        codes = metric_codes(rows)
        queries = choose_queries(len(codes["query"]["index"]), self.queries, self.seed)
        writer = tensorboard_writer(trainer)
        for direction in DIRECTIONS:
            figure = gallery_figure(codes, items, direction, queries, self.top_k)
            writer.add_figure(f"test/gallery_{direction}", figure, trainer.global_step, close=True)

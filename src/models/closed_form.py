"""What the closed-form (not SGD-trained) methods share, CCA-ITQ and CMFH: one training epoch
collects the standardised train features, the last batch fits the model in closed form, and
the fit counts as the one optimiser step (so that Lightning's checkpoint callback saves).

Use ``trainer.max_epochs=1`` and ``data.drop_last=false`` so that every train item is fitted
on (the experiment configs do). A method implements `fit_features`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from src.models.base import Batch, CrossModalHashingModule
from src.utils.errors import ConfigError


class ClosedFormModule(CrossModalHashingModule):
    """Collects (x_std image, x_std text) batches in an epoch; fits on the last one."""

    def __init__(self, hp: dict) -> None:
        super().__init__(hp)
        self._train_features: list[tuple[Tensor, Tensor]] = []

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._train_features = []

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        """Collect the standardised train features; fit after the epoch's last batch."""
        if self.trainer.world_size > 1:
            name = type(self).__name__
            raise ConfigError(f"{name} fits in one process: use trainer=cpu or trainer=gpu")
        x_v, x_t = self.normalise_inputs(batch[0].float(), batch[1].float())
        self._train_features.append((x_v.detach(), x_t.detach()))
        if self.trainer.is_last_batch:
            self.fit_closed_form()

    @torch.no_grad()
    def fit_closed_form(self) -> None:
        """`fit_features` on the features collected this epoch, X (n, Dv) and Y (n, Dt), each
        centred exactly on what was seen; then the one (mock) optimiser step."""
        X = torch.cat([f[0] for f in self._train_features])  # (n, Dv)
        Y = torch.cat([f[1] for f in self._train_features])  # (n, Dt)
        self._train_features = []
        self.fit_features(X - X.mean(dim=0), Y - Y.mean(dim=0))
        # the closed-form fit is this model's one optimisation step: counting it lets the
        # checkpoint callback save (it skips while global_step is 0)
        self.optimizers().step()

    @classmethod
    def working_elements(cls, hp: dict) -> int:
        """The fit's float64 matrices: both covariances (Dv, Dv) and (Dt, Dt), the cross one
        (Dv, Dt), and a few (c, c) (ITQ's rotation and its SVD)."""
        dv, dt, c = hp["image_dim"], hp["text_dim"], hp["code_length"]
        return dv * dv + dt * dt + dv * dt + 3 * c * c

    def fit_features(self, X: Tensor, Y: Tensor) -> None:
        """Fit on centred standardised features X (n, Dv), Y (n, Dt); set the buffers."""
        raise NotImplementedError

    def configure_optimizers(self) -> None:
        """No optimiser: Lightning substitutes its mock optimiser, stepped once per fit."""
        return None

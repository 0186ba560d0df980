"""Training health: does every trainable module of a method learn? (docs/model.md,
"Training health").

Per module that the method names in ``health_modules()`` (every method of the project):

- ``health/<module>/weight_change``: ||theta - theta_0|| / ||theta_0||, the relative distance
  of the module's parameters (all of them, concatenated) from their values at the start of
  training, each epoch;
- ``health/<module>/own_loss``: the epoch mean of the sum of the loss terms that depend on the
  module (unweighted: each term as ``train/<term>`` logs it), and ``own_loss_ratio``, that sum
  over its first-epoch value (below 1: the module's terms fell);
- ``health/<module>/pairwise_cos`` where the method measures it: the mean cosine between the
  codes of two different items of a batch (over-smoothing of a GCN shows as a value near 1,
  far above the encoder codes').

The final values go into results.json (``metrics``) with the run's other metrics. At the end of
fit a module whose weight change is below ``min_weight_change`` is named in a warning: it
ended the run nearly where it started. theta_0 is kept in memory and, for a resumed run, in
``health_initial.pt`` in the run directory (written once, at the start of training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from src.utils.io import atomic_path

INITIAL_FILE = "health_initial.pt"


def relative_change(params: list[Tensor], initial: list[Tensor]) -> float:
    """||theta - theta_0|| / ||theta_0|| over the concatenation of ``params`` (float64 sums);
    0.0 when theta_0 is all zeros and theta equals it, inf when theta_0 is zero and theta not."""
    diff = sum(
        float((p.detach().double() - q.double()).pow(2).sum()) for p, q in zip(params, initial)
    )
    base = sum(float(q.double().pow(2).sum()) for q in initial)
    if base == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return (diff / base) ** 0.5


def pairwise_cosine(X: Tensor) -> Tensor:
    """Mean cosine between the rows of X (m, c) of two different items, i != j (float32):
    (||sum_i x^_i||^2 - m) / (m (m - 1)) with x^_i the unit rows. NaN for m < 2."""
    with torch.no_grad():
        U = torch.nn.functional.normalize(X.detach().float(), dim=1)  # (m, c)
        m = U.shape[0]
        total = U.sum(dim=0).pow(2).sum()
        return (total - m) / (m * (m - 1)) if m > 1 else torch.tensor(float("nan"))


class TrainingHealth(Callback):
    """Weight change, own loss terms and over-smoothing of each trainable module, per epoch.

    ``min_weight_change``: a module whose relative weight change at the end of fit is below it
    is named in a warning (0 disables the warning).
    """

    def __init__(self, min_weight_change: float = 0.01) -> None:
        if not min_weight_change >= 0:
            raise ValueError(f"min_weight_change: expected >= 0, got {min_weight_change!r}")
        self.min_weight_change = float(min_weight_change)
        self._initial: dict[str, list[Tensor]] = {}
        self._first_loss: dict[str, float] = {}
        self._initial_path = ""
        self.final: dict[str, float] = {}

    # ------------------------------------------------------------------------ bookkeeping
    def state_dict(self) -> dict[str, Any]:
        return {"initial_path": self._initial_path, "first_loss": dict(self._first_loss)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._initial_path = state_dict.get("initial_path", "")
        self._first_loss = dict(state_dict.get("first_loss", {}))

    @staticmethod
    def _modules(pl_module: LightningModule) -> dict[str, Any]:
        spec = getattr(pl_module, "health_modules", None)
        return spec() if callable(spec) else {}

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        modules = self._modules(pl_module)
        path = Path(self._initial_path) if self._initial_path else None
        if path is not None and path.is_file():  # a resumed run: theta_0 of the first start
            saved = torch.load(path, map_location="cpu", weights_only=True)
            self._initial = {name: saved[name] for name in modules if name in saved}
        missing = [name for name in modules if name not in self._initial]
        for name in missing:
            params = [p for p in modules[name].module.parameters() if p.requires_grad]
            self._initial[name] = [p.detach().to("cpu", copy=True) for p in params]
        if missing and trainer.is_global_zero and trainer.default_root_dir:
            self._save_initial(Path(trainer.default_root_dir) / INITIAL_FILE)

    def _save_initial(self, path: Path) -> None:
        # atomic: never a partial file under the final name, no temporary file left
        with atomic_path(path, key="callbacks.training_health", parents=True) as tmp:
            torch.save(self._initial, tmp)
        self._initial_path = str(path)

    # --------------------------------------------------------------------------- per epoch
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        terms = pl_module.term_means() if hasattr(pl_module, "term_means") else {}
        values: dict[str, float] = {}
        for name, spec in self._modules(pl_module).items():
            params = [p for p in spec.module.parameters() if p.requires_grad]
            values[f"{name}/weight_change"] = relative_change(params, self._initial[name])
            own = [terms[t] for t in spec.terms if t in terms]
            if own:
                loss = float(sum(own))
                first = self._first_loss.setdefault(name, loss)
                values[f"{name}/own_loss"] = loss
                values[f"{name}/own_loss_ratio"] = loss / first if first else float("nan")
            for term in spec.diagnostics:
                if term in terms:
                    values[f"{name}/pairwise_cos"] = float(terms[term])
        for key, value in values.items():
            pl_module.log(f"health/{key}", value)
        self.final = values

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.min_weight_change or not trainer.is_global_zero:
            return
        for key, value in self.final.items():
            name, _, figure = key.partition("/")
            if figure == "weight_change" and value < self.min_weight_change:
                rank_zero_warn(
                    f"training health: {name} ended {trainer.current_epoch} epochs "
                    f"{value:.4%} from its initial weights (below min_weight_change "
                    f"{self.min_weight_change:.2%}): it barely learns; see docs/model.md, "
                    f"'Training health'"
                )

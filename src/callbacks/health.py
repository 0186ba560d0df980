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
``health_initial.pt`` in the run directory (written once, at the start of training), whose
content digest the callback's checkpoint state records: a resume proves the file is the run's
own theta_0 (present, readable, same modules and digest) or is refused with one line, never
measured from the resumed weights (`InitialWeights`). An own-loss ratio that cannot be formed
(a first-epoch own loss of 0 or not finite) is null, and a warning says why.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from src.utils.errors import DataError
from src.utils.io import atomic_path

INITIAL_FILE = "health_initial.pt"
KEY = "callbacks.training_health"
RESTART = "restore the run's own file, or start the run over in a new folder"


def weights_digest(initial: dict[str, list[Tensor]]) -> str:
    """sha256 over each module's name and its tensors' dtype, shape and bytes (name order)."""
    digest = hashlib.sha256()
    for name in sorted(initial):
        digest.update(name.encode())
        for tensor in initial[name]:
            flat = tensor.detach().to("cpu").contiguous().reshape(-1)
            digest.update(f"{flat.dtype}{tuple(tensor.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_initial(path: Path, modules: dict[str, Any], digest: str) -> dict[str, list]:
    """theta_0 of a resumed run from ``path``: every module of ``modules`` with tensors of its
    parameters' shapes and the recorded ``digest``; else DataError naming the file (a
    checkpoint of before the digest is refused before: `src.utils.resume_records`)."""
    where = f"{RESTART} (the weight changes are measured from the start of training)"
    if not path.is_file():
        raise DataError(path, KEY, f"expected the run's health_initial.pt, found none; {where}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, objects of another kind
        raise DataError(
            path, KEY, f"expected a readable health_initial.pt ({exc.__class__.__name__}); {where}"
        ) from exc
    shapes = {
        n: [tuple(p.shape) for p in m.module.parameters() if p.requires_grad]
        for n, m in modules.items()
    }
    fits = isinstance(saved, dict) and all(
        isinstance(saved.get(n), list)
        and all(isinstance(t, Tensor) for t in saved[n])
        and [tuple(t.shape) for t in saved[n]] == shapes[n]
        for n in modules
    )
    if not fits:
        raise DataError(
            path,
            KEY,
            f"expected the initial weights of modules {', '.join(modules)} with the model's "
            f"shapes; {where}",
        )
    initial = {n: saved[n] for n in modules}
    if weights_digest(initial) != digest:
        raise DataError(
            path,
            KEY,
            f"expected the initial weights the checkpoint records (sha256 {digest[:12]}...), "
            f"found others; {where}",
        )
    return initial


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
        self._digest: str | None = None
        self._restored = False
        self._undefined: set[str] = set()
        self.final: dict[str, float] = {}

    # ------------------------------------------------------------------------ bookkeeping
    def state_dict(self) -> dict[str, Any]:
        return {
            "initial_path": self._initial_path,
            "initial_digest": self._digest,
            "first_loss": dict(self._first_loss),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._initial_path = state_dict.get("initial_path", "")
        self._digest = state_dict.get("initial_digest")
        self._first_loss = dict(state_dict.get("first_loss", {}))
        self._restored = True

    @staticmethod
    def watched(pl_module: LightningModule) -> dict[str, Any]:
        """The modules this callback watches: the method's ``health_modules()`` (none
        without it)."""
        spec = getattr(pl_module, "health_modules", None)
        return spec() if callable(spec) else {}

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        modules = self.watched(pl_module)
        if trainer.ckpt_path and modules:  # a resumed run: theta_0 of its first start
            if not self._restored:
                raise DataError(
                    trainer.ckpt_path,
                    KEY,
                    "expected the training-health state src/train.py saves (it names the "
                    f"run's {INITIAL_FILE}), found none: the weight changes cannot be measured "
                    "from the start of training; resume from an unedited checkpoint, or "
                    "start the run over",
                )
            if self._digest is None:  # a checkpoint of before the digest: never unchecked
                from src.utils.resume_records import HEALTH_DIGEST, predates

                raise predates(trainer.ckpt_path, [HEALTH_DIGEST])
            own = Path(trainer.default_root_dir) / INITIAL_FILE  # a moved run: its own file
            recorded = Path(self._initial_path) if self._initial_path else own
            path = recorded if recorded.is_file() and not own.is_file() else own
            self._initial = load_initial(path, modules, self._digest)
            return
        for name, spec in modules.items():
            params = [p for p in spec.module.parameters() if p.requires_grad]
            self._initial[name] = [p.detach().to("cpu", copy=True) for p in params]
        self._digest = weights_digest(self._initial)
        if modules and trainer.is_global_zero and trainer.default_root_dir:
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
        for name, spec in self.watched(pl_module).items():
            params = [p for p in spec.module.parameters() if p.requires_grad]
            values[f"{name}/weight_change"] = relative_change(params, self._initial[name])
            own = [terms[t] for t in spec.terms if t in terms]
            if own:
                loss = float(sum(own))
                first = self._first_loss.setdefault(name, loss)
                values[f"{name}/own_loss"] = loss
                values[f"{name}/own_loss_ratio"] = self._ratio(name, loss, first)
            for term in spec.diagnostics:
                if term in terms:
                    values[f"{name}/pairwise_cos"] = float(terms[term])
        for key, value in values.items():
            pl_module.log(f"health/{key}", value)
        self.final = values

    def _ratio(self, name: str, loss: float, first: float) -> float:
        """loss / first; NaN (null in results.json) when the first-epoch own loss is 0 or not
        finite, said once per module in a warning."""
        if first and math.isfinite(first):
            return loss / first
        if name not in self._undefined:
            self._undefined.add(name)
            rank_zero_warn(
                f"training health: {name}'s own_loss_ratio is null: its first-epoch own loss "
                f"is {first!r}, a ratio to it is undefined (own_loss is still recorded)"
            )
        return float("nan")

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

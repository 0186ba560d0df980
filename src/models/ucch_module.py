"""UCCH (Hu, Zhu, Lin, Peng, Zhao, Peng, "Unsupervised Contrastive Cross-Modal Hashing", TPAMI
45(3), 2023) on cached features (docs/ucch.md).

Each modality's network is an MLP with ``*_layers`` linear layers (ReLU between them, hidden
width ``hidden_dim``) whose output is h = tanh(.) / ||tanh(.)|| (unit rows); the codes are
sgn(h) (Eq. (1)). Per batch of m pairs (src/models/contrastive.py):

- the dictionary: keys sgn(v) of the memory bank v (n, c) over the n items trained on, item
  i's own slot its positive key and K slots drawn among the others its negatives; in the
  first ``warmup_epochs`` epochs (the authors' release) the batch's own sgn((h^x + h^y) / 2)
  instead, the other m - 1 items the negatives;
- L = beta (Lc_image + Lc_text) + (1 - beta) Lr (Eq. (15)): contrastive hashing (Eqs.
  (3)-(4)) of each modality's h against the dictionary, the cross-modal ranking loss (Eq.
  (14));
- one Adam step on both networks (gradient norm clipped, as the release), then the batch's
  slots of the bank move by Eq. (5) with the outputs of this step's forward (momentum 0 in
  the warm-up, as the release).

The memory bank and its rows are saved in the checkpoint (``ucch_memory``), not in the state
dict: its size is the train split's, known at the start of fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from src.callbacks.health import pairwise_cosine
from src.metrics import DEFAULT_KS
from src.models.base import INPUT_NORMS, TEXT_NORMS, Batch, CrossModalHashingModule, HealthSpec
from src.models.base import sign_codes
from src.models.contrastive import in_batch_dictionary, momentum_update, sample_negatives
from src.models.contrastive import ucch_loss
from src.models.derived import reciprocal
from src.models.train_items import epoch_generator, fit_train_rows, row_positions
from src.utils.errors import ConfigError

MEMORY_KEY = "ucch_memory"  # checkpoint entry: {"rows": (n,) int64, "values": (n, c) float32}
WARMUP_PREFIX = "warmup_"  # the warm-up epochs' loss terms are logged under this prefix


class CodeMLP(nn.Module):
    """One modality's network: ``layers`` Linear layers in_dim -> hidden_dim ... -> c with
    ReLU between them (one layer: Linear(in_dim -> c)), then h = tanh(.) / ||tanh(.)||."""

    def __init__(self, in_dim: int, hidden_dim: int, layers: int, code_length: int) -> None:
        super().__init__()
        widths = [in_dim, *[hidden_dim] * (layers - 1), code_length]
        parts: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            parts += [nn.Linear(a, b)] + ([nn.ReLU(inplace=True)] if i < layers - 1 else [])
        self.fc = nn.Sequential(*parts)

    def forward(self, x: Tensor) -> Tensor:
        """x (m, in_dim) -> h (m, c), unit rows."""
        return F.normalize(torch.tanh(self.fc(x)), dim=1)


MAX_LAYERS = 256  # Linear layers of a network at most


class UCCHModule(CrossModalHashingModule):
    """UCCH under Lightning manual optimisation; hyper-parameters are plain values."""

    # the config name of the method (configs/model/ucch.yaml), as results.json names it
    method_name = "ucch"
    STEPS_PER_BATCH = 1  # one optimiser
    SIZE_KEYS = ("hidden_dim", "image_layers", "text_layers", "code_length")
    RULES = dict(
        positive_ints=("hidden_dim", "image_layers", "text_layers", "negatives"),
        # a network of more layers is no MLP of this method (the release: 3 and 2), and
        # building it to count its memory at the door would take minutes
        at_most={"image_layers": MAX_LAYERS, "text_layers": MAX_LAYERS},
        non_negative_ints=("warmup_epochs",),
        non_negative=("margin", "shift", "weight_decay"),
        positive=("temperature", "ranking_scale", "lr"),
        unit_interval=("beta",),
        below_one=("memory_momentum",),
        optional_positive=("grad_clip_norm",),
        bools=("normalise_memory",),
        choices={"input_norm": INPUT_NORMS, "text_norm": TEXT_NORMS},
    )
    # constants derived from the floats, checked at the door (src/models/derived.py)
    DERIVED = (reciprocal("temperature"), reciprocal("ranking_scale"))

    def __init__(
        self,
        image_dim: int,
        text_dim: int,
        code_length: int = 32,
        hidden_dim: int = 8192,
        image_layers: int = 3,
        text_layers: int = 2,
        beta: float = 0.7,
        temperature: float = 0.9,
        negatives: int = 4096,
        memory_momentum: float = 0.4,
        normalise_memory: bool = False,
        warmup_epochs: int = 1,
        margin: float = 0.2,
        shift: float = 0.1,
        ranking_scale: float = 1.0,
        lr: float = 1e-4,
        weight_decay: float = 1e-6,
        grad_clip_norm: float | None = 1.0,
        input_norm: str = "standardize",
        text_norm: str | None = None,
        eval_topk: int = 50,
        eval_ks: Sequence[int] = DEFAULT_KS,
        eval_ties: str = "stable",
        collapse_threshold: float = 0.05,
        stop_on_collapse: bool = False,
    ) -> None:
        super().__init__(dict(locals()))
        self.image_net = CodeMLP(image_dim, hidden_dim, image_layers, code_length)
        self.text_net = CodeMLP(text_dim, hidden_dim, text_layers, code_length)
        # seed of the bank's initial signs and of the negative draws (checkpointed)
        self.register_buffer("sample_seed", torch.randint(0, 2**62, (), dtype=torch.int64))
        self.memory: Tensor | None = None  # (n, c) float32, v of Eq. (5)
        self.memory_rows: Tensor | None = None  # (n,) int64, the sorted store rows of the bank
        self.sample_rng: torch.Generator | None = None

    def normalised_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """h^x, h^y (m, c) of encoder inputs: the unit-norm outputs of the two networks."""
        return self.image_net(x_v), self.text_net(x_t)

    # ------------------------------------------------------------------------ memory bank
    def init_memory(self, rows: Tensor) -> None:
        """A bank over the sorted store rows (n,): random signs, P(+1) = 1/2, scaled to unit
        rows (docs/ucch.md), drawn from the sample seed."""
        n, c = rows.numel(), self.hparams.code_length
        generator = epoch_generator(int(self.sample_seed), -1)  # no epoch draws with it
        signs = torch.randint(0, 2, (n, c), generator=generator).float() * 2 - 1  # (n, c)
        self.memory = (signs / c**0.5).to(self.device)
        self.memory_rows = rows.to(self.device)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.memory is not None:
            checkpoint[MEMORY_KEY] = {"rows": self.memory_rows.cpu(), "values": self.memory.cpu()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the memory bank saved with the weights (a resumed fit goes on with it)."""
        saved = checkpoint.get(MEMORY_KEY)
        if saved is not None:
            self.memory = saved["values"].float().to(self.device)
            self.memory_rows = saved["rows"].long().to(self.device)

    def on_train_start(self) -> None:
        """A fresh bank over the train rows, or the restored one when it is over the same rows
        (ConfigError otherwise); one process only (the bank is not shared across ranks)."""
        if self.trainer.world_size > 1:
            raise ConfigError("UCCH's memory bank lives in one process: use trainer=cpu or gpu")
        rows = torch.from_numpy(fit_train_rows(self.trainer, "UCCH keeps its memory bank"))
        if self.memory is None:
            self.init_memory(rows)
        elif not torch.equal(self.memory_rows.cpu(), rows):
            raise ConfigError(
                f"ckpt_path: its memory bank holds {self.memory_rows.numel()} rows of another "
                f"train split than this run's {rows.numel()}; resume with the data it was "
                "trained on"
            )

    # ----------------------------------------------------------------------------- training
    def on_train_epoch_start(self) -> None:
        """Also seed this epoch's negative draws from (sample_seed, epoch)."""
        super().on_train_epoch_start()
        self.sample_rng = epoch_generator(int(self.sample_seed), self.current_epoch)

    def in_warmup(self) -> bool:
        """Whether this epoch contrasts against the batch's own keys (the release's warm-up)."""
        return self.current_epoch < self.hparams.warmup_epochs

    def dictionary(self, h_x: Tensor, h_y: Tensor, slots: Tensor) -> tuple[Tensor, ...]:
        """(keys, positive, negatives) of a batch whose items sit at bank ``slots`` (m,)."""
        if self.in_warmup():
            return in_batch_dictionary(h_x, h_y)
        n, K = self.memory.shape[0], self.hparams.negatives
        negatives = sample_negatives(slots, n, K, self.sample_rng)  # (m, K)
        return sign_codes(self.memory), slots, negatives

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        x_v, x_t, index = batch[0], batch[1], batch[2]  # labels are never used: unsupervised
        hp = self.hparams
        slots = row_positions(self.memory_rows, index, "UCCH's memory bank")  # (m,)
        h_x, h_y = self.continuous_codes(x_v, x_t)  # (m, c) each, unit rows
        args = (hp.beta, hp.temperature, hp.margin, hp.shift, hp.ranking_scale)
        terms = ucch_loss(h_x, h_y, self.dictionary(h_x, h_y, slots), *args)
        self.check_finite(terms)
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(terms["L"])
        if hp.grad_clip_norm is not None:
            self.clip_gradients(opt, hp.grad_clip_norm, gradient_clip_algorithm="norm")
        opt.step()
        delta = 0.0 if self.in_warmup() else hp.memory_momentum
        self.memory[slots] = momentum_update(
            self.memory[slots], h_x, h_y, delta, hp.normalise_memory
        )
        self.record_codes(h_x, h_y)
        self._log_terms(terms, h_x, h_y)

    def _log_terms(self, terms: dict[str, Tensor], h_x: Tensor, h_y: Tensor) -> None:
        m = h_x.shape[0]
        self.log("train/loss", terms["L"].detach(), on_step=True, on_epoch=True, batch_size=m)
        logged = {k: v for k, v in terms.items() if k != "L"}
        logged |= {"cos_image": pairwise_cosine(h_x), "cos_text": pairwise_cosine(h_y)}
        prefix = WARMUP_PREFIX if self.in_warmup() else ""
        self.accumulate_terms({prefix + k: v for k, v in logged.items()}, m)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """One Adam over both networks (the paper's Section 4.2, the release's optimiser)."""
        hp = self.hparams
        return torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)

    def health_modules(self) -> dict[str, HealthSpec]:
        """Each network with its contrastive term and the ranking term against the memory bank
        (the warm-up's terms, against another dictionary, are logged apart and not compared)."""
        return {
            "image_net": HealthSpec(self.image_net, ("Lc_image", "Lr"), ("cos_image",)),
            "text_net": HealthSpec(self.text_net, ("Lc_text", "Lr"), ("cos_text",)),
        }

"""AGCH's two optimisers (docs/model.md, "Optimisation"): parameter groups per
``hash_grouping``, the GCN group's step per ``gcn_lr_on``, SGD or Adam, linear warm-up.

A mixin of `src.models.agch_module.AGCHModule`: it reads the module's hyper-parameters and
networks (image_encoder, text_encoder, hash_layer, fusion, gcn_image, gcn_text).
"""

from __future__ import annotations

from typing import Any

import torch


def warmup_factor(warmup: float, done: int, n_batches: int) -> float:
    """The linear warm-up's factor of the learning rate after ``done`` batches of
    ``n_batches`` an epoch, over ``warmup`` epochs (1 without warm-up or once it ends)."""
    return min(1.0, done / max(warmup * n_batches, 1)) if warmup > 0 else 1.0


class AGCHOptimisers:
    """configure_optimizers and the learning-rate warm-up of AGCHModule."""

    def _warmup(self, batch_idx: int) -> None:
        """Linear learning-rate warm-up over ``warmup_epochs`` (stepped by hand)."""
        n_batches = max(int(self.trainer.num_training_batches), 1)
        done = self.current_epoch * n_batches + batch_idx + 1
        factor = warmup_factor(self.hparams.warmup_epochs, done, n_batches)
        for opt in self.optimizers():
            for group in opt.optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor

    def resumed_lr(self, initial_lr: float, loops: Any) -> float:
        """The learning rate `_warmup` left at a checkpoint whose loop state is ``loops``
        (its batches done; an epoch's batches: the current epoch's at its end, else the
        earlier epochs' average), checked on resume (src/utils/resume_optim.py)."""
        progress = loops["fit_loop"]["epoch_loop.batch_progress"]
        done, current = progress["total"]["completed"], progress["current"]["completed"]
        epochs = loops["fit_loop"]["epoch_progress"]["total"]["processed"]
        n_batches = current if progress.get("is_last_batch") or not epochs else None
        n_batches = n_batches or (done - current) // max(epochs, 1)
        if done == 0:
            return initial_lr
        return initial_lr * warmup_factor(self.hparams.warmup_epochs, done, max(n_batches, 1))

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """opt_f: encoders + fusion; opt_b: GCNs; the hash layer per ``hash_grouping``:
        "design" puts it in opt_b at lr_hash, "paper" puts each modality's hash layer with its
        encoder in opt_f at that encoder's learning rate (docs/model.md)."""
        hp = self.hparams
        image, text = [*self.image_encoder.parameters()], [*self.text_encoder.parameters()]
        gcn = [*self.gcn_image.parameters(), *self.gcn_text.parameters()]
        groups_b = [{"params": gcn, "name": "gcn", **self._gcn_step()}]
        if hp.hash_grouping == "paper":
            image += [*self.hash_layer.image.parameters()]
            text += [*self.hash_layer.text.parameters()]
        else:
            groups_b.append(
                {"params": self.hash_layer.parameters(), "lr": hp.lr_hash, "name": "hash"}
            )
        groups_f = [
            {"params": image, "lr": hp.lr_image, "name": "image"},
            {"params": text, "lr": hp.lr_text, "name": "text"},
            {"params": self.fusion.parameters(), "lr": hp.lr_fusion, "name": "fusion"},
        ]
        optimizers = [self._make_optimizer(groups_f), self._make_optimizer(groups_b)]
        for opt in optimizers:
            for group in opt.param_groups:
                group["initial_lr"] = group["lr"]
        return optimizers

    def _gcn_step(self) -> dict[str, float]:
        """The GCN group's lr and weight decay. ``gcn_lr_on="L2"``: the step SGD with lr_gcn
        and weight_decay takes on the GCNs' own objective L2 (Eq. (14)); the GCNs enter L only
        as delta L2, so the group takes lr_gcn / delta and weight_decay x delta (Adam, whose
        step ignores the gradient's scale: lr_gcn). ``"L"``: lr_gcn and weight_decay on L."""
        hp = self.hparams
        if hp.gcn_lr_on == "L" or hp.delta == 0:
            return {"lr": hp.lr_gcn, "weight_decay": hp.weight_decay}
        lr = hp.lr_gcn if hp.optimizer == "adam" else hp.lr_gcn / hp.delta
        return {"lr": lr, "weight_decay": hp.weight_decay * hp.delta}

    def _make_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        hp = self.hparams
        # fused: one pass over each parameter instead of several (CPU and CUDA); the same
        # update as the for-loop implementation up to float rounding (tested)
        fused = True if hp.fused_optimizer else None
        if hp.optimizer == "adam":
            return torch.optim.Adam(groups, weight_decay=hp.weight_decay, fused=fused)
        return torch.optim.SGD(
            groups, momentum=hp.momentum, weight_decay=hp.weight_decay, fused=fused
        )

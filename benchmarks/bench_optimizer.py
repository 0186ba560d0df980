"""The optimiser step of AGCH's opt_b (two GCNs and the hash layer, about 25M parameters at
the paper's sizes): torch's for-loop SGD, its foreach variant and its fused kernel, which
`model.fused_optimizer` (default true) selects. Same parameters and gradients for each, timed
side by side in one process, the order alternating between repeats.

    python -m benchmarks.bench_optimizer [--bits 32] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from src.models.agch_module import AGCHModule

VARIANTS = {
    "for-loop": dict(foreach=False),
    "foreach": dict(foreach=True),
    "fused": dict(fused=True),
}


def opt_b_parameters(bits: int) -> list[torch.nn.Parameter]:
    """opt_b's parameters at the paper's sizes (hidden 4096, GCN 2048), with gradients."""
    model = AGCHModule(image_dim=128, text_dim=10, code_length=bits)
    params = [
        *model.gcn_image.parameters(),
        *model.gcn_text.parameters(),
        *model.hash_layer.parameters(),
    ]
    generator = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * 1e-3  # (same shape as p)
    return params


def time_steps(params: list[torch.nn.Parameter], name: str, steps: int) -> float:
    """Seconds per step of SGD (momentum 0.9, weight decay 5e-4, the paper's) in `name` form."""
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=5e-4, **VARIANTS[name])
    opt.step()  # momentum buffers allocated outside the timing
    start = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = opt_b_parameters(args.bits)
    n = sum(p.numel() for p in params)
    print(
        f"opt_b: {n / 1e6:.1f}M parameters, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    names = list(VARIANTS)
    best = {name: float("inf") for name in names}
    for repeat in range(args.repeats):
        order = names if repeat % 2 == 0 else names[::-1]
        for name in order:
            best[name] = min(best[name], time_steps(params, name, args.steps))
    print("| step | ms per step (best of repeats) | for-loop / this |")
    print("|---|---|---|")
    for name in names:
        ratio = best["for-loop"] / best[name]
        print(f"| {name} | {best[name] * 1e3:.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()

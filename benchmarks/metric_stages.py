"""Where the CPU time of mAP@all goes on the compiled kernels (`src.metrics.kernels`), as
cumulative stages over all queries (MIRFlickr size, real labels where present), and whether a
table of reciprocals could replace the divisions of the exact AP sum. Run by
`python -m benchmarks.bench_metrics --stages`; each stage includes the ones before it:

- distances: the packed XOR + popcount pass of every row (`distances_row`), the floor;
- + relevance: every item's relevance to the query (`relevance_row`, AND of label words);
- + counts per distance: one pass in index order adding 1 to the item's distance counter, the
  least work of any stable (distance, index) counting order (every item, one dependent
  read-modify-write);
- + relevant positions: the kernels' pass in index order with the relevant items' (distance,
  rank) records and their counting sort into positions (`relevant_positions`), in place of
  the bare counts;
- + AP sums: the exact sums of h / p (`ap_sum`): the kernels' whole AP over the full order;
- mAP@all: the whole `evaluate_retrieval` call (inputs checked, packing, torch glue).
"""

from __future__ import annotations

import statistics

import numpy as np

from src.metrics import kernels

STAGES = ("distances", "+ relevance", "+ counts per distance", "+ relevant positions")
STAGES += ("+ AP sums", "mAP@all")


@kernels._jit
def staged_rows(Pq, PrT, Mq, MrT, c: int, stage: int) -> float:
    """The stages up to `stage` (0-4, `STAGES`) for every query row; a checksum."""
    nr = PrT.shape[1]
    d = np.empty(nr, np.uint16)  # (nr,) distances of one query
    rel, acc = np.empty(nr, np.uint8), np.empty(nr, np.uint64)  # (nr,) relevance, scratch
    rec, order = np.empty(nr + 1, np.int64), np.empty(nr, np.int64)  # (nr,) records, positions
    n, r = np.zeros(c + 1, np.int64), np.zeros(c + 1, np.int64)  # (c + 1,) per distance
    check = 0.0
    for i in range(Pq.shape[0]):
        kernels.distances_row(Pq[i], PrT, d)
        if stage >= 1:
            kernels.relevance_row(Mq[i], MrT, acc, rel)
        if stage == 2:
            n[:] = 0
            for j in range(nr):
                n[d[j]] += 1
        if stage >= 3:
            R = kernels.relevant_positions(d, rel, n, r, rec, order)
            check += kernels.ap_sum(order, R) if stage >= 4 else R
        check += n[c] + rel[0]
    return check


def reciprocal_mismatch(work, queries: int) -> tuple[int, int]:
    """Over the AP terms of the first `queries` queries: how many h * (1 / p) (a table of
    float64 reciprocals) differ from the division h / p, and how many terms there are."""
    nr, c = work.PrT.shape[1], work.c
    d, rel = np.empty(nr, np.uint16), np.empty(nr, np.uint8)
    acc, rec, order = np.empty(nr, np.uint64), np.empty(nr + 1, np.int64), np.empty(nr, np.int64)
    n, r = np.zeros(c + 1, np.int64), np.zeros(c + 1, np.int64)
    inv = 1.0 / np.arange(1, nr + 1, dtype=np.float64)  # (nr,) 1 / p
    differ = total = 0
    for i in range(queries):
        kernels.distances_row(work.Pq[i], work.PrT, d)
        kernels.relevance_row(work.Mq[i], work.MrT, acc, rel)
        R = kernels.relevant_positions(d, rel, n, r, rec, order)
        h, p = np.arange(1, R + 1, dtype=np.float64), order[:R]  # (R,) each
        differ += int(np.count_nonzero(h * inv[p - 1] != h / p))
        total += R
    return differ, total


def table(args, sizes: dict, make_case, tasks, interleaved) -> None:
    """The stage table at `args.bits` (bench_metrics' cases, tasks and interleaved timing)."""
    from src.metrics.fused import FusedWork

    print(f"\nStages, {sizes['nq']} queries x {sizes['mir']} items (CPU s, median [min-max])")
    print("| bits | " + " | ".join(STAGES) + " | h * (1/p) != h / p |")
    print("|---|" + "---|" * (len(STAGES) + 1))
    for c in args.bits:
        case, _ = make_case(args.data_dir, "cpu", sizes["nq"], sizes["mir"], c)
        w = FusedWork(*case)
        fns = {
            name: (lambda s=s: staged_rows(w.Pq, w.PrT, w.Mq, w.MrT, w.c, s))
            for s, name in enumerate(STAGES[:-1])
        }
        fns["mAP@all"] = tasks(case)["mAP@all"]
        times = interleaved(fns, args.repeat, "cpu")
        cells = [f"{statistics.median(t):.3f} [{min(t):.3f}-{max(t):.3f}]" for t in times.values()]
        differ, total = reciprocal_mismatch(w, sizes["check"])
        cells.append(f"{differ} of {total} terms")
        print(f"| {c} | " + " | ".join(cells) + " |", flush=True)

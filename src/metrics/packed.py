"""Hamming distances of packed binary codes: XOR and popcount of 64-bit words, on the CPU.

Codes in {-1, +1} are packed once into bits (bit = 1 for +1), 64 to a word, zero-padded: the
padding bits are zero in both codes, so their XOR adds nothing. The distance of two codes is
the number of differing bits, popcount(a XOR b) summed over the words (numpy >= 2's
`numpy.bitwise_count`), exact in integers. This is the kernel of faiss's `IndexBinaryFlat`
and of the MATLAB/numpy evaluation code of the hashing literature (`CalcHammingDist`), done
here with numpy over tiles that stay in the caches, written into a caller's buffer so that a
chunked evaluation reuses one block of memory (its resident size stays bounded).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch import Tensor

# (query, item) pairs per tile: the XOR words (8 bytes a pair) and the popcounts of one tile
# stay in L2; tuned with benchmarks/bench_metrics.py (2 CPU cores, 512 KiB L2 per core).
TILE_PAIRS = 2**17
TILE_WIDTH = 2**13


def pack_codes(B: Tensor) -> np.ndarray:
    """Codes (n, c) float in {-1, +1} as packed bits (n, ceil(c / 64)) uint64, bit = (b > 0).

    Bit i of the code is bit (i mod 64) of word i // 64 (little-endian bit order); the unused
    high bits of the last word are zero.
    """
    n, c = B.shape
    bits = np.packbits(B.detach().cpu().numpy() > 0, axis=1, bitorder="little")  # (n, ceil(c/8))
    words = -(-c // 64)
    padded = np.zeros((n, 8 * words), dtype=np.uint8)  # (n, 8w) bytes, zero padding
    padded[:, : bits.shape[1]] = bits
    return padded.view(np.uint64)  # (n, w) little-endian words


def distance_dtype(c: int) -> np.dtype:
    """The dtype of distances 0..c: uint8 up to 255 bits, else int16 (which torch ranks)."""
    return np.dtype(np.uint8 if c <= 255 else np.int16)


def _tiles(q: int, nr: int) -> Iterator[tuple[slice, slice]]:
    """(query rows, retrieval items) blocks of about `TILE_PAIRS` pairs, rows of up to
    `TILE_WIDTH` items (long rows: few numpy calls per pair)."""
    width = min(nr, TILE_WIDTH)
    rows = max(1, TILE_PAIRS // width)
    for r0 in range(0, q, rows):
        for c0 in range(0, nr, width):
            yield slice(r0, min(r0 + rows, q)), slice(c0, min(c0 + width, nr))


def hamming_into(Pq: np.ndarray, Pr: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Hamming distances of packed codes Pq (q, w), Pr (nr, w) uint64 written into `out`
    (q, nr) uint8 or int16 (a view of a larger buffer is fine); returns `out`.

    Per tile: XOR into one reused uint64 buffer, `numpy.bitwise_count` (popcount), summed
    over the w words (`distance_dtype(c)` holds every sum). ValueError when `out` has the
    wrong shape or cannot hold distances of codes of w words.
    """
    q, w = Pq.shape
    nr = Pr.shape[0]
    # codes of w words have c > 64 (w - 1) bits: out must hold at least that distance
    if out.shape != (q, nr) or Pr.shape[1] != w or np.iinfo(out.dtype).max <= 64 * (w - 1):
        raise ValueError(f"out: expected ({q}, {nr}) of {distance_dtype(64 * w - 63)} or wider")
    xor = np.empty(TILE_PAIRS + TILE_WIDTH, dtype=np.uint64)  # reused XOR words of a tile
    pop = np.empty(TILE_PAIRS + TILE_WIDTH, dtype=np.uint8)  # popcounts of one word
    for rs, cs in _tiles(q, nr):
        shape = (rs.stop - rs.start, cs.stop - cs.start)
        x, p, o = (
            xor[: shape[0] * shape[1]].reshape(shape),
            pop[: shape[0] * shape[1]],
            out[rs, cs],
        )
        for k in range(w):
            np.bitwise_xor(Pq[rs, k, None], Pr[None, cs, k], out=x)
            if k == 0:
                np.bitwise_count(x, out=o, casting="unsafe")
            else:
                np.bitwise_count(x, out=p.reshape(shape))
                np.add(o, p.reshape(shape), out=o, casting="unsafe")
    return out


def hamming_packed(Pq: np.ndarray, Pr: np.ndarray, c: int) -> np.ndarray:
    """Hamming distances (q, nr) `distance_dtype(c)` of packed codes (q, w), (nr, w) uint64."""
    out = np.empty((Pq.shape[0], Pr.shape[0]), dtype=distance_dtype(c))  # (q, nr)
    return hamming_into(Pq, Pr, out)

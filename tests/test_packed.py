"""Packed-bit Hamming distances (src/metrics/packed.py) against a plain count of differing
entries, on generated codes of any length (not a multiple of 8 or 64, above 255 bits) and
any tile size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metric_reference import ref_distances
from src.metrics import packed


@pytest.mark.parametrize("seed", range(12))
def test_packed_distances_match_the_count_of_differing_bits(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    c = int(rng.choice([1, 7, 8, 16, 33, 64, 65, 128, 200, 255, 256, 300]))
    nq, nr = int(rng.integers(1, 9)), int(rng.integers(1, 300))
    Bq = rng.choice([-1.0, 1.0], size=(nq, c)).astype(np.float32)
    Br = rng.choice([-1.0, 1.0], size=(nr, c)).astype(np.float32)
    Br[: min(nr, nq)] = Bq[: min(nr, nq)]  # some distances 0
    Br[-1] = -Bq[0]  # one distance c
    want = np.stack([ref_distances(bq, Br) for bq in Bq])  # (nq, nr)
    Pq, Pr = packed.pack_codes(torch.from_numpy(Bq)), packed.pack_codes(torch.from_numpy(Br))
    assert Pq.dtype == np.uint64 and Pq.shape == (nq, -(-c // 64))
    for pairs, width in ((2**17, 2**13), (1, 1), (5, 3)):
        monkeypatch.setattr(packed, "TILE_PAIRS", pairs)
        monkeypatch.setattr(packed, "TILE_WIDTH", width)
        got = packed.hamming_packed(Pq, Pr, c)
        assert got.dtype == (np.uint8 if c <= 255 else np.int16)
        np.testing.assert_array_equal(got, want)


def test_a_too_narrow_buffer_is_refused() -> None:
    P = packed.pack_codes(torch.ones(2, 300))
    with pytest.raises(ValueError, match="out: expected"):
        packed.hamming_into(P, P, np.empty((2, 2), dtype=np.uint8))

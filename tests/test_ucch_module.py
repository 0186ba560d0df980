"""UCCH: the contrastive hashing loss, the ranking loss and the memory update against plain
loops and the paper's formulas written out; one training step (memory bank and warm-up)
against an independent replay; the memory bank over the train rows, saved and restored;
determinism, resume, learning; config errors; the experiment files; an end-to-end train.py
run whose checkpoint evaluates identically."""

import copy
import json
import math
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_dir

from src.data.datamodule import AGCHDataModule
from src.models.contrastive import contrastive_hashing_loss, cross_modal_ranking_loss
from src.models.contrastive import in_batch_dictionary, momentum_update, sample_negatives
from src.models.contrastive import ucch_loss
from src.models.train_items import epoch_generator
from src.models.ucch_module import MEMORY_KEY, UCCHModule
from src.utils.errors import ConfigError
from test_djsrh_module import TINY_RUN, compose_run
from training_checks import assert_learns, assert_resume_matches, assert_same_seed_same_weights
from training_checks import make_trainer

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(hidden_dim=32, code_length=8, eval_ks=[1, 10], negatives=64)


def unit_rows(m: int, c: int, g: torch.Generator) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(m, c, generator=g), dim=1)


def dot(a, b) -> float:
    return sum(x * y for x, y in zip(a, b))


# ----------------------------------------------------------------- contrastive hashing
def loop_contrastive(h, keys, positive, negatives, t) -> float:
    """Eqs. (3)-(4) query by query: k = sgn / sqrt(c), -log of the positive's softmax share."""
    c = len(keys[0])
    total = 0.0
    for i, row in enumerate(h):
        key = [[v / math.sqrt(c) for v in keys[j]] for j in range(len(keys))]
        pos = math.exp(dot(row, key[positive[i]]) / t)
        neg = sum(math.exp(dot(row, key[j]) / t) for j in negatives[i])
        total += -math.log(pos / (pos + neg))
    return total / len(h)


@pytest.mark.parametrize("seed", range(6))
def test_contrastive_loss_matches_a_plain_loop(seed: int) -> None:
    """Random sizes, temperatures and draws (repeated negatives included)."""
    rng, g = random.Random(seed), torch.Generator().manual_seed(seed)
    m, c, n, K = (
        rng.randrange(2, 6),
        rng.randrange(2, 9),
        rng.randrange(3, 12),
        rng.randrange(1, 9),
    )
    h = unit_rows(m, c, g)
    keys = torch.where(torch.randn(n, c, generator=g) > 0, 1.0, -1.0)
    positive = torch.randint(0, n, (m,), generator=g)
    negatives = torch.randint(0, n, (m, K), generator=g)
    t = rng.uniform(0.1, 2.0)
    got = contrastive_hashing_loss(h, keys, positive, negatives, t)
    want = loop_contrastive(h.tolist(), keys.tolist(), positive.tolist(), negatives.tolist(), t)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_contrastive_loss_hand_computed() -> None:
    """c = 4, h equal to its positive key (1, 1, 1, 1) / 2, one negative its opposite: the
    scores are 1 and -1, so the loss is -log(e^(1/t) / (e^(1/t) + e^(-1/t))) = log(1 + e^-2)
    at t = 1."""
    h = torch.full((1, 4), 0.5)
    keys = torch.tensor([[1.0] * 4, [-1.0] * 4])
    got = contrastive_hashing_loss(h, keys, torch.tensor([0]), torch.tensor([[1]]), 1.0)
    assert got.item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)


def test_in_batch_dictionary_is_each_items_own_key_against_the_others() -> None:
    g = torch.Generator().manual_seed(0)
    h_x, h_y = unit_rows(5, 6, g), unit_rows(5, 6, g)
    keys, positive, negatives = in_batch_dictionary(h_x.requires_grad_(), h_y)
    want = [[1.0 if a + b > 0 else -1.0 for a, b in zip(x, y)] for x, y in zip(h_x, h_y)]
    assert keys.tolist() == want and not keys.requires_grad
    assert positive.tolist() == list(range(5))
    assert negatives.tolist() == [[j for j in range(5) if j != i] for i in range(5)]


@pytest.mark.parametrize("n, K", [(2, 5), (7, 3), (50, 4096)])
def test_negatives_are_uniform_over_the_other_slots(n: int, K: int) -> None:
    """Never the query's own slot, every other slot drawn, about equally often; the same
    generator seed gives the same draws."""
    positive = torch.arange(20) % n
    draws = sample_negatives(positive, n, K, torch.Generator().manual_seed(1))
    again = sample_negatives(positive, n, K, torch.Generator().manual_seed(1))
    assert torch.equal(draws, again) and draws.shape == (20, K)
    for i, row in enumerate(draws.tolist()):
        assert set(row) <= set(range(n)) - {int(positive[i])}
    counts = torch.bincount(draws[positive == 0].flatten(), minlength=n)[1:].float()
    assert counts.min() > 0 and counts.max() / counts.mean() < (1.2 if K > 100 else 10)
    with pytest.raises(ValueError, match="2 or more"):
        sample_negatives(torch.tensor([0]), 1, 3, torch.Generator())


# --------------------------------------------------------------------------- ranking
def loop_ranking(M, margin, shift, kappa) -> float:
    """One direction of Eq. (14) with Eq. (8), entry by entry (M[i][j] = query i, item j)."""
    n, total = len(M), 0.0
    for i in range(n):
        S = [M[i][j] if M[i][i] - M[i][j] <= margin else M[i][j] - shift for j in range(n)]
        total += margin + kappa * math.log(sum(math.exp(s / kappa) for s in S)) - S[i]
    return total / n


@pytest.mark.parametrize("seed", range(6))
def test_ranking_loss_matches_the_formula_written_out(seed: int) -> None:
    rng, g = random.Random(seed), torch.Generator().manual_seed(seed)
    m, c = rng.randrange(2, 7), rng.randrange(2, 9)
    h_x, h_y = unit_rows(m, c, g), unit_rows(m, c, g)
    margin, shift, kappa = rng.uniform(0, 1), rng.uniform(0, 2), rng.uniform(0.2, 2)
    got = cross_modal_ranking_loss(h_x, h_y, margin, shift, kappa)
    M = [[dot(a, b) for b in h_y.tolist()] for a in h_x.tolist()]  # M^xy
    Mt = [list(col) for col in zip(*M)]  # M^yx: text query i, image j
    want = loop_ranking(M, margin, shift, kappa) + loop_ranking(Mt, margin, shift, kappa)
    assert got.item() == pytest.approx(want, rel=1e-5)
    # Theorem 1: the max-margin loss of Eq. (7) on S is below each direction's bound
    for A in (M, Mt):
        S = [
            [A[i][j] if A[i][i] - A[i][j] <= margin else A[i][j] - shift for j in range(m)]
            for i in range(m)
        ]
        hinge = sum(max(0.0, margin + S[i][j] - S[i][i]) for i in range(m) for j in range(m))
        assert hinge / m**2 <= loop_ranking(A, margin, shift, kappa) + 1e-9


def test_ranking_loss_hand_computed() -> None:
    """Two pairs with M^xy = [[1, 0], [0, 1]], margin 0.2, shift 1, kappa 1: every off-diagonal
    item lies outside the margin and is shifted to -1, so each query gives
    0.2 + log(e^1 + e^-1) - 1 in both directions."""
    eye = torch.eye(2)
    got = cross_modal_ranking_loss(eye, eye, 0.2, 1.0, 1.0)
    assert got.item() == pytest.approx(2 * (0.2 + math.log(math.e + 1 / math.e) - 1), rel=1e-6)


# ------------------------------------------------------------------------ memory, total
@pytest.mark.parametrize("normalise", [False, True])
def test_momentum_update_is_eq_5(normalise: bool) -> None:
    g = torch.Generator().manual_seed(3)
    v, h_x, h_y = unit_rows(4, 5, g), unit_rows(4, 5, g), unit_rows(4, 5, g)
    got = momentum_update(v, h_x, h_y, 0.4, normalise)
    for i in range(4):
        mean = [(a + b) / 2 for a, b in zip(h_x[i].tolist(), h_y[i].tolist())]
        if normalise:
            mean = [x / math.sqrt(dot(mean, mean)) for x in mean]
        new = [0.4 * a + 0.6 * b for a, b in zip(v[i].tolist(), mean)]
        if normalise:
            new = [x / math.sqrt(dot(new, new)) for x in new]
        assert got[i].tolist() == pytest.approx(new, rel=1e-5, abs=1e-7)
    assert torch.equal(momentum_update(v, h_x, h_x, 0.0), h_x)  # delta 0: the new value alone


def test_total_is_eq_15() -> None:
    g = torch.Generator().manual_seed(4)
    h_x, h_y = unit_rows(4, 6, g), unit_rows(4, 6, g)
    dictionary = in_batch_dictionary(h_x, h_y)
    terms = ucch_loss(h_x, h_y, dictionary, 0.3, 0.9, 0.2, 0.1, 1.0)
    assert terms["Lc_image"].item() == pytest.approx(
        contrastive_hashing_loss(h_x, *dictionary, 0.9).item()
    )
    want = 0.3 * (terms["Lc_image"] + terms["Lc_text"]) + 0.7 * terms["Lr"]
    assert terms["L"].item() == pytest.approx(want.item(), rel=1e-6)


# ------------------------------------------------------------------------------- module
def make_module(dm: AGCHDataModule, **overrides) -> UCCHModule:
    image_dim, text_dim = dm.feature_dims()
    model = UCCHModule(image_dim=image_dim, text_dim=text_dim, **(TINY | overrides))
    model.set_input_stats(dm.train_statistics())
    return model


@pytest.mark.parametrize("warmup", [0, 1])
def test_one_step_against_an_independent_replay(synthetic_store, tmp_path, warmup) -> None:
    """One batch in a real trainer: both networks take one Adam step on Eq. (15) with the
    gradient norm clipped at 1, and only the batch's slots of the bank move, by Eq. (5) with
    the outputs of the forward before the step (momentum 0 in the warm-up); the replay is
    written out with torch.optim.Adam, clip_grad_norm_ and the plain update."""
    dm = AGCHDataModule(str(synthetic_store), batch_size=16)
    model = make_module(dm, warmup_epochs=warmup, grad_clip_norm=1.0, lr=1e-2)
    replay = copy.deepcopy(model)
    make_trainer(tmp_path, 1, limit_train_batches=1, limit_val_batches=0).fit(model, dm)
    rows = torch.from_numpy(dm.splits["train"])
    replay.init_memory(rows)
    initial = replay.memory.clone()
    batch = next(iter(dm.train_dataloader()))  # epoch 0's first batch
    slots = torch.searchsorted(rows, batch[2])
    h_x, h_y = replay.continuous_codes(batch[0], batch[1])
    if warmup:
        keys = torch.where((h_x + h_y).detach() > 0, 1.0, -1.0)
        others = [[j for j in range(16) if j != i] for i in range(16)]
        dictionary = (keys, torch.arange(16), torch.tensor(others))
    else:
        keys = torch.where(initial > 0, 1.0, -1.0)
        draws = sample_negatives(slots, rows.numel(), 64, epoch_generator(model.sample_seed, 0))
        dictionary = (keys, slots, draws)
    loss = ucch_loss(h_x, h_y, dictionary, 0.7, 0.9, 0.2, 0.1, 1.0)["L"]
    adam = torch.optim.Adam(replay.parameters(), lr=1e-2, weight_decay=1e-6)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(replay.parameters(), 1.0)
    adam.step()
    for (name, a), b in zip(model.named_parameters(), replay.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7, msg=name)
    delta = 0.0 if warmup else 0.4
    want = initial.clone()
    want[slots] = delta * initial[slots] + (1 - delta) * (h_x + h_y).detach() / 2
    torch.testing.assert_close(model.memory, want, rtol=1e-5, atol=1e-7)
    untouched = torch.ones(rows.numel(), dtype=torch.bool)
    untouched[slots] = False
    assert torch.equal(model.memory[untouched], initial[untouched])


def test_memory_bank_is_over_the_rows_trained_on(synthetic_store, tmp_path) -> None:
    """Random signs (about half +1) on unit rows over the train rows without the held-out
    validation queries; saved in the checkpoint, restored, refused by a fit over another
    train split."""
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, val_mode="heldout")
    model = make_module(dm)
    make_trainer(tmp_path, 1, limit_train_batches=1, limit_val_batches=0).fit(model, dm)
    rows = dm.splits["train"]
    assert not set(rows.tolist()) & set(dm.splits["val_query"].tolist())
    assert model.memory_rows.tolist() == sorted(rows.tolist())
    fresh = make_module(dm, code_length=64)
    fresh.init_memory(torch.from_numpy(rows))
    assert torch.equal(fresh.memory.abs(), torch.full_like(fresh.memory, 1 / 8))
    assert 0.45 < float((fresh.memory > 0).float().mean()) < 0.55
    checkpoint: dict = {}
    model.on_save_checkpoint(checkpoint)
    other = make_module(dm)
    other.on_load_checkpoint(checkpoint)
    assert torch.equal(other.memory, model.memory) and MEMORY_KEY in checkpoint
    saved = checkpoint[MEMORY_KEY]  # a bank of another split: one item fewer
    other.on_load_checkpoint({MEMORY_KEY: {k: v[:-1] for k, v in saved.items()}})
    with pytest.raises(ConfigError, match="another train split"):
        make_trainer(tmp_path / "b", 1, limit_val_batches=0).fit(other, dm)


def test_memory_bank_refuses_several_processes() -> None:
    model = UCCHModule(image_dim=4, text_dim=4, **TINY)
    model.trainer = SimpleNamespace(world_size=2)
    with pytest.raises(ConfigError, match="one process"):
        model.on_train_start()


def recording(made: list, **overrides):
    """A factory of `make_module` that keeps what it made in ``made``."""

    def factory(dm):
        made.append(make_module(dm, **overrides))
        return made[-1]

    return factory


def test_same_seed_is_bit_identical(synthetic_store, tmp_path) -> None:
    """Weights (the helper) and the memory bank."""
    made: list = []
    assert_same_seed_same_weights(recording(made), synthetic_store, tmp_path)
    assert torch.equal(made[0].memory, made[1].memory)
    assert not torch.equal(made[0].memory, made[2].memory)


def test_resume_matches_uninterrupted_run(synthetic_store, tmp_path) -> None:
    """Warm-up epoch, then two on the bank: the resumed run restores the bank and draws the
    negatives of the uninterrupted run; weights and bank end equal."""
    made: list = []
    assert_resume_matches(recording(made), synthetic_store, tmp_path)
    full, _, resumed = made
    assert torch.equal(full.memory, resumed.memory)


def test_every_module_learns_and_the_loss_falls(synthetic_store, tmp_path) -> None:
    """Without the warm-up: its in-batch dictionary (15 negatives) gives a lower loss than the
    bank's (64 here), so the first epoch's loss is comparable only without it (the default's
    own terms are compared from the first bank epoch: tests/test_training_health.py)."""
    changes = assert_learns(recording([], warmup_epochs=0), synthetic_store, tmp_path)
    assert set(changes) == {"image_net.fc", "text_net.fc"}


@pytest.mark.parametrize(
    "key, value",
    [
        ("beta", 1.5),
        ("temperature", 0.0),
        ("negatives", 0),
        ("memory_momentum", 1.0),
        ("warmup_epochs", -1),
        ("warmup_epochs", 0.5),
        ("margin", float("nan")),
        ("ranking_scale", -1.0),
        ("grad_clip_norm", 0.0),
        ("normalise_memory", "yes"),
        ("image_layers", 0),
    ],
)
def test_impossible_values_fail_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^model\.{key}: expected"):
        UCCHModule(image_dim=4, text_dim=4, **(TINY | {key: value}))


def test_networks_have_the_release_depths() -> None:
    """3 and 2 Linear layers (the release's --num_hiden_layers 3 2), unit-norm outputs."""
    model = UCCHModule(image_dim=6, text_dim=5, hidden_dim=16, code_length=4)
    widths = [
        [(m.in_features, m.out_features) for m in net.fc if isinstance(m, torch.nn.Linear)]
        for net in (model.image_net, model.text_net)
    ]
    assert widths == [[(6, 16), (16, 16), (16, 4)], [(5, 16), (16, 4)]]
    h_x, h_y = model.continuous_codes(torch.rand(3, 6), torch.rand(3, 5))
    torch.testing.assert_close(h_x.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(h_y.norm(dim=1), torch.ones(3))


@pytest.mark.parametrize("dataset", ["wiki", "uci", "news", "mirflickr", "nuswide"])
def test_experiments_hold_the_published_values(dataset: str) -> None:
    """Paper: t 0.9, K 4096, delta 0.4, m 0.2, lr 1e-4, 20 epochs; release: batch 256, beta
    0.7, xi 0.1, Adam weight decay 1e-6, clip 1, networks 3 and 2 layers of 8192; UCI's beta
    0.5, chosen on held-out UCI pairs (docs/peer_selection.md, "Outcome: UCCH on UCI")."""
    for bits in (16, 32, 64, 128):
        with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
            cfg = compose("train", overrides=[f"experiment={dataset}_ucch_{bits}bit"])
        assert (cfg.data.batch_size, cfg.trainer.max_epochs, cfg.data.drop_last) == (256, 20, True)
        assert list(cfg.tags) == [dataset, "ucch", f"{bits}bit"]
        model = cfg.model
        assert model.code_length == bits and Path(cfg.data.path).name == f"{dataset}.h5"
        held = (model.temperature, model.negatives, model.memory_momentum, model.margin, model.lr)
        assert held == (0.9, 4096, 0.4, 0.2, 1e-4)
        release = (model.beta, model.shift, model.weight_decay, model.grad_clip_norm)
        assert release == (0.5 if dataset == "uci" else 0.7, 0.1, 1e-6, 1.0)
        layers = (model.hidden_dim, model.image_layers, model.text_layers, model.warmup_epochs)
        assert layers == (8192, 3, 2, 1)


def test_train_py_runs_ucch_and_the_checkpoint_evaluates_identically(tmp_path: Path) -> None:
    """Two epochs (the warm-up, one on the bank) through train.py; last.ckpt holds the bank;
    eval.py's loader rebuilds a model that gives the trained codes."""
    from src.eval import load_model
    from src.train import train

    overrides = [f"data.path={tmp_path / 'tiny.h5'}", "model=ucch", *TINY_RUN]
    overrides += ["model.code_length=16", "model.hidden_dim=64", "trainer.max_epochs=2"]
    overrides += ["trainer.check_val_every_n_epoch=2"]  # the best checkpoint is the last
    metrics, objects = train(compose_run(overrides, tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["method"] == "ucch" and results["code_length"] == 16
    assert 0.0 <= results["metrics"]["test/map@50"] <= 1.0
    assert results["metrics"]["health/image_net/own_loss_ratio"] == pytest.approx(1.0)
    saved = torch.load(results["last_ckpt_path"], weights_only=True)
    trained = objects["model"]
    assert torch.equal(saved[MEMORY_KEY]["values"], trained.memory.cpu())
    loaded = load_model(results["last_ckpt_path"], 32, 24)
    x_v, x_t = torch.rand(5, 32), torch.rand(5, 24)
    for a, b in zip(trained.encode(x_v, x_t), loaded.encode(x_v, x_t)):
        assert torch.equal(a, b)

"""DGCPN: the graph-neighbour similarity and the loss against plain loops and a hand-computed
case; the three steps of a batch update what they should (against an independent replay);
the graph over the train rows; seeded dropout; determinism, resume, learning; config errors;
an end-to-end train.py run."""

import copy
import json
import math
import random
from pathlib import Path

import pytest
import torch

from src.data.datamodule import AGCHDataModule
from src.data.loading import read_features
from src.models.base import sign_codes
from src.models.dgcpn_module import DGCPNModule, dgcpn_loss, graph_neighbour_similarity
from src.models.dgcpn_module import neighbour_count
from src.models.twin_nets import HashMLP, seeded_dropout
from src.utils.errors import ConfigError
from test_djsrh_module import TINY_RUN, compose_run, loop_cosine
from training_checks import assert_learns, assert_resume_matches, assert_same_seed_same_weights
from training_checks import make_trainer

TINY = dict(hidden_dim=32, code_length=8, eval_ks=[1, 10])


def loop_graph(xv, xt, w_t, K, gamma, kappa) -> list[list[float]]:
    """S entry by entry: the K most similar other items by C, their weights max(C, 0) over
    their sum, G_ij = K sum_k P_ik P_jk, S = 2 ((1 - gamma) C + gamma kappa G) - 1."""
    n = len(xv)
    C = [
        [(1 - w_t) * loop_cosine(xv, i, j) + w_t * loop_cosine(xt, i, j) for j in range(n)]
        for i in range(n)
    ]
    P = []
    for i in range(n):
        near = sorted((j for j in range(n) if j != i), key=lambda j: -C[i][j])[:K]
        weights = {j: max(C[i][j], 0.0) for j in near}
        total = sum(weights.values())
        P.append([weights.get(j, 0.0) / total if total > 0 else 0.0 for j in range(n)])
    G = [[K * sum(P[i][k] * P[j][k] for k in range(n)) for j in range(n)] for i in range(n)]
    return [
        [2 * ((1 - gamma) * C[i][j] + gamma * kappa * G[i][j]) - 1 for j in range(n)]
        for i in range(n)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_graph_similarity_matches_loop(seed: int) -> None:
    """Random sizes, K and weights; signed text features in odd seeds (negative cosines,
    clamped neighbour weights)."""
    rng = random.Random(seed)
    n, K = rng.randrange(4, 12), None
    K = rng.randrange(1, n)
    g = torch.Generator().manual_seed(seed)
    xv = torch.rand(n, 5, generator=g)
    xt = torch.randn(n, 3, generator=g) if seed % 2 else torch.rand(n, 3, generator=g)
    w_t, gamma, kappa = rng.random(), rng.random(), rng.uniform(0.5, 3)
    S = graph_neighbour_similarity(xv, xt, w_t, K, gamma, kappa)
    want = loop_graph(xv.tolist(), xt.tolist(), w_t, K, gamma, kappa)
    assert S.dtype == torch.float32 and not S.requires_grad
    torch.testing.assert_close(S, torch.tensor(want), rtol=1e-5, atol=1e-5)


def test_graph_similarity_hand_computed() -> None:
    """Two clusters of three identical items, K = 2: each item's neighbours are the other two
    of its cluster with weight 1/2, so G = 1 on the diagonal, 2 (1/2 1/2) = 1/2 within a
    cluster and 0 across; with gamma 1/2, kappa 2, text weight 0:
    S_ii = 2 (1/2 + 1) - 1 = 2, S_ij = 2 (1/2 + 1/2) - 1 = 1 within, 2 (0 + 0) - 1 = -1 across."""
    xv = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3)
    S = graph_neighbour_similarity(xv, torch.rand(6, 4), 0.0, 2, 0.5, 2.0)
    same = torch.block_diag(torch.ones(3, 3), torch.ones(3, 3)).bool()
    want = torch.where(same, 1.0, -1.0).fill_diagonal_(2.0)
    torch.testing.assert_close(S, want)


def test_neighbour_count_reproduces_the_release_and_stays_in_range() -> None:
    assert neighbour_count(5000, 0.4) == 2000  # the paper's K of 5000 MIRFlickr train items
    assert neighbour_count(2173, 0.4) == 869 and neighbour_count(10, 1e-9) == 1
    assert neighbour_count(10, 1.0) == 9
    with pytest.raises(ValueError, match="neighbours"):
        graph_neighbour_similarity(torch.rand(3, 2), torch.rand(3, 2), 0.1, 3, 0.3, 2.0)


def test_loss_matches_loop() -> None:
    g = torch.Generator().manual_seed(1)
    m, c = 5, 4
    S = torch.randn(m, m, generator=g)
    B_I, B_T = torch.tanh(torch.randn(m, c, generator=g)), torch.tanh(
        torch.randn(m, c, generator=g)
    )

    def unit(X):
        return [[v / math.sqrt(sum(a * a for a in row)) for v in row] for row in X.tolist()]

    ui, ut = unit(B_I), unit(B_T)

    def gram(X, Y):
        return [[sum(a * b for a, b in zip(X[i], Y[j])) for j in range(m)] for i in range(m)]

    II, TT, IT = gram(ui, ui), gram(ut, ut), gram(ui, ut)

    def sim(G):
        return sum((G[i][j] - S[i, j].item()) ** 2 for i in range(m) for j in range(m) if i != j)

    def mse(A, B):
        return sum((A[i][j] - B[i][j]) ** 2 for i in range(m) for j in range(m)) / m**2

    pair = sum((IT[i][i] - 1.5) ** 2 for i in range(m)) / m
    sims = [sim(II) / m**2, sim(IT) / m**2, sim(TT) / m**2]
    ITt = [list(r) for r in zip(*IT)]
    cons = mse(IT, II) + mse(IT, TT) + mse(II, TT) + mse(IT, ITt)
    terms = dgcpn_loss(S, B_I, B_T, alpha=0.7, beta=1.3, pair_target=1.5)
    got = [terms[k].item() for k in ("pair", "sim_II", "sim_IT", "sim_TT", "cons")]
    assert got == pytest.approx([pair, *sims, cons], rel=1e-5)
    assert terms["L"].item() == pytest.approx(pair + 0.7 * sum(sims) + 1.3 * cons, rel=1e-5)
    # equal unit codes: the pair term is (1 - 1.5)^2 and the consistency terms vanish
    same = dgcpn_loss(S, B_I, B_I, 1.0, 1.0, 1.5)
    assert same["pair"].item() == pytest.approx(0.25) and same["cons"].item() < 1e-12


def test_seeded_dropout_keeps_scales_and_replays() -> None:
    x = torch.ones(200, 50)
    a = seeded_dropout(x, 0.5, torch.Generator().manual_seed(7))
    b = seeded_dropout(x, 0.5, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and set(a.unique().tolist()) == {0.0, 2.0}
    assert 0.45 < float((a == 0).float().mean()) < 0.55
    net = HashMLP(6, 16, 4, dropout=0.5).eval()  # no dropout outside training
    x = torch.rand(3, 6)
    assert torch.equal(net(x, torch.Generator()), net.hash(net.encoder(x)))
    plain = HashMLP(6, 16, 4).train()  # rate 0 adds no operation
    assert torch.equal(plain(x), plain.hash(plain.encoder(x)))


def make_module(dm: AGCHDataModule, **overrides) -> DGCPNModule:
    image_dim, text_dim = dm.feature_dims()
    model = DGCPNModule(image_dim=image_dim, text_dim=text_dim, **(TINY | overrides))
    model.set_input_stats(dm.train_statistics())
    return model


class Recorder:
    """An optimiser that records, at each step, which top-level modules changed."""

    def __init__(self, name: str, opt: torch.optim.Optimizer, model, log: list) -> None:
        self.name, self.opt, self.model, self.log = name, opt, model, log

    def zero_grad(self) -> None:
        self.opt.zero_grad()

    def step(self) -> None:
        before = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        self.opt.step()
        changed = {
            n.split(".")[0]
            for n, p in self.model.named_parameters()
            if not torch.equal(p.detach(), before[n])
        }
        self.log.append((self.name, changed))


def test_each_step_updates_its_network_as_an_independent_replay(synthetic_store) -> None:
    """One batch: image and text step on L(B_I, B_T), then the image alone on
    L(B_I, sign(B_T)), then the text alone on L(sign(B_I), B_T) with B_I of the second
    forward; the weights equal a replay written out with plain torch.optim.SGD."""
    dm = AGCHDataModule(str(synthetic_store), batch_size=16)
    dm.setup("fit")
    model = make_module(dm, dropout=0.0)
    rows = dm.splits["train"]
    model.build_graph(torch.from_numpy(rows), *read_features(dm.path, rows))
    batch = next(iter(dm.train_dataloader()))
    replay = copy.deepcopy(model)
    log: list = []
    opt_i, opt_t = model.configure_optimizers()
    recorders = (Recorder("image", opt_i, model, log), Recorder("text", opt_t, model, log))
    model.optimizers = lambda: recorders
    model.manual_backward = lambda loss: loss.backward()
    model.log = lambda *args, **kwargs: None
    model.training_step(batch, 0)
    assert log == [
        ("image", {"image_net"}),
        ("text", {"text_net"}),
        ("image", {"image_net"}),
        ("text", {"text_net"}),
    ]
    hp = replay.hparams
    sgd = dict(momentum=hp.momentum, weight_decay=hp.weight_decay)
    r_i = torch.optim.SGD(replay.image_net.parameters(), lr=hp.lr_image, **sgd)
    r_t = torch.optim.SGD(replay.text_net.parameters(), lr=hp.lr_text, **sgd)
    x_v, x_t = replay.normalise_inputs(batch[0], batch[1])
    pos = torch.searchsorted(torch.from_numpy(rows), batch[2])
    S = replay.graph[pos][:, pos]

    def codes():
        return torch.tanh(replay.image_net(x_v)), torch.tanh(replay.text_net(x_t))

    def step(opts, loss):
        for o in opts:
            o.zero_grad()
        loss.backward()
        for o in opts:
            o.step()

    B_I, B_T = codes()
    step((r_i, r_t), dgcpn_loss(S, B_I, B_T, 1.0, 1.0, 1.5)["L"])
    B_I, B_T = codes()
    step((r_i,), dgcpn_loss(S, B_I, sign_codes(B_T.detach()), 1.0, 1.0, 1.5)["L"])
    step((r_t,), dgcpn_loss(S, sign_codes(B_I.detach()), B_T, 1.0, 1.0, 1.5)["L"])
    for (name, a), b in zip(model.named_parameters(), replay.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)


def test_graph_is_over_the_rows_trained_on(synthetic_store, tmp_path) -> None:
    """Built at the start over the train rows (without the held-out validation queries),
    from their raw features; a batch's target is the graph's entries of its rows."""
    dm = AGCHDataModule(str(synthetic_store), batch_size=16, val_mode="heldout")
    model = make_module(dm, neighbour_fraction=0.25)
    make_trainer(tmp_path, 1, limit_train_batches=1, limit_val_batches=0).fit(model, dm)
    rows = dm.splits["train"]
    assert not set(rows.tolist()) & set(dm.splits["val_query"].tolist())
    assert torch.equal(model.graph_rows, torch.from_numpy(rows))
    x_v, x_t = read_features(dm.path, rows)
    K = neighbour_count(rows.size, 0.25)
    torch.testing.assert_close(model.graph, graph_neighbour_similarity(x_v, x_t, 0.01, K, 0.3, 2))
    picked = torch.from_numpy(rows[[5, 0, 17]])
    want = [[model.graph[i, j].item() for j in (5, 0, 17)] for i in (5, 0, 17)]
    assert model.batch_similarity(picked).tolist() == want
    with pytest.raises(ValueError, match="outside"):
        model.batch_similarity(torch.from_numpy(dm.splits["val_query"][:2]))


def test_same_seed_is_bit_identical(synthetic_store, tmp_path) -> None:
    assert_same_seed_same_weights(make_module, synthetic_store, tmp_path)


def test_resume_matches_uninterrupted_run(synthetic_store, tmp_path) -> None:
    """With dropout: the masks of a resumed epoch are those of the uninterrupted run."""
    assert_resume_matches(make_module, synthetic_store, tmp_path)


def test_every_module_learns_and_the_loss_falls(synthetic_store, tmp_path) -> None:
    changes = assert_learns(make_module, synthetic_store, tmp_path)
    assert set(changes) == {
        f"{n}.{p}" for n in ("image_net", "text_net") for p in ("encoder", "hash")
    }


@pytest.mark.parametrize(
    "key, value",
    [
        ("dropout", 1.0),
        ("neighbour_fraction", 0.0),
        ("neighbour_fraction", 1.5),
        ("weight_text", -0.1),
        ("text_hash_init_std", 0.0),
        ("pair_target", float("nan")),
        ("tanh_scale", "x"),
    ],
)
def test_impossible_values_fail_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^model\.{key}: expected"):
        DGCPNModule(image_dim=4, text_dim=4, **(TINY | {key: value}))


def test_train_py_runs_dgcpn_and_the_checkpoint_evaluates_identically(tmp_path: Path) -> None:
    from src.train import train

    overrides = [f"data.path={tmp_path / 'tiny.h5'}", "model=dgcpn", *TINY_RUN]
    overrides += ["model.code_length=16", "model.hidden_dim=64"]
    metrics, objects = train(compose_run(overrides, tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["method"] == "dgcpn" and results["code_length"] == 16
    assert 0.0 <= results["metrics"]["test/map@50"] <= 1.0
    loaded = DGCPNModule.load_from_checkpoint(results["last_ckpt_path"], weights_only=True)
    trained = objects["model"].eval()  # test-time codes: no dropout
    assert torch.equal(loaded.dropout_seed, trained.dropout_seed)
    x_v, x_t = torch.rand(5, 32), torch.rand(5, 24)
    for a, b in zip(trained.encode(x_v, x_t), loaded.eval().encode(x_v, x_t)):
        assert torch.equal(a, b)


def test_text_hash_init_std_sets_the_release_initialisation() -> None:
    """0.3 (the release's value): normal weights of that std; None: PyTorch's default, whose
    uniform bound 1 / sqrt(hidden_dim) caps every weight."""
    torch.manual_seed(0)
    model = DGCPNModule(image_dim=4, text_dim=4, hidden_dim=4096, text_hash_init_std=0.3)
    assert float(model.text_net.hash.weight.std()) == pytest.approx(0.3, rel=0.02)
    default = DGCPNModule(image_dim=4, text_dim=4, hidden_dim=4096)
    assert float(default.text_net.hash.weight.abs().max()) <= 1 / 64

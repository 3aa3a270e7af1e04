import pytest
import torch

from sheafgraph.generative.losses import dsm_loss, masked_mse
from sheafgraph.generative.noise import Graphs
from sheafgraph.generative.score_networks import GDSSNoiseModel
from sheafgraph.generative.sde import GraphSDE, VESDE, VPSDE
from sheafgraph.generative.training import fit, train_step
from sheafgraph.utils import EMA, load_checkpoint

from tests.generative.qm9_slice import qm9_slice

SDE = GraphSDE(VESDE(0.1, 1.0), VESDE(0.1, 1.0))
SMALL = dict(x_params={"hidden": 8}, adj_params={"hidden": 8, "num_layers": 2, "c_hid": 4, "attn_dim": 8})


def test_loss_decreases_on_real_qm9(shared_data):
    data = qm9_slice(shared_data, 128)
    assert data.x.shape == (128, 9, 4) and set(data.adj.unique().tolist()) == {0.0, 1.0, 2.0, 3.0}
    torch.manual_seed(0)
    model = GDSSNoiseModel(4, time_conditioning=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)

    def held_out_loss():
        with torch.no_grad():
            return sum(dsm_loss(model, SDE, data, generator=torch.Generator().manual_seed(123)))

    before = float(held_out_loss())
    g = torch.Generator().manual_seed(0)
    for _ in range(15):
        idx = torch.randint(0, 128, (32,), generator=g)
        train_step(model, SDE, optimizer, Graphs(data.x[idx], data.adj[idx], data.mask[idx]), generator=g)
    after = float(held_out_loss())
    assert after < 0.6 * before, (before, after)


def test_loss_takes_a_bool_mask_as_its_0_1_float():
    mask = torch.tensor([[1.0, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    x = torch.nn.functional.one_hot(torch.tensor([[0, 1, 0, 0, 0], [2, 0, 0, 3, 1], [1, 1, 0, 0, 0]]), 4).float()
    adj = torch.zeros(3, 5, 5)
    adj[:, 0, 1] = adj[:, 1, 0] = 1.0
    x, adj = x * mask[..., None], adj * mask[:, None] * mask[..., None]
    torch.manual_seed(0)
    model = GDSSNoiseModel(4, **SMALL)
    as_float, as_bool = (dsm_loss(model, SDE, Graphs(x, adj, m), generator=torch.Generator().manual_seed(5))
                         for m in (mask, mask.bool()))
    for a, b in zip(as_float, as_bool):
        assert torch.equal(a, b)


def test_masked_mean_over_real_entries_only():
    pred = torch.tensor([[1.0, 2.0, 100.0]])
    target = torch.tensor([[0.0, 0.0, -50.0]])
    weight = torch.tensor([[1.0, 1.0, 0.0]])
    assert float(masked_mse(pred, target, weight)) == pytest.approx((1 + 4) / 2)


def test_resumed_training_equals_uninterrupted(tmp_path, shared_data):
    data = qm9_slice(shared_data, 24)
    sde = GraphSDE(VPSDE(0.1, 1.0), VESDE(0.1, 1.0))
    kwargs = dict(batch_size=8, lr=1e-2, ema_decay=0.9, seed=3)
    torch.manual_seed(0)
    straight = GDSSNoiseModel(4, **SMALL)
    init = {k: v.clone() for k, v in straight.state_dict().items()}
    fit(straight, sde, data, tmp_path / "a.pt", epochs=2, **kwargs)
    resumed = GDSSNoiseModel(4, **SMALL)
    resumed.load_state_dict(init)
    fit(resumed, sde, data, tmp_path / "b.pt", epochs=1, **kwargs)
    resumed = GDSSNoiseModel(4, **SMALL)                                  # a fresh process: weights come from the file
    state = fit(resumed, sde, data, tmp_path / "b.pt", epochs=2, **kwargs)
    a, b = load_checkpoint(tmp_path / "a.pt"), load_checkpoint(tmp_path / "b.pt")
    assert a["epoch"] == b["epoch"] == state["epoch"] == 2 and a["history"] == b["history"]
    for key in ("model", "ema"):
        for name in a[key]:
            torch.testing.assert_close(a[key][name], b[key][name], rtol=0, atol=0)
    assert not torch.equal(a["ema"]["net_adj.head.linears.0.weight"], init["net_adj.head.linears.0.weight"])


def test_resume_with_a_new_learning_rate(tmp_path, shared_data):
    data = qm9_slice(shared_data, 16)
    kwargs = dict(batch_size=8, lr=1e-2, lr_decay=0.5, seed=1)
    torch.manual_seed(0)
    fit(GDSSNoiseModel(4, **SMALL), SDE, data, tmp_path / "a.pt", epochs=1, **kwargs)
    assert load_checkpoint(tmp_path / "a.pt")["optimizer"]["param_groups"][0]["lr"] == pytest.approx(5e-3)
    messages = []
    state = fit(GDSSNoiseModel(4, **SMALL), SDE, data, tmp_path / "a.pt", epochs=3, resume_lr=1e-3,
                log=messages.append, **kwargs)
    saved = load_checkpoint(tmp_path / "a.pt")
    # set after epoch 1, then halved after epochs 2 and 3 (lr_decay)
    assert saved["optimizer"]["param_groups"][0]["lr"] == pytest.approx(2.5e-4)
    assert state["lr_resets"] == saved["lr_resets"] == [[1, 1e-3]]
    assert messages[0] == "learning rate set to 1.00e-03 after epoch 1" and len(messages) == 4
    assert messages[1] == f"checkpoint {tmp_path / 'a.pt'}: resuming after epoch 1, training epochs 2-3"
    # nothing left to train: the saved learning rate stays, no reset is recorded, and the log says so
    messages.clear()
    fit(GDSSNoiseModel(4, **SMALL), SDE, data, tmp_path / "a.pt", epochs=3, resume_lr=1.0, log=messages.append,
        **kwargs)
    assert messages == [f"checkpoint {tmp_path / 'a.pt'}: already trained 3 epochs >= epochs=3: nothing to do "
                        f"(raise the epochs to continue)"]
    assert load_checkpoint(tmp_path / "a.pt")["lr_resets"] == [[1, 1e-3]]
    with pytest.raises(ValueError, match="resume_lr must be positive"):
        fit(GDSSNoiseModel(4, **SMALL), SDE, data, tmp_path / "a.pt", epochs=4, resume_lr=0.0, **kwargs)


def test_ema_and_bad_arguments(tmp_path):
    model = torch.nn.Linear(2, 1)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update(model)
    torch.testing.assert_close(ema.state_dict()["weight"], model.weight.detach() - 1.0)
    with pytest.raises(ValueError, match="decay must be in"):
        EMA(model, decay=1.0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        fit(GDSSNoiseModel(4), SDE, Graphs(torch.zeros(1, 2, 4), torch.zeros(1, 2, 2), torch.ones(1, 2)),
            tmp_path / "c.pt", epochs=1, batch_size=0)

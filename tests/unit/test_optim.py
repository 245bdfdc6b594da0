"""tsrnn's own Adam and plateau schedule against torch.optim's (which import torch._dynamo)."""

import pytest

torch = pytest.importorskip("torch")

from tsrnn.training.optim import Adam, Plateau  # noqa: E402


def _losses(make_opt, steps: int = 25) -> tuple[list[float], torch.nn.Module]:
    torch.manual_seed(3)
    net = torch.nn.LSTM(2, 8, 2, batch_first=True)
    x = torch.randn(4, 16, 2)
    opt = make_opt(net.parameters())
    out = []
    for _ in range(steps):
        opt.zero_grad()
        y, _ = net(x)
        loss = (y**2).mean()
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out, net


def test_adam_takes_the_same_steps_as_torch_adam() -> None:
    ours, net_a = _losses(lambda p: Adam(p, lr=1e-2))
    theirs, net_b = _losses(lambda p: torch.optim.Adam(p, lr=1e-2))
    assert ours == pytest.approx(theirs, rel=1e-5, abs=1e-7)
    assert ours[-1] < ours[0] * 0.5  # it did optimise
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_adam_state_loads_torch_adams_layout_and_resumes_identically() -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    reference = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        reference.zero_grad()
        net(torch.ones(2, 3)).sum().backward()
        reference.step()
    ours = Adam(net.parameters(), lr=1.0)
    ours.load_state_dict(reference.state_dict())
    assert ours.lr == 1e-2 and ours.steps == 3
    before = [p.detach().clone() for p in net.parameters()]
    for opt in (reference, ours):  # one more step from the same state, from the same weights
        for p, b in zip(net.parameters(), before):
            p.data.copy_(b)
        opt.zero_grad()
        net(torch.ones(2, 3)).sum().backward()
        opt.step()
        if opt is reference:
            after_reference = [p.detach().clone() for p in net.parameters()]
    for a, b in zip(net.parameters(), after_reference):
        torch.testing.assert_close(a, b)
    again = Adam(net.parameters(), lr=0.5)
    again.load_state_dict(ours.state_dict())
    assert again.steps == 4 and again.lr == 1e-2


def test_plateau_halves_the_rate_as_reduce_lr_on_plateau_does() -> None:
    net = torch.nn.Linear(1, 1)
    ours = Plateau(Adam(net.parameters(), lr=1.0), patience=2)
    reference_opt = torch.optim.SGD(net.parameters(), lr=1.0)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(reference_opt, factor=0.5, patience=2)
    for loss in [5, 4, 4, 4, 4, 3.9999999, 3, 3, 3, 3, 3, 3, 3, 2]:
        ours.step(loss)
        reference.step(loss)
        assert ours.opt.lr == reference_opt.param_groups[0]["lr"]
    assert ours.opt.lr < 1.0

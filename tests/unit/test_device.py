"""--device: the choice of cpu or cuda:LOCAL_RANK, its refusal without CUDA (this machine has no GPU:
CUDA is simulated by patching torch.cuda, never run), and the CPU path the same code takes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tsrnn.config import ModelConfig, TrainConfig
from tsrnn.errors import TsrnnError
from tsrnn.settings import resolve
from tsrnn.training import distributed


def _cuda(monkeypatch: pytest.MonkeyPatch, available: bool, count: int = 0) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_cpu_is_the_default_and_cuda_without_cuda_is_refused_naming_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert TrainConfig().device == "cpu" and distributed.select_device("cpu") == torch.device("cpu")
    _cuda(monkeypatch, available=False)
    with pytest.raises(TsrnnError, match=r"--device cuda: torch .* install a CUDA build of torch") as caught:
        distributed.select_device("cuda")
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)
    with pytest.raises(TsrnnError, match="unknown device 'gpu' for --device: use one of cpu, cuda"):
        TrainConfig(device="gpu")


def test_cuda_is_the_gpu_of_the_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    _cuda(monkeypatch, available=True, count=2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert distributed.select_device("cuda") == torch.device("cuda", 0)  # alone: the first GPU
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.select_device("cuda") == torch.device("cuda", 1)  # under torchrun: one GPU per process
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(TsrnnError, match="local rank 2 needs GPU cuda:2, but torch sees 2"):
        distributed.select_device("cuda")


def test_device_is_a_setting_like_the_others(tmp_path: Path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text('[train]\ndevice = "cuda"\n')
    assert resolve({}, {}, str(toml)).train.device == "cuda"
    env = resolve({}, {"TSRNN_DEVICE": "cuda"}, str(toml))
    assert env.train.device == "cuda" and env.sources["device"] == "env TSRNN_DEVICE"
    assert resolve({"device": "cpu"}, {"TSRNN_DEVICE": "cuda"}).train.device == "cpu"


@pytest.mark.parametrize("kind", ["stateful", "windowed", "autoencoder"])
def test_the_task_puts_its_tensors_and_states_on_the_selected_device(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tsrnn.data.scaling import Scaler
    from tsrnn.training.batching import Split
    from tsrnn.training.inputs import network
    from tsrnn.training.optim import Adam

    chosen: list[str] = []
    select = distributed.select_device

    def recording(name: str) -> torch.device:
        chosen.append(name)
        return select(name)

    monkeypatch.setattr(distributed, "select_device", recording)
    monkeypatch.setattr("tsrnn.training.inputs.select_device", recording)
    rng = np.random.default_rng(0)
    parts = [rng.normal(size=(200, 2)).astype(np.float32) for _ in range(2)]
    split = Split([p[:160] for p in parts], [p[120:] for p in parts], [40, 40])
    model_cfg = ModelConfig(
        kind="autoencoder" if kind == "autoencoder" else "forecaster",
        mode="windowed" if kind == "windowed" else "stateful",
        inputs="level" if kind == "stateful" else "auto",
        time_features="none",
        window=16,
    )
    cfg = TrainConfig(device="cpu")
    net, task = network(model_cfg, cfg, split, Scaler.fit(np.concatenate(parts), "standard", ["a", "b"]), ["a", "b"])
    assert chosen.count("cpu") == 2  # the network and the task asked for the configured device
    tensors = [v for v in vars(task).values() if isinstance(v, torch.Tensor)]
    assert task.device == torch.device("cpu") and all(t.device == task.device for t in tensors)
    assert all(p.device == task.device for p in net.parameters())
    if kind != "autoencoder":
        assert all(s.device == task.device for s in net.zero_state(3))
    train_loss, _ = task.train_epoch(net, Adam(net.parameters(), lr=1e-3), cfg, rng)  # batches built on the device
    with torch.no_grad():  # as the loop and the run's saver compute them
        val_loss = task.val_loss(net)
        errors, _ = task.calibration_errors(net, "abs")  # back on the CPU, as numpy
    assert np.isfinite([train_loss, val_loss]).all()
    assert isinstance(errors, np.ndarray) and len(errors) and np.isfinite(errors).all()


def test_a_resumed_run_may_move_to_another_device() -> None:
    from types import SimpleNamespace
    from typing import Any

    from tsrnn.training.train import resume_config

    run: Any = SimpleNamespace(train_config=TrainConfig(lr=0.01, device="cuda"))  # trained on a GPU
    assert resume_config(run, TrainConfig(device="cpu"), {"device": "flag"}).device == "cpu"
    assert resume_config(run, TrainConfig(device="cpu"), {}).device == "cuda"  # not given: the run's own

"""callbacks/checkpointing.py, hook by hook: non-finite losses, interrupt and last checkpoints
written atomically, best checkpoints that trust only their own folders, per-epoch reseeding and
the tokenizer travelling in every checkpoint."""

import random

import numpy as np
import pytest
import torch
from lightning.pytorch.trainer.states import TrainerFn

from attn_project.errors import NonFiniteLossError
from attn_project.training.callbacks.checkpointing import (
    BestCheckpoint,
    EpochSeed,
    InterruptCheckpoint,
    LastCheckpoint,
    StopOnNonFiniteLoss,
    TokenizerInCheckpoint,
)


def test_non_finite_loss_stops_and_names_the_step():
    class Trainer:
        global_step, current_epoch = 17, 2
        fit_loop = type("F", (), {"epoch_loop": type("E", (), {"batch_idx": 3})()})()

    class Module:
        hparams = type("H", (), {"optimizer": {"lr": 10.0}})()

    with pytest.raises(NonFiniteLossError, match=r"step 17 \(epoch 2, batch 3\).*optimizer.lr=10.0"):
        StopOnNonFiniteLoss().on_before_backward(Trainer(), Module(), torch.tensor(float("nan")))
    StopOnNonFiniteLoss().on_before_backward(Trainer(), Module(), torch.tensor(0.5))


def test_non_finite_loss_never_overwrites_the_last_good_checkpoint(tmp_path):
    good = tmp_path / "last.ckpt"
    good.write_bytes(b"good weights")

    class Trainer:
        training = True

        def save_checkpoint(self, path):
            raise AssertionError("must not save after a non-finite loss")

    InterruptCheckpoint(tmp_path).on_exception(Trainer(), None, NonFiniteLossError("nan"))
    assert good.read_bytes() == b"good weights"


@pytest.mark.parametrize("stage, saves", [("fit", True), ("test", False)])
def test_interrupt_during_fits_validation_saves_and_says_how_to_resume(tmp_path, caplog, stage, saves):
    written = []

    class Trainer:  # a signal while fit runs its validation loop: fitting, but not training
        training, is_global_zero = False, True
        state = type("S", (), {"fn": TrainerFn(stage)})()

        def save_checkpoint(self, path, weights_only=None):
            written.append(path)
            path.write_bytes(b"mid-epoch state")

    InterruptCheckpoint(tmp_path).on_exception(Trainer(), None, KeyboardInterrupt())
    assert (tmp_path / "last.ckpt").exists() == saves
    assert ("ckpt_path=" in caplog.text) == saves
    if saves:  # atomically: written beside last.ckpt under another name, then renamed
        assert written[0].parent == tmp_path and written[0].name != "last.ckpt"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_best_checkpoint_keeps_only_trusted_paths(tmp_path):
    folder, resumed_from = tmp_path / "run" / "checkpoints", tmp_path / "old" / "checkpoints"
    for path in (folder / "epoch01.ckpt", folder / "nan.ckpt", resumed_from / "epoch02.ckpt",
                 resumed_from / "last.ckpt", tmp_path / "other.ckpt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (folder / "dir.ckpt").mkdir()
    callback = BestCheckpoint(dirpath=str(folder), monitor="val/acc", mode="max")
    callback.trainer = type("T", (), {"ckpt_path": str(resumed_from / "last.ckpt")})()
    state = {str(folder / "epoch01.ckpt"): torch.tensor(0.7), str(resumed_from / "epoch02.ckpt"): 0.8,
             str(tmp_path / "other.ckpt"): 0.95, str(folder / "dir.ckpt"): 0.96,
             f"{folder}/../../other.ckpt": 0.97, "s3://bucket/x.ckpt": 0.98,
             str(folder / "nan.ckpt"): float("nan")}
    callback.load_state_dict({"best_k_models": state, "kth_best_model_path": "s3://bucket/x.ckpt"})
    assert set(callback.best_k_models) == {str(folder / "epoch01.ckpt"), str(resumed_from / "epoch02.ckpt")}
    assert callback.best_model_path == str(resumed_from / "epoch02.ckpt")
    assert float(callback.best_model_score) == pytest.approx(0.8)
    assert callback.kth_best_model_path == str(folder / "epoch01.ckpt")


class SavingTrainer:
    """What LastCheckpoint asks of a Trainer: a checkpoint written where it says."""

    fast_dev_run, is_global_zero = False, True

    def __init__(self):
        self.written = []

    def save_checkpoint(self, path, weights_only=None):
        self.written.append((path.name, weights_only))
        path.write_bytes(b"epoch state")


def test_last_checkpoint_is_full_state_written_atomically_each_epoch(tmp_path):
    (tmp_path / "last.ckpt").write_bytes(b"previous epoch")
    trainer = SavingTrainer()
    LastCheckpoint(tmp_path).on_train_epoch_end(trainer, None)
    assert trainer.written == [(".last.ckpt.tmp", False)]  # resumable, through a temporary file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert (tmp_path / "last.ckpt").read_bytes() == b"epoch state"
    trainer.fast_dev_run = True  # a smoke run leaves no checkpoint behind
    LastCheckpoint(tmp_path / "none").on_train_epoch_end(trainer, None)
    assert not (tmp_path / "none").exists()


def random_draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_epoch_seed_draws_depend_on_seed_and_epoch_only():
    def draws_at(seed, epoch, batch_idx=0):
        trainer = type("T", (), {"current_epoch": epoch})()
        torch.manual_seed(999)  # whatever happened before in this process
        EpochSeed(seed).on_train_batch_start(trainer, None, None, batch_idx)
        return random_draws()

    assert draws_at(1, 3) == draws_at(1, 3)  # a resumed run draws what an uninterrupted one drew
    assert draws_at(1, 3) != draws_at(1, 4) and draws_at(1, 3) != draws_at(2, 3)
    torch.manual_seed(5)
    expected = torch.rand(3).tolist()
    torch.manual_seed(5)
    EpochSeed(1).on_train_batch_start(type("T", (), {"current_epoch": 0})(), None, None, 7)
    assert torch.rand(3).tolist() == expected  # later batches: the random state is left alone


@pytest.mark.parametrize("pieces", [None, '{"model": "pieces"}'])
def test_every_checkpoint_carries_its_tokenizer(pieces):
    checkpoint = {"state_dict": {}}
    TokenizerInCheckpoint('{"model": "words"}', pieces).on_save_checkpoint(None, None, checkpoint)
    assert checkpoint["tokenizer_json"] == '{"model": "words"}'
    assert checkpoint.get("pieces_json") == pieces

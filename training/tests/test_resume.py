import shutil

import torch
from safetensors.torch import load_file
from tiny_base import losses, pretrained_base, read_log, run_cli, toy_examples, write_jsonl

torch.set_num_threads(1)


def test_resume_continues_the_same_loss_curve(tmp_path):
    """A run of 8 steps checkpoints at step 4; a second run started from that checkpoint alone (--resume) must
    reproduce steps 5-8 and the final adapter. LoRA dropout 0.1 and gradient checkpointing stay on, so the RNG
    state, optimiser moments and learning-rate schedule all have to be restored for this to hold."""
    data = write_jsonl(tmp_path / "d.jsonl", toy_examples(96, seed=8))
    args = [
        "--base",
        pretrained_base(),
        "--data",
        data,
        "--batch-size",
        12,
        "--max-steps",
        8,
        "--save-every",
        4,
        "--lr",
        1e-3,
        "--warmup-steps",
        3,
        "--eval-percent",
        10,
        "--eval-every",
        4,
        "--log-every",
        1,
        "--threads",
        1,
    ]
    full = tmp_path / "straight"
    assert run_cli("train", "--out", full, *args) == 0
    assert sorted(p.name for p in (full / "checkpoints").iterdir()) == ["step-4", "step-8"]

    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copytree(full / "checkpoints" / "step-4", resumed / "checkpoints" / "step-4")
    shutil.copy(full / "log.jsonl", resumed / "log.jsonl")
    assert run_cli("train", "--out", resumed, "--resume", *args) == 0

    straight, again = losses(full), losses(resumed)
    assert sorted(again) == list(range(1, 9))  # steps 1-4 kept from the log, 5-8 newly run
    for step in range(5, 9):
        assert abs(straight[step] - again[step]) < 1e-6, (step, straight[step], again[step])
    assert straight[5] != straight[4]  # the curve moves, so matching it means something
    a = load_file(full / "adapter_model.safetensors")
    b = load_file(resumed / "adapter_model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert [e for e in read_log(resumed) if "eval" in e][-1] == [e for e in read_log(full) if "eval" in e][-1]


def test_resume_without_a_checkpoint_starts_from_step_zero(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", toy_examples(24, seed=9))
    out = tmp_path / "o"
    assert (
        run_cli(
            "train",
            "--out",
            out,
            "--resume",
            "--base",
            pretrained_base(),
            "--data",
            data,
            "--batch-size",
            8,
            "--max-steps",
            1,
            "--eval-percent",
            0,
            "--threads",
            1,
        )
        == 0
    )
    assert "no checkpoint" in capsys.readouterr().out
    assert sorted(losses(out)) == [1]

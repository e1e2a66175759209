import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from tiny_base import losses, pretrained_base, run_cli, toy_examples, write_jsonl

torch.set_num_threads(1)
TRAINING_DIR = Path(__file__).resolve().parents[1]


def test_two_gloo_processes_train_like_one_process_on_the_same_global_batch(tmp_path):
    """torchrun with 2 CPU processes (gloo): each holds half of every global batch of 8, documents are all-gathered
    with gradient flow, DDP averages gradients. Loss curve and final adapter must match a single process that sees
    the whole batch. LoRA dropout is 0 here: the two set-ups draw dropout masks from different RNG streams."""
    data = write_jsonl(tmp_path / "d.jsonl", toy_examples(64, seed=10))
    args = [
        "--base",
        pretrained_base(),
        "--data",
        data,
        "--batch-size",
        8,
        "--max-steps",
        4,
        "--lr",
        1e-3,
        "--warmup-steps",
        1,
        "--lora-dropout",
        0.0,
        "--eval-percent",
        0,
        "--log-every",
        1,
        "--threads",
        1,
    ]
    single = tmp_path / "single"
    assert run_cli("train", "--out", single, *args) == 0

    double = tmp_path / "double"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TRAINING_DIR)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a free rendezvous port of its own (--master_port 0 hangs)
        "--nproc_per_node",
        "2",
        "-m",
        "lance_e5_train",
        "train",
        "--out",
        str(double),
        *map(str, args),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=TRAINING_DIR)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"processes": 2' in (double / "log.jsonl").read_text()

    one, two = losses(single), losses(double)
    assert sorted(one) == sorted(two) == [1, 2, 3, 4]
    for step in one:
        assert abs(one[step] - two[step]) < 1e-4, (step, one[step], two[step])
    assert abs(one[4] - one[1]) > 1e-3  # the weights moved, so step 4 checks the updates too
    a, b = load_file(single / "adapter_model.safetensors"), load_file(double / "adapter_model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)

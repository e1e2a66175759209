import pytest
import torch
from peft import LoraConfig, get_peft_model
from tiny_base import pretrained_base, run_cli

from lance_e5_train.model import TextEncoder, embed_texts, load_encoder_model

torch.set_num_threads(1)
TEXTS = [
    "Instruct: Given keywords, retrieve the passage that contains them\nQuery: t1w1 t2w2",
    "t3w3 t4w4 t5w5 t6w6 t7w7",
    "t9w9",
    "t0w0 t0w1 t0w2 t0w3 t0w4 t0w5 t0w6 t0w7 t0w8 t0w9 t1w0",
]


def test_merged_checkpoint_embeds_like_base_plus_adapter(tmp_path):
    base = pretrained_base()
    encoder = TextEncoder.from_dir(base, max_length=32)
    # A random (not zero-initialised) adapter, so the merge has something to fold in.
    torch.manual_seed(0)
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.1,
        init_lora_weights=False,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    adapted = get_peft_model(load_encoder_model(base), lora).eval()
    adapted.save_pretrained(tmp_path / "adapter")
    expected = embed_texts(adapted, encoder, TEXTS)  # (4, H)

    assert run_cli("merge", "--base", base, "--adapter", tmp_path / "adapter", "--out", tmp_path / "merged") == 0
    merged = load_encoder_model(tmp_path / "merged").eval()
    got = embed_texts(merged, encoder, TEXTS)
    assert (got - expected).abs().max().item() <= 1e-5
    # ... and the adapter really changed the model (so the check above can fail).
    plain = embed_texts(load_encoder_model(base).eval(), encoder, TEXTS)
    assert (plain - expected).abs().max().item() > 1e-2
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "training_card.json"):
        assert (tmp_path / "merged" / name).is_file(), name
    assert not any("lora" in key for key in merged.state_dict())


def test_merge_refuses_a_directory_without_an_adapter(tmp_path):
    with pytest.raises(SystemExit, match="no adapter_config.json"):
        run_cli("merge", "--base", pretrained_base(), "--adapter", pretrained_base(), "--out", tmp_path / "m")

import pytest
import torch
from tiny_base import save_random_base
from tokenizers import Tokenizer, processors

from lance_e5_train.model import TextEncoder, embed, load_encoder_model
from lance_e5_train.pooling import last_token_pool, position_ids_from_mask

torch.set_num_threads(1)


def test_last_token_pool_right_and_left_padding():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)  # (B=2, S=4, H=3)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert torch.equal(last_token_pool(hidden, right), torch.stack([hidden[0, 1], hidden[1, 3]]))
    assert torch.equal(last_token_pool(hidden, left), torch.stack([hidden[0, 3], hidden[1, 3]]))


def test_last_token_pool_rejects_an_empty_row():
    with pytest.raises(ValueError, match="no real token"):
        last_token_pool(torch.zeros(2, 3, 4), torch.tensor([[1, 1, 0], [0, 0, 0]]))


def test_position_ids_count_real_tokens_only():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert position_ids_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 2, 2]]


@pytest.fixture(scope="module")
def model_and_encoder(tmp_path_factory):
    base = save_random_base(tmp_path_factory.mktemp("base"))
    return load_encoder_model(base).eval(), TextEncoder.from_dir(base, max_length=16)


def test_model_embedding_is_the_same_unpadded_right_padded_and_left_padded(model_and_encoder):
    # Random weights are fine here: the claim is equality across paddings, not meaning.
    model, encoder = model_and_encoder
    texts = ["t1w1 t2w2", "t3w3 t4w4 t5w5 t6w6 t7w7 t8w8"]
    right = encoder.batch(texts)
    ids, mask = right["input_ids"], right["attention_mask"]
    lengths = mask.sum(1)
    left_ids, left_mask = torch.full_like(ids, encoder.pad_id), torch.zeros_like(mask)
    for i, n in enumerate(lengths.tolist()):
        left_ids[i, ids.shape[1] - n :], left_mask[i, ids.shape[1] - n :] = ids[i, :n], 1
    with torch.no_grad():
        alone = torch.cat([embed(model, ids[i : i + 1, :n], mask[i : i + 1, :n]) for i, n in enumerate(lengths)])
        by_right = embed(model, ids, mask)
        by_left = embed(model, left_ids, left_mask)
    assert torch.allclose(by_right, alone, atol=1e-5)
    assert torch.allclose(by_left, alone, atol=1e-5)
    assert not torch.allclose(by_right[0], by_right[1], atol=1e-3)  # the two texts do differ


def test_encoder_adds_bos_appends_eos_once_and_truncates_to_max_minus_one(model_and_encoder):
    _, encoder = model_and_encoder
    short = encoder.ids("t1w1 t1w2")
    assert short[0] == 1 and short[-1] == encoder.eos_id and len(short) == 4  # <s> w w </s>
    long = encoder.ids(" ".join(f"t{t}w1" for t in range(30)))
    assert len(long) == 16 and long[-1] == encoder.eos_id and long.count(encoder.eos_id) == 1


def test_encoder_does_not_double_an_eos_the_post_processor_already_appends(model_and_encoder):
    _, encoder = model_and_encoder
    with_eos: Tokenizer = Tokenizer.from_str(encoder.tokenizer.to_str())
    with_eos.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 2)])
    other = TextEncoder(with_eos, encoder.eos_id, encoder.pad_id, max_length=16)
    assert other.ids("t1w1 t1w2") == [with_eos.token_to_id("t1w1"), with_eos.token_to_id("t1w2"), 2]

import math

import torch
import torch.nn.functional as F

from lance_e5_train.loss import contrastive_loss, info_nce

torch.set_num_threads(1)


def test_info_nce_matches_a_hand_computed_case():
    # Two queries, candidates = 2 positives + 1 hard negative (query 1 has none). tau = 0.5.
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    docs = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6]])
    targets = torch.tensor([0, 1])
    # query 0: cosines 1.0, 0.6, 0.8 -> logits 2.0, 1.2, 1.6; target 0
    # query 1: cosines 0.0, 0.8, 0.6 -> logits 0.0, 1.6, 1.2; target 1
    expected_0 = -2.0 + math.log(math.exp(2.0) + math.exp(1.2) + math.exp(1.6))
    expected_1 = -1.6 + math.log(math.exp(0.0) + math.exp(1.6) + math.exp(1.2))
    loss = info_nce(q, docs, targets, temperature=0.5)
    assert abs(loss.item() - (expected_0 + expected_1) / 2) < 1e-6


def test_masked_candidates_are_left_out_exactly():
    q = F.normalize(torch.randn(3, 8), dim=-1)
    docs = F.normalize(torch.randn(5, 8), dim=-1)
    targets = torch.tensor([0, 1, 2])
    mask = torch.tensor([True, True, True, False, True])
    masked = info_nce(q, docs, targets, 0.02, mask)
    dropped = info_nce(q, docs[mask], targets, 0.02)
    assert torch.allclose(masked, dropped, atol=1e-6)


def test_contrastive_loss_uses_positives_and_present_negatives_only():
    torch.manual_seed(0)
    q, pos, neg = (F.normalize(torch.randn(4, 16), dim=-1) for _ in range(3))
    has_negative = torch.tensor([True, False, True, False])
    loss = contrastive_loss(q, pos, neg, has_negative, 0.02)
    expected = info_nce(q, torch.cat([pos, neg[has_negative]]), torch.arange(4), 0.02)
    assert torch.allclose(loss, expected, atol=1e-6)
    # No hard negatives at all (short-short, long-long families) is plain in-batch InfoNCE.
    none = contrastive_loss(q, pos, neg, torch.zeros(4, dtype=torch.bool), 0.02)
    assert torch.allclose(none, info_nce(q, pos, torch.arange(4), 0.02), atol=1e-6)


def test_loss_reaches_every_vector_through_its_gradient():
    q, pos, neg = (F.normalize(torch.randn(3, 8), dim=-1).requires_grad_() for _ in range(3))
    contrastive_loss(q, pos, neg, torch.tensor([True, True, False]), 0.02).backward()
    assert q.grad.abs().sum() > 0 and pos.grad.abs().sum() > 0
    assert neg.grad[:2].abs().sum() > 0 and neg.grad[2].abs().sum() == 0  # the absent negative gets nothing

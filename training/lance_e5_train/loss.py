"""InfoNCE over in-batch negatives plus one hard negative per query (REFERENCE.md §2).

For query i the candidates are every positive and every hard negative in the (global) batch; the target is its own
positive. logits = cos(q, d) / tau with tau = 0.02. Queries without a hard negative simply contribute no extra
column (its slot is masked to -inf), so families without negatives (short-short, long-long) mix freely.

Across processes the documents are all-gathered *with gradient flow* (torch.distributed.nn.functional.all_gather),
so every rank scores its queries against the whole global batch and the sum of per-rank losses has exactly the
gradient of the single-process loss on that batch (DDP then averages gradients, matching a mean over queries).
"""

import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F


def info_nce(
    queries: torch.Tensor,  # (B, H) L2-normalised
    documents: torch.Tensor,  # (N, H) L2-normalised
    targets: torch.Tensor,  # (B,) long: column of each query's positive in `documents`
    temperature: float,
    document_mask: torch.Tensor | None = None,  # (N,) bool: False columns are not candidates
) -> torch.Tensor:
    logits = queries @ documents.T / temperature  # (B, N)
    if document_mask is not None:
        logits = logits.masked_fill(~document_mask[None, :], float("-inf"))  # (B, N)
    return F.cross_entropy(logits, targets)


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """(n, ...) on each of W ranks -> (W*n, ...) in rank order; gradients flow back to the owning rank."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    from torch.distributed.nn.functional import all_gather

    # torch 2.13 marks this public API deprecated in favour of private, still-renamed `_functional_collectives`
    # functions; it is stable from torch 2.0 to 2.13 and its backward works on gloo (CPU tests) and nccl alike.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(tensor), dim=0)


def gather_mask(mask: torch.Tensor) -> torch.Tensor:
    """(n,) bool on each of W ranks -> (W*n,) bool; no gradient (gloo cannot all-gather bool, so go via uint8)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return mask
    parts = [torch.empty_like(mask, dtype=torch.uint8) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, mask.to(torch.uint8))
    return torch.cat(parts, dim=0).bool()


def contrastive_loss(
    queries: torch.Tensor,  # (b, H) this rank's queries, L2-normalised
    positives: torch.Tensor,  # (b, H) their positives
    negatives: torch.Tensor,  # (b, H) their hard negatives (any vector where has_negative is False)
    has_negative: torch.Tensor,  # (b,) bool
    temperature: float,
) -> torch.Tensor:
    """The paper's loss for this rank's queries against the global batch's documents.

    Every rank must hold the same number of queries (the trainer slices global batches evenly).
    """
    local = queries.shape[0]
    all_positives = gather_with_grad(positives)  # (B, H) with B = W*b
    all_negatives = gather_with_grad(negatives)  # (B, H)
    all_has_negative = gather_mask(has_negative)  # (B,)
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    documents = torch.cat([all_positives, all_negatives], dim=0)  # (2B, H)
    mask = torch.cat([torch.ones_like(all_has_negative), all_has_negative], dim=0)  # (2B,)
    targets = torch.arange(local, device=queries.device) + rank * local  # (b,)
    return info_nce(queries, documents, targets, temperature, mask)

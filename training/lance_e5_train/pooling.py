"""Last-token pooling: the embedding is the last layer's hidden state at the appended EOS (REFERENCE.md §1).

The position is found from the attention mask, never from token ids (EOS doubles as the pad id for Mistral, so
searching for it would find pads). Works for left padding (EOS in the last column) and right padding (EOS at
length - 1) alike, and for any mix of the two.
"""

import torch


def last_token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token in each row. attention_mask (B, S) of 0/1 -> (B,) long."""
    seq = attention_mask.shape[1]
    positions = torch.arange(seq, device=attention_mask.device)  # (S,)
    # The largest position with mask 1; rows with no real token at all are a caller bug, caught below.
    last = (attention_mask.long() * (positions + 1)).amax(dim=1) - 1  # (B,)
    if bool((last < 0).any()):
        raise ValueError("last_token_positions: a row of the attention mask has no real token")
    return last


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """hidden (B, S, H), attention_mask (B, S) -> (B, H): the hidden state of each row's last real token."""
    last = last_token_positions(attention_mask)  # (B,)
    rows = torch.arange(hidden.shape[0], device=hidden.device)  # (B,)
    return hidden[rows, last]  # (B, H)


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only, so a left-padded row gets the same RoPE positions as unpadded.

    attention_mask (B, S) -> (B, S) long; pads get position 0 (they are masked anyway).
    """
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)  # (B, S)

"""DAMSM word and sentence losses (AttnGAN, Xu et al. 2018), used by TGJAR as L_IT.

Both are matching losses over a batch: caption i should pick image i among the batch's images
and image i should pick caption i, with cross-entropy in both directions. Pairs whose class ids
are equal (other than the diagonal) are masked out, so that same-class images are not pushed
apart. Captions without any in-vocabulary word take no part in either loss.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["damsm_loss", "sentence_scores", "word_scores"]


def word_scores(words: torch.Tensor, mask: torch.Tensor, regions: torch.Tensor,
                gamma1: float = 4.0, gamma2: float = 5.0) -> torch.Tensor:
    """Word-level caption-image similarity for every pair.

    Args:
        words: (Bc, D, T) word features of the captions.
        mask: (Bc, T) bool, True = padding.
        regions: (Bi, D, R) region features of the images.
        gamma1: sharpness of the attention over regions.
        gamma2: weight of the word relevances in the log-sum-exp.

    Returns:
        (Bc, Bi) similarity ``log sum_t exp(gamma2 * cos(word_t, context_t))``; -inf for captions
        with no word.
    """
    # attention logits between each word of caption i and each region of image j
    logits = torch.einsum("idt,jdr->ijtr", words, regions)  # (Bc, Bi, T, R)
    pad = mask[:, None, :, None]
    # AttnGAN: first normalise over the words for each region, then over regions per word
    a = torch.softmax(logits.masked_fill(pad, float("-inf")), dim=2)
    a = torch.nan_to_num(a, nan=0.0)
    a = torch.softmax(a * gamma1, dim=3)
    context = torch.einsum("ijtr,jdr->ijdt", a, regions)  # (Bc, Bi, D, T)
    cos = F.cosine_similarity(words[:, None], context, dim=2, eps=1e-8)  # (Bc, Bi, T)
    cos = cos.masked_fill(mask[:, None, :], float("-inf"))
    return torch.logsumexp(gamma2 * cos, dim=2)


def sentence_scores(sentence: torch.Tensor, image_global: torch.Tensor) -> torch.Tensor:
    """Cosine similarity (Bc, Bi) between sentence features (Bc, D) and global features (Bi, D)."""
    return F.normalize(sentence, dim=1, eps=1e-8) @ F.normalize(image_global, dim=1, eps=1e-8).T


def _match_loss(scores: torch.Tensor, class_ids: torch.Tensor | None) -> torch.Tensor:
    n = scores.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=scores.device)
    if class_ids is not None:
        same = class_ids[:, None] == class_ids[None, :]
        # class id < 0 = unknown class: never masked
        known = (class_ids[:, None] >= 0) & (class_ids[None, :] >= 0)
        scores = scores.masked_fill(same & known & ~eye, float("-inf"))
    labels = torch.arange(n, device=scores.device)
    return F.cross_entropy(scores, labels) + F.cross_entropy(scores.T, labels)


def damsm_loss(
    words: torch.Tensor,
    mask: torch.Tensor,
    sentence: torch.Tensor,
    regions: torch.Tensor,
    image_global: torch.Tensor,
    class_ids: torch.Tensor | None = None,
    gamma1: float = 4.0,
    gamma2: float = 5.0,
    gamma3: float = 10.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Word and sentence DAMSM losses of a batch of matching (caption, image) pairs.

    Args:
        words, mask, sentence: text features of the B captions ((B, D, T), (B, T), (B, D)).
        regions, image_global: image features of the B images ((B, D, R), (B, D)).
        class_ids: (B,) long class ids (-1 = unknown) or None.
        gamma1, gamma2, gamma3: AttnGAN's smoothing factors (4, 5, 10).

    Returns:
        (word loss, sentence loss), scalars; zeros when fewer than two captions have words.
    """
    keep = (~mask).any(dim=1)
    if int(keep.sum()) < 2:
        zero = regions.sum() * 0.0
        return zero, zero
    if not bool(keep.all()):
        words, mask, sentence = words[keep], mask[keep], sentence[keep]
        regions, image_global = regions[keep], image_global[keep]
        class_ids = class_ids[keep] if class_ids is not None else None
    w = _match_loss(gamma3 * word_scores(words, mask, regions, gamma1, gamma2), class_ids)
    s = _match_loss(gamma3 * sentence_scores(sentence, image_global), class_ids)
    return w, s

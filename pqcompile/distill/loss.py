"""The distillation loss on both heads:

    loss = alpha * CE(gold) + (1 - alpha) * T^2 * [KL(p_t || p_s) on the intent + KL on slot tags]

p_t = softmax(scale * teacher_logits / T), p_s = softmax(student_logits / T); the T^2 factor keeps
the soft term's gradients the same size as T changes (Hinton et al.); `scale` multiplies the
teacher's logits first (teacher-logit scaling; 1 = off). Weighting follows the student's own loss
(pqcompile.train.loop.training_loss): the intent terms are means over examples; the slot terms
are, per example, the mean over its tokens, then the mean over examples. Gold terms skip rows
without gold (augmented text, or slot tags that cannot be put on the tokens); the slot KL reads
only real projection tokens (token_mask), never padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE = -100


@dataclass(frozen=True)
class DistillSettings:
    alpha: float = 0.5
    temperature: float = 2.0
    teacher_scale: float = 1.0

    def check(self) -> None:
        from ..errors import PqError
        if not 0 <= self.alpha <= 1:
            raise PqError(f"--alpha must be in [0, 1], got {self.alpha}")
        if not self.temperature > 0:
            raise PqError(f"--temperature must be > 0, got {self.temperature}")
        if not self.teacher_scale > 0:
            raise PqError(f"--teacher-scale must be > 0, got {self.teacher_scale}")


def soft_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float, scale: float = 1.0) -> torch.Tensor:
    """KL(softmax(scale*teacher/T) || softmax(student/T)) over the last axis, one value per row."""
    log_p_t = F.log_softmax(teacher * scale / temperature, dim=-1)
    log_p_s = F.log_softmax(student / temperature, dim=-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)


def _mean_over_tokens(per_token: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per example, the mean over its valid tokens; then the mean over examples with any."""
    n = valid.sum(dim=1)
    has = n > 0
    if not has.any():
        return per_token.sum() * 0.0
    per_example = (per_token * valid).sum(dim=1)[has] / n[has]
    return per_example.mean()


def gold_ce(intent_logits, slot_logits, gold_intents, gold_tags) -> tuple[torch.Tensor, torch.Tensor]:
    """(intent CE over rows with a gold intent, slot CE per the module docstring)."""
    has = gold_intents != IGNORE
    intent = F.cross_entropy(intent_logits[has], gold_intents[has]) if has.any() else intent_logits.sum() * 0.0
    width = gold_tags.shape[1]
    per_token = F.cross_entropy(slot_logits[:, :width].transpose(1, 2), gold_tags, ignore_index=IGNORE,
                                reduction="none")
    return intent, _mean_over_tokens(per_token, gold_tags != IGNORE)


def distillation_loss(intent_logits: torch.Tensor, slot_logits: torch.Tensor,
                      gold_intents: torch.Tensor, gold_tags: torch.Tensor,
                      teacher_intent: torch.Tensor, teacher_slots: torch.Tensor, token_mask: torch.Tensor,
                      settings: DistillSettings) -> tuple[torch.Tensor, dict[str, float]]:
    """intent_logits [B, I], slot_logits [B, T, S] (student); gold_intents [B] and gold_tags [B, T]
    with IGNORE where unknown; teacher_intent [B, I], teacher_slots [B, T, S]; token_mask [B, T].
    Returns (loss, {part: value}) for logging."""
    a, t, s = settings.alpha, settings.temperature, settings.teacher_scale
    ce_intent, ce_slot = gold_ce(intent_logits, slot_logits, gold_intents, gold_tags)
    width = token_mask.shape[1]
    kl_intent = soft_kl(intent_logits, teacher_intent, t, s).mean()
    kl_slot = _mean_over_tokens(soft_kl(slot_logits[:, :width], teacher_slots[:, :width], t, s), token_mask)
    loss = a * (ce_intent + ce_slot) + (1 - a) * t * t * (kl_intent + kl_slot)
    parts = {"intent": ce_intent, "slot": ce_slot, "kl_intent": kl_intent, "kl_slot": kl_slot}
    return loss, {k: float(v.detach()) for k, v in parts.items()}

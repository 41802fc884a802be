"""The teacher: a Hugging Face encoder with joint heads, and its folder on disk.

Intent: a linear head on the pooled sentence vector ([CLS], or the mean over sub-words).
Slots: a linear head on the hidden state of each projection token's first sub-word (align.py).

A teacher folder holds:
  teacher.json       format, labels, projection spec, pooling, max_length, training record
  model.safetensors  every weight (encoder + heads), fp32
  config.json + tokenizer files   the encoder's own, so the folder is self-contained
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import PqError
from ..projection import ProjectionSpec
from .precision import check_precision
from .encoder import encoder_from_config, load_config, load_tokenizer
from ..datasets.labels import LabelSet

FORMAT = "pqcompile-teacher"
VERSION = 1
POOLINGS = ("cls", "mean")


class TeacherModel(nn.Module):
    def __init__(self, encoder: nn.Module, n_intents: int, n_tags: int, pooling: str = "cls",
                 dropout: float = 0.1):
        super().__init__()
        if pooling not in POOLINGS:
            raise PqError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(hidden, n_intents)
        self.slot_head = nn.Linear(hidden, n_tags)

    def forward(self, input_ids, attention_mask, first_subword):
        """-> intent logits [B, n_intents], slot logits [B, T, n_tags] (T = first_subword.shape[1])."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        index = first_subword.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        per_token = torch.gather(hidden, 1, index)
        return self.intent_head(self.dropout(pooled)), self.slot_head(self.dropout(per_token))


class Teacher:
    """A loaded teacher: the network, its tokenizer, labels, projection spec and settings."""

    def __init__(self, model: TeacherModel, tokenizer, labels: LabelSet, spec: ProjectionSpec,
                 max_length: int, info: dict | None = None, precision: str = "fp32"):
        self.model, self.tokenizer, self.labels, self.spec = model, tokenizer, labels, spec
        self.max_length = max_length
        self.info = info or {}
        self.precision = check_precision(precision)   # how it computes (precision.py); not saved

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def fp32_bytes(self) -> int:
        return 4 * self.n_parameters()

    def meta(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "labels": self.labels.to_dict(),
                "spec": self.spec.to_dict(), "pooling": self.model.pooling, "max_length": self.max_length,
                "parameters": self.n_parameters(), **self.info}

    def save(self, folder: Path) -> None:
        """Write the teacher into an (empty, temporary) folder; callers make it atomic."""
        from safetensors.torch import save_file
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        self.model.encoder.config.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))
        (folder / "teacher.json").write_text(json.dumps(self.meta(), indent=1, ensure_ascii=False), encoding="utf-8")


def read_meta(folder: str | Path) -> dict:
    p = Path(folder) / "teacher.json"
    if not p.is_file():
        raise PqError(f"{folder} is not a teacher folder (no teacher.json); make one with `pqcompile teacher train`")
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise PqError(f"cannot read {p}: {e}") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise PqError(f"{p} is not a version-{VERSION} pqcompile teacher")
    return meta


def load_teacher(folder: str | Path, precision: str = "fp32") -> Teacher:
    """A teacher folder written by Teacher.save, ready for evaluation (eval mode), computing in
    `precision` (precision.py)."""
    from safetensors.torch import load_file
    folder = Path(folder)
    meta = read_meta(folder)
    labels = LabelSet.from_dict(meta["labels"])
    model = TeacherModel(encoder_from_config(load_config(folder)), len(labels.intents), len(labels.slot_tags),
                         meta["pooling"])
    try:
        state = load_file(str(folder / "model.safetensors"))
        model.load_state_dict(state)
    except (OSError, RuntimeError) as e:
        raise PqError(f"cannot load the teacher weights in {folder}: {str(e).splitlines()[0]}") from None
    model.eval()
    info = {k: v for k, v in meta.items() if k not in ("format", "version", "labels", "spec", "pooling",
                                                       "max_length", "parameters")}
    return Teacher(model, load_tokenizer(folder), labels, ProjectionSpec.from_dict(meta["spec"]),
                   meta["max_length"], info, precision)

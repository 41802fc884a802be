"""Fine-tune a local encoder into a joint intent + slot teacher, with checkpoints and resume.

The loss is CE(intent) + CE(slot tag per projection token); an example whose gold frame cannot
be put on the projection's tokens (slot_tags is None) still teaches its intent. While training,
a checkpoint (weights, optimizer, schedule, position, data fingerprint) lives beside the output
in `.NAME.ckpt/` and is rewritten after every epoch and every `checkpoint_every` updates; `resume=True` continues from it. The teacher
folder itself appears atomically when training ends, and the checkpoint is then removed.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_dir, atomic_file
from ..datasets import Example, slot_tags
from ..errors import PqError
from ..projection import ProjectionSpec, tokenize
from .align import encode_batch
from .encoder import load_pretrained_encoder, load_tokenizer
from ..datasets.labels import LabelSet
from .model import Teacher, TeacherModel
from .precision import check_precision, compute
from .predict import batches, evaluate


@dataclass
class TrainSettings:
    epochs: int = 1
    lr: float = 1e-4
    batch_size: int = 32
    max_steps: int | None = None
    max_length: int = 128
    pooling: str = "cls"
    warmup: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0
    freeze_embeddings: bool = True   # the word-embedding table is half of a small encoder's
                                     # weights; freezing it halves the optimizer's work
    train_layers: int | None = None  # fine-tune only the top N transformer layers (None: all)
    checkpoint_every: int = 100      # also checkpoint every N updates inside an epoch
    precision: str = "fp32"          # fp32 or bf16 matrix products (precision.py)
    group_by_length: bool = False    # batches of similar length (epoch_batches): less padding


def checkpoint_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.ckpt"


def fingerprint(examples: list[Example], spec: ProjectionSpec, base: Path, settings: TrainSettings) -> str:
    """What a checkpoint was made from; resuming with anything else would be a different run."""
    h = hashlib.sha256()
    s = asdict(settings)
    s.pop("max_steps")   # raising the step limit on resume is allowed
    s.pop("epochs")      # so is training for more epochs
    s.pop("checkpoint_every")
    s.pop("precision")   # how the arithmetic runs, not what is trained: a run may resume in bf16
    h.update(json.dumps([s, spec.to_dict(), str(base.resolve())], sort_keys=True).encode())
    for ex in examples:
        h.update(json.dumps([ex.text, ex.intent, ex.spans]).encode())
    return h.hexdigest()


GROUP_SPAN = 50   # batches whose texts are sorted by length together (group_by_length)


def epoch_batches(examples: list[Example], settings: TrainSettings, epoch: int) -> list[list[int]]:
    """One epoch's batches of example indices, the same for the same seed and epoch (a resumed run
    skips the ones already done). Plain: a seeded shuffle cut into batches. group_by_length:
    the shuffle is cut into spans of GROUP_SPAN batches, each span sorted by text length before it
    is cut, and the batches are shuffled again, so a batch pads to a length near its texts' own
    (sub-word work falls with the padding) while every epoch still sees every example once in
    random company."""
    rng = random.Random(settings.seed * 1000 + epoch)
    order = list(range(len(examples)))
    rng.shuffle(order)
    if not settings.group_by_length:
        return list(batches(order, settings.batch_size))
    span = settings.batch_size * GROUP_SPAN
    out = []
    for i in range(0, len(order), span):
        chunk = sorted(order[i: i + span], key=lambda k: len(examples[k].text))
        out += batches(chunk, settings.batch_size)
    rng.shuffle(out)
    return out


def _targets(examples: list[Example], labels: LabelSet, spec: ProjectionSpec):
    """(intent id, tag ids on projection tokens) for each example; tag ids are all -100 ('no
    gold') when the frame cannot be put on the projection's tokens."""
    out = []
    for ex in examples:
        toks = tokenize(ex.text, spec)
        tags = slot_tags(ex, spec, toks)
        ids = [-100] * len(toks) if tags is None else [labels.tag_id(t) for t in tags]
        out.append((labels.intent_id(ex.intent), ids))
    return out


def joint_loss(intent_logits, slot_logits, intent_gold, tag_gold) -> torch.Tensor:
    ce = nn.functional.cross_entropy
    loss = ce(intent_logits, intent_gold, ignore_index=-100)
    if (tag_gold != -100).any():
        loss = loss + ce(slot_logits.reshape(-1, slot_logits.shape[-1]), tag_gold.reshape(-1), ignore_index=-100)
    return loss


def _gold_tensors(chunk, width: int):
    intents = torch.tensor([t[0] for t in chunk], dtype=torch.long)
    tags = torch.full((len(chunk), width), -100, dtype=torch.long)
    for b, (_, ids) in enumerate(chunk):
        tags[b, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return intents, tags


def freeze(model: TeacherModel, settings: TrainSettings) -> None:
    """Fix the parts of the encoder that --freeze-embeddings / --train-layers keep out of training."""
    if settings.freeze_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    if settings.train_layers is None:
        return
    layers = getattr(getattr(model.encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise PqError("--train-layers needs a BERT-style encoder (encoder.layer); this one has none")
    for module in [model.encoder.embeddings, *layers[: max(0, len(layers) - settings.train_layers)]]:
        module.requires_grad_(False)


def train_teacher(base: Path, train: list[Example], out: Path, settings: TrainSettings,
                  spec: ProjectionSpec, dev: list[Example] | None = None, resume: bool = False,
                  sources: list[str] | None = None, progress: bool = True) -> dict:
    """Fine-tune; write the teacher folder `out`; return the training record."""
    from tqdm import tqdm

    if out.exists():
        raise PqError(f"{out} already exists (remove it or choose another --out)")
    check_precision(settings.precision)
    ckpt = checkpoint_dir(out)
    fp = fingerprint(train, spec, base, settings)
    state = None
    if resume:
        if not (ckpt / "state.pt").is_file():
            raise PqError(f"nothing to resume: no checkpoint in {ckpt}")
        try:
            state = torch.load(ckpt / "state.pt", weights_only=False)
        except Exception as e:   # a truncated or foreign file: torch raises many kinds
            raise PqError(f"cannot read the checkpoint {ckpt / 'state.pt'}: {e}") from None
        if state["fingerprint"] != fp:
            raise PqError(f"the checkpoint in {ckpt} was made from other data or settings; "
                          "run without --resume to start over")
    if state:
        labels = LabelSet.from_dict(state["labels"])
    else:   # like the students: every label of the training and dev data
        labels = LabelSet.from_examples(list(train) + list(dev or []))
    torch.manual_seed(settings.seed)
    tokenizer = load_tokenizer(base)
    model = TeacherModel(load_pretrained_encoder(base), len(labels.intents), len(labels.slot_tags),
                         settings.pooling)
    steps_per_epoch = (len(train) + settings.batch_size - 1) // settings.batch_size
    total = steps_per_epoch * settings.epochs
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    freeze(model, settings)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    warm = max(1, int(settings.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    epoch, step = 0, 0
    if state:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        epoch, step = state["epoch"], state["step"]
        torch.set_rng_state(state["rng"])   # dropout continues as in an uninterrupted run
    targets = _targets(train, labels, spec)

    def save_checkpoint():
        ckpt.mkdir(parents=True, exist_ok=True)
        with atomic_file(ckpt / "state.pt") as f:
            torch.save({"fingerprint": fp, "labels": labels.to_dict(), "model": model.state_dict(),
                        "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        "epoch": epoch, "step": step, "rng": torch.get_rng_state()}, f)

    bar = tqdm(total=total, initial=step, desc="teacher train", unit="step", disable=not progress, leave=False)
    last_loss = None
    while epoch < settings.epochs and step < total:
        model.train()
        done = step - epoch * steps_per_epoch   # batches of this epoch a resumed run already did
        for idx in epoch_batches(train, settings, epoch)[done:]:
            if step >= total:
                break
            b = encode_batch([train[i].text for i in idx], tokenizer, spec, settings.max_length)
            intent_gold, tag_gold = _gold_tensors([targets[i] for i in idx], b.first_subword.shape[1])
            with compute(settings.precision):
                intent, slots = model(b.input_ids, b.attention_mask, b.first_subword)
            loss = joint_loss(intent.float(), slots.float(), intent_gold, tag_gold)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            sched.step()
            step += 1
            last_loss = loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.3f}")
            if step % settings.checkpoint_every == 0:
                save_checkpoint()
        else:
            epoch += 1
        save_checkpoint()
    bar.close()

    record = {"base_model": str(base), "data": sources or [], "examples": len(train), "epochs": epoch,
              "steps": step, "settings": asdict(settings), "last_loss": last_loss}
    teacher = Teacher(model.eval(), tokenizer, labels, spec, settings.max_length, {"trained": record},
                      settings.precision)
    if dev:
        record["dev"] = evaluate(teacher, dev)
    with atomic_dir(out) as tmp:
        teacher.save(tmp)
    shutil.rmtree(ckpt, ignore_errors=True)
    return record

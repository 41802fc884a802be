"""The training loop: epochs of shuffled mini-batches (one process, or one of several under
torchrun with DDP over gloo), a checkpoint each epoch, the best epoch by dev exact match.

Determinism: the model is initialised from --seed; the example order of epoch e is
DistributedSampler's permutation for (seed, e); character distortion of example i in epoch e
uses a generator seeded by (seed, e, i); the torch generator (zoneout) is reseeded from
(seed, e, rank) at each epoch start. So the same seed gives identical weights, and a resumed run
continues exactly as an uninterrupted one would.

Single- vs multi-process: with W processes each takes batch_size / W examples of the same global
batch (DistributedSampler deals the permutation out round-robin), the loss is a plain mean over
examples and DDP averages gradients, and the moving-average activation ranges are combined with
a max after each step (each rank's update is monotone in its batch maximum, so the max of the
updated ranges is the single-process update). What differs is float summation order and the
zoneout masks drawn per process.
"""
from __future__ import annotations

import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from ..atomic import atomic_dir
from ..datasets import Example
from ..datasets.labels import LabelSet
from ..errors import PqError
from ..model.baselines import build_vocab
from ..model.batch import token_strings
from ..model.registry import build_model, count_parameters, model_config, model_from_config
from ..projection import ProjectionSpec, tokenize
from ..quant.convert import to_quantized
from ..quant.qat import EmaRange
from .data import IGNORE, EncodedSet, TrainBatch, encode, make_batch
from .decode import intent_slots_from_examples, intent_tag_mask
from .inference import evaluate_model
from .lexicon_loss import HEAD_FILE as LEXICON_HEAD_FILE, LexiconLoss
from .plots import plot_learning_curve
from .run import RUN_FORMAT, RUN_VERSION, RunFolder, read_json, save_weights_dir, write_json
from .weight_average import EMA_FILE, WeightAverage


@dataclass
class TrainSettings:
    """Optimisation settings (stored in config.json["train"])."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    distortion: float = 0.25     # probability that a training word is distorted (PRADO: 0.25)
    unseen_words: float = 0.0    # probability that a training word gets random whole-token features
    clip_norm: float = 1.0       # gradient norm clipping (0 = off)
    threads: int = 1             # torch CPU threads per process (small ops: 1 is fastest on a busy machine)
    schedule: str = "constant"   # learning rate over the run: constant, linear or cosine (after warm-up)
    warmup: float = 0.0          # fraction of all updates with a linear warm-up from 0 to lr
    weight_decay: float = 0.0    # decoupled weight decay (AdamW); 0 = plain Adam
    ema: float = 0.0             # decay of a moving average of the weights used for dev/best/int8; 0 = off
    lexicon: str | None = None   # a teacher lexicon (.npz) for the auxiliary word loss (lexicon_loss.py)
    lexicon_weight: float = 0.25 # its weight against the main loss
    lexicon_batch: int = 128     # lexicon words per update

    def check(self) -> None:
        if self.epochs < 1:
            raise PqError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise PqError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise PqError(f"--lr must be > 0, got {self.lr}")
        if self.threads < 1:
            raise PqError(f"--threads must be >= 1, got {self.threads}")
        if not 0 <= self.distortion <= 1:
            raise PqError(f"distortion must be in [0, 1], got {self.distortion}")
        if not 0 <= self.unseen_words < 1:
            raise PqError(f"--unseen-words must be in [0, 1), got {self.unseen_words}")
        if self.schedule not in SCHEDULES:
            raise PqError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0 <= self.warmup < 1:
            raise PqError(f"--warmup must be in [0, 1), got {self.warmup}")
        if not self.weight_decay >= 0:
            raise PqError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if not (self.ema == 0 or 0 < self.ema < 1):
            raise PqError(f"--ema must be 0 (off) or in (0, 1), got {self.ema}")
        if not self.lexicon_weight > 0:
            raise PqError(f"--lexicon-weight must be > 0, got {self.lexicon_weight}")
        if self.lexicon_batch < 1:
            raise PqError(f"--lexicon-batch must be >= 1, got {self.lexicon_batch}")


SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(settings: TrainSettings, step: int, total: int) -> float:
    """The learning rate of update `step` (0-based) of `total`, as a fraction of settings.lr: a
    linear warm-up over the first warmup * total updates, then constant, linear decay to 0 or a
    cosine decay to 0 at the last update. A function of the step alone, so a resumed run gets
    exactly the rates an uninterrupted one would."""
    warm = int(settings.warmup * total)
    if step < warm:
        return (step + 1) / warm
    if settings.schedule == "constant":
        return 1.0
    progress = (step - warm) / max(1, total - warm)
    if settings.schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# -- the loss ---------------------------------------------------------------------------------

def training_loss(intent_logits: torch.Tensor, slot_logits: torch.Tensor,
                  batch: TrainBatch) -> tuple[torch.Tensor, dict[str, float]]:
    """The student's loss on one batch: cross-entropy of the intent plus, per example, the mean
    cross-entropy of its slot tags over its tokens; both averaged over the batch's examples (a
    plain mean over examples, so averaging gradients over DDP processes is exact).
    Returns (loss, {part: value}) for logging. Distillation passes the Trainer its own loss
    (pqcompile.distill.targets.TeacherTargets.loss) with this signature."""
    intent_ce = F.cross_entropy(intent_logits, batch.intents)
    token_ce = F.cross_entropy(slot_logits.transpose(1, 2), batch.tags, ignore_index=IGNORE, reduction="none")
    n_tok = (batch.tags != IGNORE).sum(dim=1).clamp(min=1)
    slot_ce = (token_ce.sum(dim=1) / n_tok).mean()
    loss = intent_ce + slot_ce
    return loss, {"intent": intent_ce.item(), "slot": slot_ce.item()}


# -- distributed helpers ------------------------------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Join the torchrun process group (gloo) when launched by torchrun, else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return Dist(dist.get_rank(), dist.get_world_size())


def sync_ranges(model: torch.nn.Module, ctx: Dist) -> None:
    """Make every process's moving-average activation ranges the single-process value (max)."""
    if ctx.world == 1:
        return
    for m in model.modules():
        if isinstance(m, EmaRange):
            dist.all_reduce(m.range, op=dist.ReduceOp.MAX)
            flag = m.initialised.to(torch.uint8)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            m.initialised.copy_(flag.bool())


# -- the run ------------------------------------------------------------------------------------

def _set_quantize(model, epoch: int) -> None:
    """pQRNN: float for config.float_epochs epochs, then fake-quantised (QAT)."""
    if hasattr(model, "set_quantize"):
        model.set_quantize(epoch >= model.config.float_epochs)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return int(np.random.SeedSequence((seed, epoch, rank)).generate_state(1)[0])


def _best_score(dev_metrics: dict | None, loss: float) -> list[float]:
    """What "best" means, compared lexicographically (higher is better): dev exact match, then
    intent accuracy, then slot F1 break ties; without a dev set, the lowest training loss."""
    if not dev_metrics:
        return [-loss]
    o = dev_metrics["overall"]
    return [o["exact_match"], o["intent_accuracy"], o["slot_f1"]]


class Trainer:
    """One training run into a run folder: a fresh model from config.json, or (after
    load_checkpoint) the run's last checkpoint; fit() trains up to settings.epochs.
    loss_fn has training_loss's signature (distillation passes its own)."""

    def __init__(self, run: RunFolder, config: dict, train: EncodedSet, dev: EncodedSet | None,
                 ctx: Dist, show_progress: bool = True, loss_fn=training_loss, lexicon: LexiconLoss | None = None):
        self.run, self.config, self.train_set, self.dev, self.ctx = run, config, train, dev, ctx
        self.loss_fn, self.lexicon = loss_fn, lexicon
        self.settings = TrainSettings(**config["train"]["settings"])
        self.spec = ProjectionSpec.from_dict(config["spec"])
        self.intent_labels, self.slot_labels = config["intent_labels"], config["slot_labels"]
        self.intent_slots: list[list[str]] | None = None   # for the int8 model (_write_int8)
        self.show_progress = show_progress and ctx.main
        torch.manual_seed(self.settings.seed)
        self.model = model_from_config(config["model"])
        params = list(self.model.parameters()) + (list(lexicon.parameters()) if lexicon is not None else [])
        self.optimizer = torch.optim.AdamW(params, lr=self.settings.lr,
                                           weight_decay=self.settings.weight_decay, foreach=True)
        self.average = WeightAverage(self.model, self.settings.ema) if self.settings.ema else None
        self.history: list[dict] = []
        self.best: dict | None = None
        self.next_epoch = 0

    # -- checkpoint state ----------------------------------------------------------------------
    def load_checkpoint(self) -> None:
        """Continue from RUN/checkpoint (no checkpoint yet: start at epoch 0)."""
        if not (self.run.checkpoint / "state.json").is_file():
            return
        state = read_json(self.run.checkpoint / "state.json")
        self.model.load_state_dict(self.run.load_weights("checkpoint"))
        self.optimizer.load_state_dict(torch.load(self.run.checkpoint / "optimizer.pt", weights_only=True))
        self.history, self.best, self.next_epoch = state["history"], state["best"], state["epoch"]
        if self.average is not None:
            if not (self.run.checkpoint / EMA_FILE).is_file():
                raise PqError(f"{self.run.checkpoint / EMA_FILE} not found (the run was started with --ema)")
            self.average.load(self.run.load_weights_file("checkpoint", EMA_FILE), state["ema_updates"])
        if self.lexicon is not None:
            self.lexicon.head.load_state_dict(self.run.load_weights_file("checkpoint", LEXICON_HEAD_FILE))

    # -- the loop ------------------------------------------------------------------------------
    def fit(self) -> dict:
        s, ctx = self.settings, self.ctx
        local_bs = s.batch_size // ctx.world
        torch.set_num_threads(s.threads)
        net = self.model if ctx.world == 1 else DistributedDataParallel(self.model, broadcast_buffers=False)
        sampler = DistributedSampler(range(len(self.train_set)), num_replicas=ctx.world, rank=ctx.rank,
                                     shuffle=True, seed=s.seed)
        for epoch in range(self.next_epoch, s.epochs):
            torch.manual_seed(_epoch_seed(s.seed, epoch, ctx.rank))
            _set_quantize(self.model, epoch)
            sampler.set_epoch(epoch)
            order = np.fromiter(iter(sampler), dtype=np.int64)
            t0 = time.perf_counter()
            loss, lexicon_loss = self._train_epoch(net, order, local_bs, epoch)
            minutes = (time.perf_counter() - t0) / 60
            if ctx.main:
                self._end_epoch(epoch, loss, minutes, lexicon_loss)
            if ctx.world > 1:
                dist.barrier()
        return self.summary()

    def _train_epoch(self, net, order: np.ndarray, local_bs: int, epoch: int) -> tuple[float, float | None]:
        """(mean loss per example, its --lexicon part or None)."""
        s, ctx = self.settings, self.ctx
        net.train()
        n_batches = math.ceil(len(order) / local_bs)
        bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{s.epochs}", unit="batch",
                   disable=not self.show_progress, leave=False, dynamic_ncols=True)
        total, seen, start = 0.0, 0, time.perf_counter()
        lexicon_total = 0.0
        for b in range(n_batches):
            rate_now = s.lr * lr_factor(s, epoch * n_batches + b, s.epochs * n_batches)
            for group in self.optimizer.param_groups:
                group["lr"] = rate_now
            batch = make_batch(self.train_set, order[b * local_bs:(b + 1) * local_bs], self.spec,
                               s.distortion, s.seed, epoch, s.unseen_words)
            intent_logits, slot_logits = net(batch.inputs)
            loss, _ = self.loss_fn(intent_logits, slot_logits, batch)
            if self.lexicon is not None:
                lexicon_loss = self.lexicon(self.model, epoch, b)
                lexicon_total += lexicon_loss.item() * len(batch.indices)
                loss = loss + lexicon_loss
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if s.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.clip_norm)
            self.optimizer.step()
            if self.average is not None:
                self.average.update()
            sync_ranges(self.model, ctx)
            total += loss.item() * len(batch.indices)
            seen += len(batch.indices)
            rate = seen * ctx.world / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{total / seen:.4f}", utt_per_s=f"{rate:.0f}")
            bar.update()
        bar.close()
        mean = torch.tensor([total, float(seen)], dtype=torch.float64)
        if ctx.world > 1:
            dist.all_reduce(mean)
        return float(mean[0] / mean[1]), (lexicon_total / max(seen, 1) if self.lexicon is not None else None)

    def _end_epoch(self, epoch: int, loss: float, minutes: float, lexicon_loss: float | None = None) -> None:
        """Main process: dev metrics, checkpoint, best, metrics.json and the learning curve.
        With --ema the dev metrics, best/ and int8/ are those of the averaged weights; the
        checkpoint holds the live weights and the average."""
        t0 = time.perf_counter()
        dev_metrics = live_metrics = None
        if self.dev is not None:
            mask = intent_tag_mask(self._intent_slots(), self.intent_labels, self.slot_labels) \
                if getattr(self.model, "kind", None) == "pqrnn" else None
            with self._averaged():
                dev_metrics = evaluate_model(self.model, self.dev, self.spec, self.intent_labels,
                                             self.slot_labels, mask)
            if self.average is not None:     # the live weights too: what the average buys, measured
                live_metrics = evaluate_model(self.model, self.dev, self.spec, self.intent_labels,
                                              self.slot_labels, mask)
        record = {"epoch": epoch + 1, "loss": loss, "minutes": minutes,
                  "eval_minutes": (time.perf_counter() - t0) / 60,
                  "quantized": bool(getattr(self.model, "quantize", False)), "dev": dev_metrics}
        if live_metrics is not None:
            record["dev_live_weights"] = live_metrics
        if lexicon_loss is not None:
            record["lexicon_loss"] = lexicon_loss     # included in loss
        self.history.append(record)
        value = _best_score(dev_metrics, loss)
        improved = self.best is None or value > self.best["score"]
        if improved:
            self.best = {"epoch": epoch + 1, "score": value, "dev": dev_metrics}
        state = {"epoch": epoch + 1, "history": self.history, "best": self.best}   # epochs completed
        extra = None
        if self.average is not None:
            state["ema_updates"] = self.average.updates
            extra = {EMA_FILE: self.average.tensors()}
        if self.lexicon is not None:
            extra = {**(extra or {}), LEXICON_HEAD_FILE: {k: v.detach().contiguous() for k, v in
                                                          self.lexicon.head.state_dict().items()}}
        save_weights_dir(self.run.checkpoint, self.model, state, self.optimizer, extra)
        if improved:
            with self._averaged():
                save_weights_dir(self.run.best, self.model,
                                 {"epoch": epoch + 1, "dev": dev_metrics, "quantized": record["quantized"]})
                self._write_int8(epoch + 1)
        write_json(self.run.metrics_path, self.summary())
        plot_learning_curve(self.history, self.run.curve_path)
        if self.show_progress:
            tqdm.write(self._epoch_line(record), file=sys.stderr)

    def _averaged(self):
        """A context in which the model holds the averaged weights (--ema), else its own."""
        return self.average.swapped_in() if self.average is not None else nullcontext()

    def _intent_slots(self) -> list[list[str]]:
        """The slot labels seen with each intent in the gold training rows (computed once): the
        int8 model's intent_slots, and the dev evaluation's decoding constraint (pQRNN runs)."""
        if self.intent_slots is None:
            self.intent_slots = intent_slots_from_examples(
                [ex for ex, i in zip(self.train_set.examples, self.train_set.intent_ids) if i >= 0],
                self.intent_labels, self.slot_labels)
        return self.intent_slots

    def _write_int8(self, epoch: int) -> None:
        """pQRNN: RUN/int8 = the best epoch as a QuantizedModel (what export and build read)."""
        if getattr(self.model, "kind", None) != "pqrnn":
            return
        qm = to_quantized(self.model, self.spec, self.intent_labels, self.slot_labels,
                          meta={"run": str(self.run.path), "epoch": epoch,
                                "config_name": self.config["model"]["config_name"]},
                          intent_slots=self._intent_slots())
        with atomic_dir(self.run.int8) as tmp:
            qm.save(tmp)

    @staticmethod
    def _epoch_line(r: dict) -> str:
        line = f"epoch {r['epoch']}: loss {r['loss']:.4f}, {r['minutes']:.2f} min"
        if r["dev"]:
            o = r["dev"]["overall"]
            line += (f"; dev intent {o['intent_accuracy']:.4f} slot F1 {o['slot_f1']:.4f} "
                     f"exact {o['exact_match']:.4f}")
            if r.get("dev_live_weights"):
                line += f" (averaged weights; live weights exact {r['dev_live_weights']['overall']['exact_match']:.4f})"
        return line

    def summary(self) -> dict:
        return {"run": str(self.run.path), "epochs": self.history, "best": self.best,
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "train_examples": len(self.train_set),
                "dev_examples": len(self.dev) if self.dev is not None else 0,
                "complete": bool(self.history) and self.history[-1]["epoch"] == self.settings.epochs}


def new_run_config(train_examples: list[Example], dev_examples: list[Example], spec: ProjectionSpec,
                   kind: str, config_name: str, overrides: dict, settings: TrainSettings, sources: dict) -> dict:
    """config.json of a new run. Labels come from the training and dev data; the BiLSTM's
    vocabulary from the training data's projection tokens."""
    labels = LabelSet.from_examples(list(train_examples) + list(dev_examples))
    vocab = None
    if kind == "bilstm":
        vocab = build_vocab(token_strings(tokenize(ex.text, spec)) for ex in train_examples)
    model = build_model(kind, config_name, overrides, len(labels.intents), len(labels.slot_tags), spec, vocab=vocab)
    return {"format": RUN_FORMAT, "version": RUN_VERSION, "spec": spec.to_dict(),
            "model": model_config(model), "overrides": overrides, "parameters": count_parameters(model),
            "intent_labels": list(labels.intents), "slot_labels": list(labels.slot_tags),
            "train": {"settings": asdict(settings), **sources}}


def encode_for_training(examples: list[Example], config: dict) -> tuple[EncodedSet, int]:
    """The representable training examples and how many were left out."""
    spec = ProjectionSpec.from_dict(config["spec"])
    enc = encode(examples, spec, config["intent_labels"], config["slot_labels"])
    kept = enc.representable()
    if len(kept) == 0:
        raise PqError("no training example can be represented on the projection's tokens")
    return kept, len(enc) - len(kept)

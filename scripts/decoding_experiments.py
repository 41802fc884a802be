#!/usr/bin/env python3
"""Decoding rules that need no retraining, tried on a run's int8 logits (docs/results.md, session 20).

    .venv/bin/python scripts/decoding_experiments.py RUN --dev mtop:DEV --eval mtop:EVAL --train mtop:TRAIN

For the dev and eval data it prints exact match of:
  - the model's own decoder (intent argmax, then BIO-constrained Viterbi under the intent's allowed
    tags: pqcompile/train/decode.py), the reference every other row is compared with;
  - joint decoding: for the K best intents, intent logit x a + the best Viterbi path score under
    that intent's allowed tags; the frame of the best sum (and the oracle: any of the K right);
  - a tag-transition prior: Viterbi over slot logits + lambda x log P(tag | previous tag), with
    P counted on the gold tags of --train (add-0.1 smoothing; a segment starts after O).
Only the integer reference runs (no device), so the numbers are the decoder's alone.
"""
import argparse

import numpy as np

from pqcompile.datasets import load_sources
from pqcompile.datasets.example import OUTSIDE, spans_from_tags
from pqcompile.train.decode import decode_one
from pqcompile.train.inference import Predictor
from pqcompile.train.metrics import Frame
from pqcompile.train.run import RunFolder
from pqcompile.train.viterbi import is_inside, viterbi_tags

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("run")
ap.add_argument("--dev", required=True)
ap.add_argument("--eval", required=True)
ap.add_argument("--train", required=True, help="gold data for the transition counts")
ap.add_argument("--top", type=int, default=3, help="intents tried by joint decoding")
a = ap.parse_args()

pred = Predictor(RunFolder(a.run), int8=True)
IL, SL, MASK = pred.intent_labels, pred.slot_labels, pred.tag_mask
n_tags, o = len(SL), SL.index(OUTSIDE)
if MASK is None:
    MASK = np.ones((len(IL), n_tags), dtype=bool)
inside = np.array([is_inside(t) for t in SL])
valid = np.array([[not inside[j] or (SL[i] != OUTSIDE and SL[i][2:] == SL[j][2:]) for j in range(n_tags)]
                  for i in range(n_tags)])

train = pred.encode(load_sources([a.train]))
counts = np.full((n_tags, n_tags), 0.1)
for toks, tags in zip(train.tokens, train.tag_ids):
    if tags is not None:
        prev = o
        for tok, j in zip(toks, tags):
            j = o if tok.is_tag else int(j)
            counts[prev, j] += 1
            prev = j
log_p = np.log(counts / counts.sum(1, keepdims=True))


def viterbi_prior(logits, tokens, allowed, lam):
    """Best valid path of sum(logits) + lam * sum(log P(tag | previous)); None on tag tokens."""
    trans = np.where(valid, lam * log_p, -np.inf)
    out, t, n = [None] * len(tokens), 0, len(tokens)
    while t < n:
        if tokens[t].is_tag:
            t += 1
            continue
        end = t
        while end < n and not tokens[end].is_tag:
            end += 1
        score = np.where(allowed & ~inside, logits[t] + lam * log_p[o], -np.inf)
        back = []
        for k in range(t + 1, end):
            cand = score[:, None] + trans
            best = cand.argmax(0)
            score = np.where(allowed, cand[best, np.arange(n_tags)] + logits[k], -np.inf)
            back.append(best)
        j = int(score.argmax())
        path = [j]
        for b in reversed(back):
            j = int(b[j])
            path.append(j)
        out[t:end] = path[::-1]
        t = end
    return out


for name, source in (("dev", a.dev), ("eval", a.eval)):
    examples = load_sources([source])
    data = pred.encode(examples)
    intent_logits, slot_logits = pred.logits_fn(data, np.arange(len(data)))
    golds = [Frame(ex.intent, tuple(ex.spans)) for ex in examples]
    own, joint_rows = [], []
    for ex, toks, il, sl, gold in zip(examples, data.tokens, intent_logits, slot_logits, golds):
        il, sl = il.astype(np.float64), sl.astype(np.float64)
        own.append(decode_one(ex.text, toks, il, sl, IL, SL, "viterbi", MASK).frame == gold)
        rows = []
        for i in np.argsort(-il, kind="stable")[:a.top]:
            path = viterbi_tags(sl, [t.is_tag for t in toks], SL, MASK[i])
            forced = np.full_like(il, -1e9)
            forced[i] = 0
            right = decode_one(ex.text, toks, forced, sl, IL, SL, "viterbi", MASK).frame == gold
            rows.append((il[i], sum(sl[t, j] for t, j in enumerate(path) if j is not None), right))
        joint_rows.append(rows)
    print(f"{name} ({len(examples)}): own decoder {np.mean(own):.4f}; joint top-{a.top} oracle "
          f"{np.mean([any(r[2] for r in rows) for rows in joint_rows]):.4f}")
    for weight in (0.5, 1, 2, 4, 8, 16):
        em = np.mean([max(rows, key=lambda r: weight * r[0] + r[1])[2] for rows in joint_rows])
        print(f"  joint, intent weight {weight:>4}: {em:.4f}")
    for lam in (0, 0.5, 1, 2, 3, 4):
        right = 0
        for ex, toks, il, sl, gold in zip(examples, data.tokens, intent_logits, slot_logits, golds):
            i = int(np.argmax(il))
            path = viterbi_prior(sl.astype(np.float64), toks, MASK[i], lam)
            tags = [OUTSIDE if j is None else SL[j] for j in path]
            right += Frame(IL[i], tuple(spans_from_tags(toks, tags))) == gold
        print(f"  transition prior, lambda {lam}: {right / len(examples):.4f}")

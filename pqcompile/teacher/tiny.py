"""A tiny randomly initialised BERT folder (config, weights, WordPiece tokenizer) built from texts.

For tests and quick demos that must run without downloaded weights: the vocabulary holds the
texts' lower-cased words plus every character alone and as a `##` continuation, so any text
made of those characters tokenizes (unseen words break into character pieces).
"""
from __future__ import annotations

import re
from pathlib import Path

from .encoder import transformers_module

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece_vocab(texts: list[str]) -> list[str]:
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    chars = sorted({c for w in words for c in w})
    vocab = SPECIALS + chars + ["##" + c for c in chars] + [w for w in words if len(w) > 1]
    return list(dict.fromkeys(vocab))


def write_tiny_bert(folder: str | Path, texts: list[str], hidden: int = 32, layers: int = 2,
                    heads: int = 2, seed: int = 0) -> Path:
    """Write a local Hugging Face folder usable as `--model` for `pqcompile teacher train`."""
    import torch
    tf = transformers_module()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = wordpiece_vocab(texts)
    tokenizer = tf.BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(str(folder))
    config = tf.BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=heads, intermediate_size=2 * hidden, max_position_embeddings=128)
    torch.manual_seed(seed)
    tf.BertModel(config).save_pretrained(str(folder))
    return folder

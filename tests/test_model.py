"""The student models: shapes, masking, registry round trips, parameter counts, a small overfit."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pqcompile.errors import PqError
from pqcompile.model import (CONFIGS, Batch, build_model, build_vocab, count_parameters, make_batch,
                             model_config, model_from_config, parameter_table)
from pqcompile.projection import ProjectionSpec

# One thread: on a shared 2-core machine a second torch thread mostly spins and waits.
torch.set_num_threads(1)

SPEC = ProjectionSpec(feature_size=64, max_tokens=10)
SMALL = {"pqrnn": {"bottleneck": 16, "hidden": 8, "layers": 2, "kernel_width": 3},
         "bilstm": {"embedding": 16, "hidden": 8},
         "transformer": {"d_model": 16, "heads": 2, "ff": 32, "layers": 1}}
TEXTS = ["wake me up at seven tomorrow", "what is the weather in Paris", "call mom",
         "play some jazz please", "set a timer for ten minutes", "¿qué tiempo hace en Madrid?",
         "remind me to buy milk", "how long is the drive to work"]


def make(kind: str, n_intents: int = 5, n_tags: int = 7, spec: ProjectionSpec = SPEC, seed: int = 0):
    torch.manual_seed(seed)
    vocab = build_vocab(make_batch(TEXTS, spec).tokens) if kind == "bilstm" else None
    return build_model(kind, "tiny", SMALL[kind], n_intents, n_tags, spec=spec, vocab=vocab)


@pytest.mark.parametrize("kind", ["pqrnn", "bilstm", "transformer"])
def test_forward_shapes_and_backward(kind):
    model = make(kind)
    batch = make_batch(TEXTS, SPEC)
    intent, slot = model(batch)
    assert intent.shape == (len(TEXTS), 5)
    assert slot.shape == (len(TEXTS), SPEC.max_tokens, 7)
    (intent.sum() + slot[batch.mask].sum()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("kind, quantize", [("pqrnn", False), ("pqrnn", True), ("bilstm", False),
                                            ("transformer", False)])
def test_padding_does_not_change_valid_outputs(kind, quantize):
    """Garbage in padding rows, and a longer max_tokens (more padding after every utterance), leave
    the outputs at valid positions unchanged: in particular the backward QRNN direction starts
    from a clean state at t = L-1."""
    model = make(kind).eval()
    if kind == "pqrnn":
        model.train()
        model(make_batch(TEXTS, SPEC))   # measure the activation ranges once
        model.eval()
        model.set_quantize(quantize)
    batch = make_batch(TEXTS, SPEC)
    with torch.no_grad():
        intent, slot = model(batch)
        noisy = batch.features.clone()
        noise = torch.randint(-1, 2, noisy.shape, dtype=noisy.dtype)
        noisy[~batch.mask] = noise[~batch.mask]
        intent2, slot2 = model(Batch(noisy, batch.mask, batch.tokens))
    assert torch.equal(intent, intent2)
    assert torch.equal(slot[batch.mask], slot2[batch.mask])
    if kind == "transformer":
        return   # its learned positions are sized by max_tokens
    longer = SPEC.replace(max_tokens=16)
    with torch.no_grad():
        intent3, slot3 = model(make_batch(TEXTS, longer))
    assert torch.allclose(intent, intent3, atol=1e-5)
    assert torch.allclose(slot[batch.mask], slot3[:, :SPEC.max_tokens][batch.mask], atol=1e-5)


def test_utterance_alone_equals_utterance_in_batch():
    model = make("pqrnn").eval()
    with torch.no_grad():
        intent_all, slot_all = model(make_batch(TEXTS, SPEC))
        for i in (0, 2):
            intent_one, slot_one = model(make_batch([TEXTS[i]], SPEC))
            assert torch.allclose(intent_all[i], intent_one[0], atol=1e-5)
            assert torch.allclose(slot_all[i], slot_one[0], atol=1e-5)


def test_pqrnn_parameter_count_formula():
    model = build_model("pqrnn", "small", None, 11, 13)
    c = model.config
    n = c.feature_size * c.bottleneck + c.bottleneck
    d = c.bottleneck
    for _ in range(c.layers):
        n += 2 * (c.kernel_width * d * 3 * c.hidden + 3 * c.hidden)
        d = 2 * c.hidden
    n += (d + 1) * (1 + 11 + 13)
    assert count_parameters(model) == n


def test_named_configs_grow_and_transformers_match_pqrnn_size():
    rows = {(r["kind"], r["config"]): r["parameters"] for r in parameter_table()}
    for kind in CONFIGS:
        assert rows[(kind, "tiny")] < rows[(kind, "small")] < rows[(kind, "base")]
    for name in ("tiny", "small", "base"):
        ratio = rows[("transformer", name)] / rows[("pqrnn", name)]
        assert 0.75 < ratio < 1.25, (name, ratio)


@pytest.mark.parametrize("kind", ["pqrnn", "bilstm", "transformer"])
def test_config_round_trip_rebuilds_the_same_model(kind):
    model = make(kind).eval()
    cfg = model_config(model)
    clone = model_from_config(json.loads(json.dumps(cfg))).eval()
    clone.load_state_dict(model.state_dict())
    batch = make_batch(TEXTS, SPEC)
    with torch.no_grad():
        a, b = model(batch), clone(batch)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert model_config(clone) == cfg


def test_spec_wins_over_config_feature_size():
    model = build_model("pqrnn", "base", None, 3, 3, spec=ProjectionSpec(feature_size=96))
    assert model.config.feature_size == 96


@pytest.mark.parametrize("args, message", [
    (("pqrnn", "huge", None), "unknown pqrnn config 'huge'"),
    (("lstm", "tiny", None), "unknown model kind 'lstm'"),
    (("pqrnn", "tiny", {"hiden": 3}), "unknown pqrnn config option(s): hiden"),
    (("pqrnn", "tiny", {"layers": 0}), "layers must be a positive integer"),
    (("transformer", "tiny", {"d_model": 30, "heads": 4}), "not a multiple of heads"),
    (("bilstm", "tiny", None), "needs a vocabulary"),
])
def test_bad_configs_give_one_line_errors(args, message):
    with pytest.raises(PqError) as e:
        build_model(*args, 3, 3)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_model_from_malformed_config():
    with pytest.raises(PqError, match="malformed"):
        model_from_config({"kind": "pqrnn"})
    with pytest.raises(PqError, match="unknown pqrnn config option"):
        model_from_config({"kind": "pqrnn", "config": {"bogus": 1}, "n_intents": 2, "n_slot_tags": 2})


def test_vocab_maps_unknown_tokens_to_unk():
    vocab = build_vocab([["a", "b", "a"], ["c"]])
    assert vocab == ["<pad>", "<unk>", "a", "b", "c"]
    model = build_model("bilstm", "tiny", SMALL["bilstm"], 2, 2, spec=SPEC, vocab=vocab)
    ids = model.token_ids(Batch(torch.zeros(1, 4, 64), torch.tensor([[True, True, True, False]]), [["a", "zz", "c"]]))
    assert ids.tolist() == [[2, 1, 4, 0]]


@pytest.mark.parametrize("quantize", [False, True])
def test_tiny_pqrnn_overfits_eight_utterances(quantize):
    """A tiny pQRNN learns 8 utterances' intents (and slot tags) from scratch, in float and in QAT."""
    spec = ProjectionSpec(feature_size=64, max_tokens=10)
    batch = make_batch(TEXTS, spec)
    intents = torch.arange(8) % 4
    tags = (torch.arange(10)[None, :] + torch.arange(8)[:, None]) % 3
    torch.manual_seed(1)
    model = build_model("pqrnn", "tiny", {"bottleneck": 16, "hidden": 16, "layers": 1, "kernel_width": 2}, 4, 3,
                        spec=spec)
    model.set_quantize(quantize)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(120):
        model.train()
        intent, slot = model(batch)
        loss = F.cross_entropy(intent, intents) + F.cross_entropy(slot[batch.mask], tags[batch.mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        intent, slot = model(batch)
    assert (intent.argmax(-1) == intents).all()
    assert (slot.argmax(-1)[batch.mask] == tags[batch.mask]).float().mean() > 0.9


def test_numpy_free_inputs_are_accepted():
    """Features may arrive as int8 (from the projection) or float (e.g. after augmentation)."""
    model = make("pqrnn").eval()
    batch = make_batch(TEXTS, SPEC)
    with torch.no_grad():
        a = model(batch)[0]
        b = model(Batch(batch.features.float(), batch.mask, batch.tokens))[0]
    assert torch.equal(a, b)
    assert batch.features.dtype == torch.int8 and np.array_equal(batch.lengths.numpy(), batch.mask.sum(1).numpy())

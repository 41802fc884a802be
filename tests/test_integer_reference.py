"""The integer reference executor against a plain-Python reading of docs/integer-semantics.md."""
import math

import numpy as np
import pytest

from pqcompile.errors import PqError
from pqcompile.projection import DEFAULT_SPEC, project
from pqcompile.quant import integer_reference as ir
from pqcompile.quant.qmodel import QuantizedModel, random_quantized_model
from pqcompile.quant.tables import exp_q15, sigmoid_q7, tanh_q7

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8)


def test_tables_endpoints_and_monotonic():
    t, s, e = tanh_q7(), sigmoid_q7(), exp_q15()
    assert t[128] == 0 and t[0] == -127 and t[255] == 127
    assert s[128] == 64 and s[0] == 0 and s[255] == 127
    assert e[255] == 32768 and e[0] == 0
    assert np.all(np.diff(t.astype(int)) >= 0) and np.all(np.diff(s.astype(int)) >= 0)
    assert np.all(np.diff(e) >= 0)


@pytest.mark.parametrize("acc,scale,expected", [
    (5, 0.1, 1),        # 0.5 + 0.5 -> floor(1.0) = 1: halves round up
    (-5, 0.1, 0),       # -0.5 + 0.5 -> 0
    (-15, 0.1, -1),     # -1.5 + 0.5 -> -1
    (10**6, 1.0, 127),  # clamps
    (-10**6, 1.0, -128),
])
def test_requant_rounds_half_up_and_clamps(acc, scale, expected):
    got = ir.requant(np.array([acc], np.int32), np.array([scale], np.float32), -128, 127)
    assert got.dtype == np.int8 and int(got[0]) == expected


def _fo_pool_scalar(z, f, o, length, backward):
    """The recurrence of the semantics document, one unit, in Python ints."""
    T = len(z)
    U, h = 32768, [0] * T
    for t in (range(T - 1, -1, -1) if backward else range(T)):
        if t < length:
            U = (f[t] * U + (128 - f[t]) * (z[t] * 256 + 32768) + 64) // 128
        else:
            U = 32768
        h[t] = (o[t] * U + 16384) // 32768 - o[t]
    return h


@pytest.mark.parametrize("backward", [False, True])
def test_fo_pool_matches_scalar_definition(backward):
    rng = np.random.default_rng(1)
    B, T, H = 3, 7, 4
    pre = rng.integers(-128, 128, (B, T, 3 * H)).astype(np.int8)
    lengths = np.array([7, 3, 1])
    mask = np.arange(T)[None] < lengths[:, None]
    got = ir.fo_pool(pre, mask, H, backward)
    idx = pre.astype(int) + 128
    for b in range(B):
        for u in range(H):
            z = [int(tanh_q7()[idx[b, t, u]]) for t in range(T)]
            f = [int(sigmoid_q7()[idx[b, t, H + u]]) for t in range(T)]
            o = [int(sigmoid_q7()[idx[b, t, 2 * H + u]]) for t in range(T)]
            assert got[b, :, u].tolist() == _fo_pool_scalar(z, f, o, lengths[b], backward)
    assert np.all(np.abs(got.astype(int)) <= 127)


def test_state_saturates_towards_z():
    # f = 0 (pre -128) makes the state jump to z; o = 127/128 reads it out almost unchanged
    H = 1
    pre = np.array([[[100, -128, 127]]], np.int8)
    h = ir.fo_pool(pre, np.ones((1, 1), bool), H, backward=False)
    z = int(tanh_q7()[228])
    assert abs(int(h[0, 0, 0]) - z * 127 / 128) <= 1


def test_padding_does_not_change_valid_outputs():
    model = random_quantized_model(SPEC, seed=3)
    p = project(["wake me up at seven", "play jazz"], SPEC)
    noisy = p.features.copy()
    rng = np.random.default_rng(0)
    for b, L in enumerate(p.lengths):
        noisy[b, L:] = rng.integers(-1, 2, noisy[b, L:].shape)
    a = ir.run_integer(model, p.features, p.lengths)
    c = ir.run_integer(model, noisy, p.lengths)
    np.testing.assert_array_equal(a.intent_logits, c.intent_logits)
    for b, L in enumerate(p.lengths):
        np.testing.assert_array_equal(a.slot_logits[b, :L], c.slot_logits[b, :L])
        assert not a.encoder[b, L:].any()


def test_attention_pool_is_a_weighted_mean():
    E = np.array([[[100, -50], [20, 10], [7, 7]]], np.int8)
    mask = np.array([[True, True, False]])
    # all scores equal (zero weights) -> plain mean of the valid rows
    att = ir.QLinear(np.zeros((2, 1), np.int8), np.zeros(1, np.int32), np.ones(1, np.float32))
    pooled = ir.attention_pool(E, mask, att)
    assert pooled.tolist() == [[60, -20]]


def test_batch_rows_are_independent():
    model = random_quantized_model(SPEC, seed=4)
    p = project(["one two three", "four", "five six"], SPEC)
    full = ir.run_integer(model, p.features, p.lengths)
    for b in range(3):
        one = ir.run_integer(model, p.features[b:b + 1], p.lengths[b:b + 1])
        np.testing.assert_array_equal(one.intent_logits[0], full.intent_logits[b])
        np.testing.assert_array_equal(one.slot_logits[0], full.slot_logits[b])


def test_shape_mismatch_is_rejected():
    model = random_quantized_model(SPEC)
    with pytest.raises(ValueError, match="does not match"):
        ir.run_integer(model, np.zeros((1, 4, 64), np.int8), np.array([1]))


def test_qmodel_save_load_roundtrip(tmp_path):
    model = random_quantized_model(SPEC, seed=5)
    model.save(tmp_path / "m")
    back = QuantizedModel.load(tmp_path / "m")
    assert back.spec == model.spec and back.slot_labels == model.slot_labels
    for k, v in model.tensors().items():
        np.testing.assert_array_equal(back.tensors()[k], v)
    p = project(["same outputs after reload"], SPEC)
    np.testing.assert_array_equal(ir.run_integer(model, p.features, p.lengths).intent_logits,
                                  ir.run_integer(back, p.features, p.lengths).intent_logits)
    assert model.n_macs() > 0 and model.n_weight_bytes() > math.prod(model.bottleneck.weight.shape)


def test_qmodel_load_missing_is_clear(tmp_path):
    with pytest.raises(PqError, match="no quantized model"):
        QuantizedModel.load(tmp_path)

"""QAT building blocks and the conversion to the integer model, checked against the numpy integer
reference executor (pqcompile.quant.integer_reference), which the device must match bit for bit."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pqcompile.errors import PqError
from pqcompile.model import build_model, make_batch
from pqcompile.model.fo_pool import qrnn_pool
from pqcompile.model.packing import Packing
from pqcompile.model.pqrnn import windows
from pqcompile.projection import ProjectionSpec
from pqcompile.quant import integer_reference as ir
from pqcompile.quant.convert import to_quantized
from pqcompile.quant.qat import (EmaRange, QATLinear, q_exp, q_sigmoid, q_tanh, requant, round_half_up,
                                 weight_scale)
from pqcompile.quant.qmodel import QuantizedModel
from pqcompile.quant.tables import exp_q15, sigmoid_q7, tanh_q7

# One thread: on a shared 2-core machine a second torch thread mostly spins and waits.
torch.set_num_threads(1)

SPEC = ProjectionSpec(feature_size=64, max_tokens=12)


def test_weight_fake_quant_is_symmetric_per_channel_int8():
    torch.manual_seed(0)
    layer = QATLinear(20, 6, -128, 127, out_scale=0.5)
    with torch.no_grad():
        layer.weight[:, 3] = 0.0          # a zero column gets scale 1 and stays zero
        layer.weight[:, 4] *= 100.0
    layer.quantize = True
    w, b, s = layer.int_params(torch.tensor(0.25))
    s_w = weight_scale(layer.weight)
    assert torch.equal(w, torch.round(w)) and w.abs().max() <= 127
    for c in range(6):
        if c == 3:
            assert s_w[c] == 1 and (w[:, c] == 0).all()
        else:
            assert w[:, c].abs().max() == 127
            assert ((w[:, c] * s_w[c] - layer.weight[:, c]).abs() <= s_w[c] / 2 + 1e-7).all()
    assert torch.equal(b, torch.round(b))
    assert s.dtype == torch.float32
    np.testing.assert_allclose(s.numpy(), (0.25 * s_w / 0.5).numpy(), rtol=1e-6)


def test_weight_gradient_passes_straight_through():
    layer = QATLinear(4, 3, -128, 127, out_scale=1.0)
    layer.quantize = True
    x = torch.tensor([[1.0, -1.0, 0.0, 1.0]])
    layer(x, torch.tensor(1.0)).sum().backward()
    # d out / d W[i, c] = x[i] * S_in * S_w / S_out / S_w = x[i] (inside the clamp range).
    expected = x.T.expand(4, 3)
    out = layer(x, torch.tensor(1.0))
    inside = (out > -128) & (out < 127)
    assert torch.allclose(layer.weight.grad[:, inside[0]], expected[:, inside[0]])


def test_requant_rounds_half_up_clamps_and_has_straight_through_gradient():
    acc = torch.tensor([5.0, -5.0, 3.0, -3.0, 1000.0, -1000.0, 7.0], requires_grad=True)
    out = requant(acc, torch.tensor(0.5), -128, 127, quantize=True)
    assert out.tolist() == [3.0, -2.0, 2.0, -1.0, 127.0, -128.0, 4.0]  # floor(x + 0.5): 2.5 -> 3, -2.5 -> -2
    out.sum().backward()
    assert acc.grad.tolist() == [0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.5]
    relu = requant(torch.tensor([-3.0, 3.0]), torch.tensor(1.0), 0, 127, quantize=True)
    assert relu.tolist() == [0.0, 3.0]
    # Float mode: no rounding, only the ReLU.
    assert requant(torch.tensor([-3.3, 3.3]), torch.tensor(1.0), 0, 127, quantize=False).tolist() == \
        pytest.approx([0.0, 3.3])
    assert round_half_up(torch.tensor([0.5, 1.5, -0.5, -1.5])).tolist() == [1.0, 2.0, 0.0, -1.0]


def test_lookups_forward_equal_tables_and_backward_is_float_derivative():
    pre = torch.arange(-128.0, 128.0, requires_grad=True)
    z = q_tanh(pre, True)
    assert np.array_equal(z.detach().numpy(), tanh_q7().astype(np.float32))
    z.sum().backward()
    t = torch.tanh(pre.detach() / 16)
    assert torch.allclose(pre.grad, (1 - t ** 2) * 8)
    pre.grad = None
    f = q_sigmoid(pre, True)
    assert np.array_equal(f.detach().numpy(), sigmoid_q7().astype(np.float32))
    f.sum().backward()
    sg = torch.sigmoid(pre.detach() / 16)
    assert torch.allclose(pre.grad, sg * (1 - sg) * 8)
    diff = torch.arange(-255.0, 1.0)
    assert np.array_equal(q_exp(diff, True).numpy(), exp_q15().astype(np.float32))
    # Float mode is the plain function.
    assert torch.allclose(q_tanh(torch.tensor([16.0]), False), torch.tanh(torch.tensor([1.0])) * 128)


def test_ema_range_tracks_moving_max_in_training_only():
    r = EmaRange(momentum=0.1)
    r.observe(torch.tensor([2.0, -4.0]))
    assert float(r.range) == 4.0
    r.observe(torch.tensor([14.0]))
    assert float(r.range) == pytest.approx(5.0)
    assert float(r.scale()) == pytest.approx(5.0 / 127)
    layer = QATLinear(3, 2, 0, 127)
    layer.eval()
    layer(torch.ones(1, 3), torch.tensor(1.0))
    assert not bool(layer.range.initialised)
    layer.train()
    layer(torch.ones(1, 3), torch.tensor(1.0))
    assert bool(layer.range.initialised) and float(layer.range.range) > 0


@pytest.mark.parametrize("backward", [False, True])
def test_window_matches_integer_reference(backward):
    u = np.random.default_rng(0).integers(-128, 128, (3, 7, 5)).astype(np.int8)
    packing = Packing.of(torch.ones(3, 7, dtype=torch.bool))    # full rows: packed = padded
    got = windows(packing.pack(torch.from_numpy(u).float()), 3, packing)[int(backward)].view(3, 7, 15).numpy()
    assert np.array_equal(got, ir.window(u, 3, backward).astype(np.float32))


@pytest.mark.parametrize("backward", [False, True])
def test_fo_pool_matches_integer_reference_bit_for_bit(backward):
    rng = np.random.default_rng(1)
    B, T, H = 4, 9, 6
    pre = rng.integers(-128, 128, (B, T, 3 * H)).astype(np.int8)
    pre[0, :, H:2 * H] = 127                     # f saturated: the state barely moves
    lengths = np.array([9, 1, 5, 7])
    mask = np.arange(T)[None] < lengths[:, None]
    expected = ir.fo_pool(pre, mask, H, backward)
    p = torch.from_numpy(pre).float()
    packing = Packing.of(torch.from_numpy(mask))
    h = packing.unpack(qrnn_pool(packing.pack(p), packing.pack(p), packing, True, 0.0)).numpy()   # both directions
    got = h[..., H:] if backward else h[..., :H]
    assert np.array_equal(got, expected.astype(np.float32))


def train_qat_model(seed: int = 0, steps: int = 30, float_steps: int = 0, overrides: dict | None = None):
    """A small pQRNN trained for a few steps on real projected text (QAT on after float_steps),
    so that its activation ranges and scales are realistic."""
    texts = ["wake me up at seven", "what is the weather in Paris tomorrow", "call mom", "play jazz",
             "set a timer for ten minutes please", "¿qué tiempo hace en Madrid?", "remind me to buy milk",
             "how long is the drive to work", "turn off the lights", "wie spät ist es", "x", "book a table for two",
             "please tell me what the weather will be like in the city of Paris next week"]  # > max_tokens
    batch = make_batch(texts, SPEC)
    torch.manual_seed(seed)
    model = build_model("pqrnn", "tiny", {"bottleneck": 24, "hidden": 12, "layers": 2, "kernel_width": 3,
                                          **(overrides or {})}, 5, 7, spec=SPEC)
    intents = torch.arange(len(texts)) % 5
    tags = torch.randint(0, 7, batch.mask.shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        model.set_quantize(step >= float_steps)
        model.train()
        intent, slot = model(batch)
        loss = F.cross_entropy(intent, intents) + F.cross_entropy(slot[batch.mask], tags[batch.mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), batch


def compare_with_integer_reference(model, batch):
    qm = to_quantized(model, SPEC, [f"IN:{i}" for i in range(5)], ["O"] + [f"T{i}" for i in range(6)])
    with torch.no_grad():
        out = model.forward_int(batch.features, batch.mask)
    ref = ir.run_integer(qm, batch.features.numpy(), batch.lengths.numpy())
    return qm, out, ref


@pytest.mark.parametrize("float_steps", [0, 15])
def test_qat_model_equals_integer_reference_bit_for_bit(float_steps):
    model, batch = train_qat_model(float_steps=float_steps)
    model.set_quantize(True)
    qm, out, ref = compare_with_integer_reference(model, batch)
    m = batch.mask.numpy()
    assert np.array_equal(out["encoder"].numpy(), ref.encoder.astype(np.float32))
    assert np.array_equal(out["pooled"].numpy(), ref.pooled.astype(np.float32))
    assert np.array_equal(out["intent"].numpy(), ref.intent_logits.astype(np.float32))
    assert np.array_equal(out["slot"].numpy()[m], ref.slot_logits[m].astype(np.float32))
    # The real-valued logits the training loop sees are the integers times the output scales.
    with torch.no_grad():
        intent, _ = model(batch)
    assert np.allclose(intent.numpy(), ref.intent_logits * qm.meta["intent_scale"], rtol=1e-6)


def test_a_kernel_width_per_layer_trains_converts_and_equals_the_integer_reference():
    model, batch = train_qat_model(steps=10, overrides={"layer_kernel_widths": [3, 1]})
    assert [l.fwd.kernel_width for l in model.layers] == [3, 1]
    qm, out, ref = compare_with_integer_reference(model, batch)
    assert [l.kernel_width for l in qm.layers] == [3, 1]
    assert qm.tensors()["qrnn1.fwd.weight"].shape == (1 * 24, 3 * 12)
    m = batch.mask.numpy()
    assert np.array_equal(out["intent"].numpy(), ref.intent_logits.astype(np.float32))
    assert np.array_equal(out["slot"].numpy()[m], ref.slot_logits[m].astype(np.float32))


def test_dropout_only_acts_in_training_and_leaves_the_integer_model_exact():
    """config dropout: training forward passes differ from eval ones (values are zeroed), eval
    passes are deterministic, and the trained model still equals the integer reference."""
    model, batch = train_qat_model(steps=10, overrides={"dropout": 0.3})
    model.train()
    with torch.no_grad():
        a, b = model(batch)[1], model(batch)[1]
    assert not torch.equal(a, b)
    model.eval()
    with torch.no_grad():
        c, d = model(batch)[1], model(batch)[1]
    assert torch.equal(c, d)
    qm, out, ref = compare_with_integer_reference(model, batch)
    m = batch.mask.numpy()
    assert np.array_equal(out["intent"].numpy(), ref.intent_logits.astype(np.float32))
    assert np.array_equal(out["slot"].numpy()[m], ref.slot_logits[m].astype(np.float32))
    with pytest.raises(PqError, match="dropout"):
        build_model("pqrnn", "tiny", {"dropout": 1.0}, 5, 7, spec=SPEC)


@pytest.mark.parametrize("widths", [[3], [3, 0], [3, "1"], 3])
def test_layer_kernel_widths_must_list_one_width_per_layer(widths):
    with pytest.raises(PqError, match="layer_kernel_widths"):
        build_model("pqrnn", "tiny", {"layers": 2, "layer_kernel_widths": widths}, 5, 7, spec=SPEC)


def test_converted_model_survives_save_and_load(tmp_path):
    model, batch = train_qat_model(steps=5)
    qm, _, ref = compare_with_integer_reference(model, batch)
    qm.save(tmp_path / "q")
    again = ir.run_integer(QuantizedModel.load(tmp_path / "q"), batch.features.numpy(), batch.lengths.numpy())
    assert np.array_equal(again.intent_logits, ref.intent_logits)
    assert np.array_equal(again.slot_logits, ref.slot_logits)
    t = qm.tensors()
    assert t["qrnn0.fwd.weight"].shape == (3 * 24, 3 * 12) and t["qrnn1.bwd.weight"].shape == (3 * 24, 3 * 12)
    assert t["bottleneck.weight"].dtype == np.int8 and t["bottleneck.bias"].dtype == np.int32
    assert t["slot.scale"].dtype == np.float32 and qm.meta["config"]["hidden"] == 12


def test_float_model_quantized_without_qat_still_runs_and_is_close():
    """Converting a float-trained model (QAT never on) is allowed; its int8 argmax mostly agrees
    with the float model's (the gap QAT closes; exact numbers are reported, not assumed)."""
    model, batch = train_qat_model(steps=30, float_steps=30)
    assert not model.quantize
    qm, _, ref = compare_with_integer_reference(model, batch)
    with torch.no_grad():
        intent, _ = model(batch)
    agree = (intent.argmax(-1).numpy() == ref.intent_logits.argmax(-1)).mean()
    assert agree >= 0.5
    assert not model.quantize    # conversion restores the mode


def test_convert_rejects_uncalibrated_models_and_wrong_labels():
    model = build_model("pqrnn", "tiny", None, 3, 4, spec=ProjectionSpec(feature_size=128))
    with pytest.raises(PqError, match="never measured"):
        to_quantized(model, ProjectionSpec(feature_size=128), ["a", "b", "c"], ["O", "B-x", "I-x", "B-y"])
    model, _ = train_qat_model(steps=1)
    with pytest.raises(PqError, match="label counts"):
        to_quantized(model, SPEC, ["a"], ["O"] * 7)
    with pytest.raises(PqError, match="feature_size"):
        to_quantized(model, SPEC.replace(feature_size=32), [f"{i}" for i in range(5)], ["O"] * 7)
    bilstm = build_model("bilstm", "tiny", None, 5, 7, vocab=["<pad>", "<unk>"])
    with pytest.raises(PqError, match="only pqrnn"):
        to_quantized(bilstm, SPEC, [f"{i}" for i in range(5)], ["O"] * 7)


@pytest.mark.parametrize("lo", [0, -128])
def test_float_mode_is_the_plain_float_layer_even_on_the_first_batch(lo):
    """Without quantisation a QATLinear is x_real @ W + b (ReLU for lo = 0) in units of its
    output scale, including the very first training batch that sets the range."""
    torch.manual_seed(0)
    layer = QATLinear(6, 4, lo, 127)
    with torch.no_grad():
        layer.bias.fill_(0.3)
    x_real = torch.randn(5, 6)
    in_scale = torch.tensor(0.05)
    out = layer(x_real / in_scale, in_scale) * layer.out_scale()
    expected = x_real @ layer.weight + layer.bias
    assert torch.allclose(out, expected.clamp(min=0) if lo == 0 else expected, atol=1e-5)


def test_four_bit_encoder_weights_train_convert_and_equal_the_integer_reference(tmp_path):
    """encoder_weight_bits=4: the bottleneck's and gates' weights are integers in [-7, 7] (the
    heads keep int8), the QAT model still equals the integer reference bit for bit, the model
    counts half a byte per encoder weight, and the bit width survives save and load."""
    model, batch = train_qat_model(steps=10, overrides={"encoder_weight_bits": 4})
    model.set_quantize(True)
    qm, out, ref = compare_with_integer_reference(model, batch)
    m = batch.mask.numpy()
    assert np.array_equal(out["intent"].numpy(), ref.intent_logits.astype(np.float32))
    assert np.array_equal(out["slot"].numpy()[m], ref.slot_logits[m].astype(np.float32))
    t = qm.tensors()
    assert qm.encoder_weight_bits == 4
    for name in qm.encoder_weight_names():
        assert np.abs(t[name]).max() == 7      # the scale maps each channel's largest weight to 7
    assert np.abs(t["slot.weight"]).max() == 127 and np.abs(t["intent.weight"]).max() == 127
    encoder = sum(t[n].size for n in qm.encoder_weight_names())
    full = sum(a.nbytes for a in t.values())
    assert qm.n_weight_bytes() == full - encoder + sum((t[n].size + 1) // 2 for n in qm.encoder_weight_names())
    qm.save(tmp_path / "q4")
    again = QuantizedModel.load(tmp_path / "q4")
    assert again.encoder_weight_bits == 4 and again.n_weight_bytes() == qm.n_weight_bytes()
    assert np.array_equal(ir.run_integer(again, batch.features.numpy(), batch.lengths.numpy()).slot_logits,
                          ref.slot_logits)
    # An int8 model's files do not mention the field (unchanged from before it existed).
    model8, _ = train_qat_model(steps=2)
    qm8, _, _ = compare_with_integer_reference(model8, batch)
    assert "encoder_weight_bits" not in qm8.config() and qm8.n_weight_bytes() == sum(a.nbytes for a in qm8.tensors().values())


def test_a_four_bit_model_with_wider_weights_is_refused_on_load(tmp_path):
    model, batch = train_qat_model(steps=2, overrides={"encoder_weight_bits": 4})
    qm, _, _ = compare_with_integer_reference(model, batch)
    qm.layers[1].bwd.weight[0, 0] = 8
    qm.save(tmp_path / "bad")
    with pytest.raises(PqError, match=r"qrnn1.bwd.weight has weights outside \[-7, 7\]"):
        QuantizedModel.load(tmp_path / "bad")


@pytest.mark.parametrize("bits", [2, 5, 16, True])
def test_encoder_weight_bits_must_be_4_or_8(bits):
    with pytest.raises(PqError, match="encoder_weight_bits must be 4 or 8"):
        build_model("pqrnn", "tiny", {"encoder_weight_bits": bits}, 5, 7, spec=SPEC)

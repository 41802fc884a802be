"""The fused QRNN pooling (model/fo_pool.py) and window Function (model/pqrnn.py) against the
step-by-step definitions recorded by autograd (the implementations they replaced, kept here as the
reference): forward values equal exactly, gradients agree, in quantised and float mode, with
padding and zoneout, both directions, odd sizes."""
import pytest
import torch
import torch.nn.functional as F

from pqcompile.model import qrnn_kernel
from pqcompile.model.fo_pool import qrnn_pool
from pqcompile.model.packing import Packing
from pqcompile.model.pqrnn import QRNNLayer, windows
from pqcompile.quant.qat import q_sigmoid, q_tanh, round_half_up

torch.set_num_threads(1)
Q7, Q15 = 128, 32768


# -- the former implementation (the reference) ------------------------------------------------------

def reference_fo_pool(z, f, o, mask, backward, quantize):
    """One autograd-recorded step per time step (zoneout applied to f beforehand)."""
    B, T, H = z.shape
    state = z.new_zeros(B, H)
    outs = [None] * T
    for t in (range(T - 1, -1, -1) if backward else range(T)):
        new = f[:, t] * state + (Q7 - f[:, t]) * (z[:, t] * (Q15 // Q7))
        new = round_half_up(new / Q7) if quantize else new / Q7
        state = torch.where(mask[:, t, None], new, torch.zeros_like(new))
        h = o[:, t] * state / Q15
        outs[t] = round_half_up(h) if quantize else h
    return torch.stack(outs, dim=1)


def reference_direction(pre, mask, backward, quantize, keep):
    """Gate lookups, zoneout (keep: bool [B, T, H] or None), then the step-by-step pooling."""
    H = pre.shape[-1] // 3
    z, f, o = q_tanh(pre[..., :H], quantize), q_sigmoid(pre[..., H:2 * H], quantize), q_sigmoid(pre[..., 2 * H:], quantize)
    if keep is not None:
        f = torch.where(keep, torch.full_like(f, Q7), f)
    return reference_fo_pool(z, f, o, mask, backward, quantize)


def zoneout_draws(mask, H, zoneout):
    """The keep masks qrnn_pool draws (one per valid row and unit, forward direction first), on
    the padded grid; None without zoneout."""
    if zoneout <= 0:
        return None, None
    packing = Packing.of(mask)
    return tuple(packing.unpack(torch.rand(packing.n, H) < zoneout) for _ in range(2))


def reference_window(u, k, backward):
    T = u.shape[1]
    parts = []
    for j in range(k):
        if backward:
            parts.append(F.pad(u, (0, 0, 0, j))[:, j:j + T])
        else:
            parts.append(F.pad(u, (0, 0, j, 0))[:, :T])
    return torch.cat(parts, dim=-1)


# -- helpers --------------------------------------------------------------------------------------

@pytest.fixture(params=["c", "torch"])
def backend(request, monkeypatch):
    """Quantised pooling through the C kernel, and through the torch code it falls back to."""
    lib = qrnn_kernel.load()
    assert lib is not None, "the C kernel should build on a machine with gcc"
    monkeypatch.setitem(qrnn_kernel._LOADED, "lib", lib if request.param == "c" else None)
    return request.param


def pre_activations(B, T, H, quantize, seed):
    """Gate pre-activations [B, T, 3H] as the gate layer makes them: integers in [-128, 127] when
    quantised (a row with f saturated, a unit with f = 0), real values in float mode."""
    g = torch.Generator().manual_seed(seed)
    if quantize:
        pre = torch.randint(-128, 128, (B, T, 3 * H), generator=g).float()
        pre[0, :, H:2 * H] = 127
        pre[-1, :, H] = -128
    else:
        pre = torch.randn(B, T, 3 * H, generator=g) * 40
    return pre.requires_grad_(True)


def value_and_grads(fn, leaves, weight):
    """fn() -> h; returns h and the leaves' gradients of sum(h * weight)."""
    for x in leaves:
        x.grad = None
    h = fn()
    (h * weight).sum().backward()
    return h.detach(), [x.grad.clone() for x in leaves]


def lengths_mask(lengths, T):
    return torch.arange(T)[None] < torch.tensor(lengths)[:, None]


def pool_padded(pre_f, pre_b, mask, quantize, zoneout):
    """qrnn_pool on the valid rows of padded [B, T, 3H] inputs -> padded [B, T, 2H] (zeros at t >= L)."""
    packing = Packing.of(mask)
    return packing.unpack(qrnn_pool(packing.pack(pre_f), packing.pack(pre_b), packing, quantize, zoneout))


CASES = [  # B, T, H, lengths
    (5, 7, 3, [7, 1, 4, 6, 2]),
    (3, 1, 5, [1, 1, 1]),
    (4, 11, 9, [11, 11, 3, 8]),
    (2, 6, 32, [6, 5]),
]


@pytest.mark.parametrize("quantize", [True, False])
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("zoneout", [0.0, 0.3])
def test_layer_pooling_matches_step_by_step_reference(quantize, case, zoneout, backend):
    B, T, H, lengths = CASES[case]
    mask = lengths_mask(lengths, T)
    pre_f, pre_b = pre_activations(B, T, H, quantize, case), pre_activations(B, T, H, quantize, 10 + case)
    weight = torch.randn(B, T, 2 * H, generator=torch.Generator().manual_seed(100 + case))

    def new():
        torch.manual_seed(7)          # the same zoneout draws for both: forward direction first
        return pool_padded(pre_f, pre_b, mask, quantize, zoneout)

    def old():
        torch.manual_seed(7)
        keep_f, keep_b = zoneout_draws(mask, H, zoneout)
        return torch.cat([reference_direction(pre_f, mask, False, quantize, keep_f),
                          reference_direction(pre_b, mask, True, quantize, keep_b)], dim=-1)

    h_new, g_new = value_and_grads(new, [pre_f, pre_b], weight)
    h_old, g_old = value_and_grads(old, [pre_f, pre_b], weight)
    assert torch.equal(h_new, h_old)
    assert (h_new[~mask] == 0).all() and h_new.abs().sum() > 0
    if quantize:
        assert torch.equal(h_new, torch.round(h_new))
    for a, b in zip(g_new, g_old):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_zoneout_keeps_the_state_where_drawn(backend):
    """With zoneout ~1 every f is 128: the state never moves from 0, so every h is 0; with 0 the
    output is the plain pooling."""
    pre = pre_activations(3, 5, 4, True, 0)
    mask = lengths_mask([5, 3, 1], 5)
    assert (pool_padded(pre, pre, mask, True, 0.999999) == 0).all()
    assert pool_padded(pre, pre, mask, True, 0.0).abs().sum() > 0


@pytest.mark.parametrize("quantize", [True, False])
def test_padding_values_do_not_leak_into_valid_positions(quantize, backend):
    """Whatever the pre-activations hold at t >= L, the valid outputs and their gradients are
    unchanged, and padded positions get no gradient (the backward direction starts at L-1)."""
    B, T, H = 3, 6, 4
    mask = lengths_mask([6, 2, 4], T)
    pre = pre_activations(B, T, H, quantize, 3).detach()
    noisy = torch.where(mask[..., None], pre, torch.full_like(pre, 99.0 if not quantize else 127.0))
    outs = []
    for p in (pre, noisy):
        leaf = p.clone().requires_grad_(True)
        h = pool_padded(leaf, leaf, mask, quantize, 0.0)
        (h * torch.arange(1.0, 2 * H + 1)).sum().backward()
        outs.append((h.detach(), leaf.grad))
    assert torch.equal(outs[0][0], outs[1][0])
    assert torch.equal(outs[0][1][mask], outs[1][1][mask])
    assert (outs[0][1][~mask] == 0).all() and (outs[1][1][~mask] == 0).all()


def test_gradcheck_in_float_mode():
    """The hand-written backward is the derivative of the float-mode pooling (float64 gradcheck)."""
    mask = lengths_mask([5, 3], 5)
    g = torch.Generator().manual_seed(0)
    pre_f = (torch.randn(2, 5, 9, generator=g, dtype=torch.float64) * 20).requires_grad_(True)
    pre_b = (torch.randn(2, 5, 9, generator=g, dtype=torch.float64) * 20).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: pool_padded(a, b, mask, False, 0.0), (pre_f, pre_b))


@pytest.mark.parametrize("k, lengths", [(3, [7, 3, 1]), (2, [1]), (3, [2, 1]), (4, [9, 9, 4])])
def test_windows_match_the_padded_copies(k, lengths):
    """Windows on packed rows equal the former padded windows at the valid positions (the encoder's
    rows t >= L are zero), and the gradients of the valid rows agree (the former windows also sent
    gradient to the zero rows t >= L, which lead nowhere)."""
    T, D = max(lengths), 5
    mask = lengths_mask(lengths, T)
    packing = Packing.of(mask)
    u = (torch.randn(len(lengths), T, D) * mask[..., None]).requires_grad_(True)
    g_f, g_b = torch.randn(packing.n, k * D), torch.randn(packing.n, k * D)
    new_f, new_b = windows(packing.pack(u), k, packing)
    old_f, old_b = packing.pack(reference_window(u, k, False)), packing.pack(reference_window(u, k, True))
    assert torch.equal(new_f, old_f) and torch.equal(new_b, old_b)
    (grad_new,) = torch.autograd.grad((new_f * g_f).sum() + (new_b * g_b).sum(), u)
    (grad_old,) = torch.autograd.grad((old_f * g_f).sum() + (old_b * g_b).sum(), u)
    torch.testing.assert_close(grad_new[mask], grad_old[mask], rtol=1e-6, atol=1e-6)
    assert (grad_new[~mask] == 0).all()


@pytest.mark.parametrize("quantize", [True, False])
def test_layer_matches_the_former_composition(quantize, backend):
    """A pQRNN layer (windows, both gate layers, pooling) equals, in values and gradients, the former
    per-direction composition of padded windows, the gate layer and step-by-step pooling."""
    torch.manual_seed(0)
    layer = QRNNLayer(6, 5, 3, zoneout=0.2)
    for d in (layer.fwd, layer.bwd):
        d.gates.quantize = quantize
    mask = lengths_mask([7, 4, 1], 7)
    u = (torch.randint(0, 128, (3, 7, 6)).float() * mask[..., None]).requires_grad_(True)
    scale = torch.tensor(0.05)
    weight = torch.randn(3, 7, 10)
    params = [u, *layer.parameters()]

    def old():
        torch.manual_seed(5)
        keeps = zoneout_draws(mask, 5, 0.2)
        return torch.cat([reference_direction(d.gates(reference_window(u, 3, d.backward), scale), mask, d.backward,
                                              quantize, keep) for d, keep in zip((layer.fwd, layer.bwd), keeps)], dim=-1)

    def new():
        torch.manual_seed(5)
        packing = Packing.of(mask)
        return packing.unpack(layer(packing.pack(u), scale, packing))

    h_new, g_new = value_and_grads(new, params, weight)
    h_old, g_old = value_and_grads(old, params, weight)
    assert torch.equal(h_new, h_old) and h_new.abs().sum() > 0
    # u's rows t >= L are zero in the model (the gradient the former windows sent there leads nowhere)
    torch.testing.assert_close(g_new[0][mask], g_old[0][mask], rtol=1e-5, atol=1e-5)
    for a, b in zip(g_new[1:], g_old[1:]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_kernel_and_torch_code_agree_bit_for_bit_at_model_size(monkeypatch):
    """At the `small` config's sizes, with zoneout: the C kernel's values and gradients are the
    torch code's exactly (the same float32 operations in the same order)."""
    B, T, H = 16, 13, 64
    mask = lengths_mask([13, 1, 7, 12, 5, 13, 2, 9, 11, 3, 13, 4, 6, 8, 10, 13], T)
    pre_f, pre_b = pre_activations(B, T, H, True, 21), pre_activations(B, T, H, True, 22)
    weight = torch.randn(B, T, 2 * H, generator=torch.Generator().manual_seed(23))
    lib = qrnn_kernel.load()
    results = []
    for use in (lib, None):
        monkeypatch.setitem(qrnn_kernel._LOADED, "lib", use)
        torch.manual_seed(1)
        results.append(value_and_grads(lambda: pool_padded(pre_f, pre_b, mask, True, 0.05), [pre_f, pre_b], weight))
    (h_c, g_c), (h_t, g_t) = results
    assert torch.equal(h_c, h_t) and all(torch.equal(a, b) for a, b in zip(g_c, g_t))


def test_kernel_falls_back_to_torch_without_a_compiler(monkeypatch):
    monkeypatch.delitem(qrnn_kernel._LOADED, "lib", raising=False)
    monkeypatch.setenv("CC", "no-such-compiler-pqcompile")
    with pytest.warns(UserWarning, match="using the slower torch code"):
        assert qrnn_kernel.load() is None
    pre = pre_activations(2, 4, 3, True, 0)
    assert pool_padded(pre, pre, lengths_mask([4, 2], 4), True, 0.0).shape == (2, 4, 6)


# -- the whole model: packed rows against the former padded encoder ----------------------------------

def reference_forward_int(model, features, mask):
    """The former PQRNN.forward_int: the encoder on the padded grid (padded windows, per-direction
    gate layers, step-by-step pooling), then the same attention and heads."""
    from pqcompile.quant.qat import q_exp

    mask = mask.bool()
    Tv = int(mask.sum(dim=1).max())
    x, mv = features[:, :Tv].float(), mask[:, :Tv]
    one, q7 = torch.ones(()), torch.full((), 1.0 / Q7)
    y = model.bottleneck(x, one, mv) * mv[..., None]
    scale = model.bottleneck.out_scale()
    for layer in model.layers:
        keeps = zoneout_draws(mv, layer.fwd.hidden, layer.zoneout if model.training else 0.0)
        y = torch.cat([reference_direction(d.gates(reference_window(y, d.kernel_width, d.backward), scale), mv,
                                           d.backward, model.quantize, keep)
                       for d, keep in zip((layer.fwd, layer.bwd), keeps)], -1)
        scale = q7
    E = F.pad(y, (0, 0, 0, mask.shape[1] - Tv))
    score = model.attention(E, q7)[..., 0]
    m = torch.where(mask, score, torch.full_like(score, -128.0)).amax(dim=1, keepdim=True).detach()
    e = torch.where(mask, q_exp(score - m, model.quantize), torch.zeros_like(score))
    pooled = torch.einsum("bt,btc->bc", e.double(), E.double()).float() / e.sum(dim=1, keepdim=True)
    if model.quantize:
        pooled = torch.clamp(round_half_up(pooled), -127, 127)
    return {"intent": model.intent(pooled, q7), "slot": model.slot(E, q7, mask), "encoder": E}


@pytest.mark.parametrize("quantize", [True, False])
def test_model_matches_the_former_padded_encoder(quantize, backend):
    """PQRNN.forward_int (packed rows, fused pooling) against the former padded computation: the
    same outputs at every position (equal with QAT on; to float rounding with it off, as BLAS may
    sum the packed and the padded matrices in another order on another CPU), and gradients of every parameter that agree, in training mode
    with zoneout (the same draws) and QAT on or off."""
    from pqcompile.model import build_model, make_batch
    from pqcompile.projection import ProjectionSpec

    spec = ProjectionSpec(feature_size=64, max_tokens=12)
    texts = ["wake me up at seven", "call mom", "what is the weather in Paris tomorrow", "x",
             "set a timer for ten minutes please", "play jazz"]
    torch.manual_seed(0)
    model = build_model("pqrnn", "tiny", {"bottleneck": 12, "hidden": 7, "layers": 2, "kernel_width": 3,
                                          "zoneout": 0.3}, 4, 5, spec=spec)
    batch = make_batch(texts, spec)
    model.train()
    model.forward_int(batch.features, batch.mask)        # measure the activation ranges once
    model.set_quantize(quantize)
    weights = {"intent": torch.randn(len(texts), 4), "slot": torch.randn(len(texts), spec.max_tokens, 5)}
    params = list(model.parameters())
    results = []
    for fn in (model.forward_int, lambda f, m: reference_forward_int(model, f, m)):
        ranges = [r.clone() for r in model.buffers()]
        torch.manual_seed(3)
        out = fn(batch.features, batch.mask)
        loss = sum((out[k] * w).sum() for k, w in weights.items())
        grads = torch.autograd.grad(loss, params)
        results.append(({k: out[k].detach() for k in ("intent", "slot", "encoder")}, grads))
        for buf, saved in zip(model.buffers(), ranges):
            buf.copy_(saved)                                  # both see the same activation ranges
    (out_new, g_new), (out_old, g_old) = results
    for k in out_old:
        if quantize:   # integer-domain values: equal
            assert torch.equal(out_new[k], out_old[k]), k
        else:          # float: BLAS may sum a packed and a padded matrix in another order (CPU-dependent)
            torch.testing.assert_close(out_new[k], out_old[k], rtol=1e-5, atol=1e-5 * float(out_old[k].abs().max()),
                                       msg=k)
    assert out_new["encoder"].abs().sum() > 0
    # Each layer's (weight, bias) gradients agree up to float32 rounding of sums of that layer's
    # terms (the attention bias's true gradient is ~0: the softmax ignores a common shift, so only
    # rounding noise of terms the size of its weight's gradient is left there).
    assert len(g_new) % 2 == 0 and sum(float(g.abs().sum()) for g in g_new) > 0
    for i in range(0, len(g_new), 2):
        scale = max(float(g_old[i].abs().max()), float(g_old[i + 1].abs().max()))
        for a, b in ((g_new[i], g_old[i]), (g_new[i + 1], g_old[i + 1])):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * scale)

"""The TVM-generated C (built for this machine) equals onnxruntime and the integer reference bit
for bit; bad graphs fail with one clear PqError. TVM is imported and run once per model here."""
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from pqcompile.errors import PqError
from pqcompile.export import build_onnx
from pqcompile.projection import DEFAULT_SPEC, project
from pqcompile.quant.integer_reference import run_integer
from pqcompile.quant.qmodel import random_quantized_model

import pqcompile.compiler as compiler
from pqcompile.compiler.host import HostModel
from pqcompile.compiler.requant import REQUANT_C

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8)
MODELS = {  # name -> (spec, random_quantized_model kwargs)
    "k2x2": (SPEC, dict(bottleneck=12, hidden=8, n_layers=2, kernel_width=2, seed=11)),
    "k3x1": (SPEC, dict(bottleneck=10, hidden=5, n_layers=1, kernel_width=3, seed=12)),
    "k1x2-t12": (DEFAULT_SPEC.replace(feature_size=96, max_tokens=12),
                 dict(bottleneck=16, hidden=6, n_layers=2, kernel_width=1, n_intents=9, n_slot_tags=11, seed=13)),
    # a width per layer; an odd bottleneck (13: padded to 14 channels, its masked epilogue predicated)
    "k3-1": (SPEC, dict(bottleneck=13, hidden=7, n_layers=2, kernel_width=[3, 1], seed=14)),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def compiled(request):
    spec, kw = MODELS[request.param]
    qm = random_quantized_model(spec, **kw)
    model = build_onnx(qm)
    cm = compiler.compile_onnx(model)
    host = HostModel(cm.files, cm.max_tokens, cm.feature_size, cm.n_intents, cm.n_slots)
    return qm, model, cm, host


def random_inputs(rng, n, T, F):
    lengths = rng.integers(1, T + 1, n).astype(np.int32)
    lengths[:2] = [1, T]
    feats = rng.integers(-1, 2, (n, T, F)).astype(np.int8)
    feats[np.arange(T)[None, :] >= lengths[:, None]] = 0
    return feats, lengths


def test_generated_c_equals_onnxruntime_and_reference(compiled):
    qm, model, cm, host = compiled
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feats, lengths = random_inputs(np.random.default_rng(1), 40, cm.max_tokens, cm.feature_size)
    texts = ["turn the lights off in the kitchen", "", "ça va? 😀", "x " * 30]
    p = project(texts, qm.spec)
    feats = np.concatenate([feats, p.features])
    lengths = np.concatenate([lengths, p.lengths.astype(np.int32)])
    ref = run_integer(qm, feats, lengths)
    for i in range(len(lengths)):
        n = lengths[i]
        c_intent, c_slots = host.run(feats[i], n)
        o_intent, o_slots = sess.run(None, {"features": feats[i:i + 1], "length": lengths[i:i + 1]})
        np.testing.assert_array_equal(o_intent[0], ref.intent_logits[i])
        np.testing.assert_array_equal(o_slots[0], ref.slot_logits[i])      # all T rows
        np.testing.assert_array_equal(c_intent, ref.intent_logits[i])
        np.testing.assert_array_equal(c_slots[:n], ref.slot_logits[i][:n])  # the valid rows (model_run's result)


def assert_every_length_exact(qm, cm, host, seed: int) -> None:
    """For every length 1..T (random features): the host C equals the integer reference, and the
    slot rows past length + halo are never written (they keep the fill -77)."""
    rng = np.random.default_rng(seed)
    T = cm.max_tokens
    for n in range(1, T + 1):
        x = rng.integers(-1, 2, (T, cm.feature_size)).astype(np.int8)
        x[n:] = 0
        ref = run_integer(qm, x[None], np.array([n], np.int32))
        intent, slots = host.run(x, n, fill=-77)
        np.testing.assert_array_equal(intent, ref.intent_logits[0])
        np.testing.assert_array_equal(slots[:n], ref.slot_logits[0][:n])
        rows = min(T, n + cm.row_halo)
        assert (slots[rows:] == -77).all() and not (slots[:rows] == -77).all()


def test_network_stops_at_the_utterance_length(compiled):
    """Bit-exact for every length 1..T, and the slot rows past length + halo are never written:
    the kernels' token loops stop there (rows.py)."""
    qm, _, cm, host = compiled
    T = cm.max_tokens
    assert cm.row_halo == max(l.kernel_width for l in qm.layers) - 1
    assert_every_length_exact(qm, cm, host, seed=5)
    # lengths out of range are clamped to 1..T
    x = np.zeros((T, cm.feature_size), np.int8)
    for n, clamped in ((0, 1), (-5, 1), (T + 3, T)):
        ref = run_integer(qm, x[None], np.array([clamped], np.int32))
        intent, slots = host.run(x, n)
        np.testing.assert_array_equal(intent, ref.intent_logits[0])
        np.testing.assert_array_equal(slots[:clamped], ref.slot_logits[0][:clamped])


def test_generated_c_is_runtime_free_and_static(compiled):
    qm, _, cm, _ = compiled
    kernels, driver = cm.files["pq_kernels.c"], cm.files["pq_model.c"]
    for forbidden in ("TVMFFI", "TVMBackend", "tvm/runtime", "malloc", "__tvm_ffi_main"):
        assert forbidden not in kernels and forbidden not in driver
    assert "void model_run(const int8_t *features, int32_t length, int8_t *intent, int8_t *slots)" in driver
    # every matmul's reduction is one call of an int8 dot-product micro-kernel (dot_intrin.py)
    matmul_kernels = re.findall(r"^TVM_DLL void pq_k\d+_NT_matmul\w*\((.*)\{$", kernels, re.M)
    calls = {n: kernels.count(f"pq_dot{n}_s8((&(") for n in ("", "2", "4", "n", "2r", "1r")}
    assert len(matmul_kernels) >= 4 and sum(calls.values()) == len(matmul_kernels)
    # matmuls over the token rows (bottleneck, gates, attention score, slot head) take the row
    # kernels: channels in pairs (an odd count > 1 padded with a zero channel by the importer: the
    # slot head, the gates of hidden 5 and 7, a bottleneck of 13), the one attention score alone;
    # the intent head (one pooled row, 5 or 9 intents) the whole-row kernel
    row_matmuls = 0
    for body in re.split(r"^TVM_DLL void ", kernels, flags=re.M):
        head = body.split("\n")[0]   # definitions only (their line ends with "{"), not prototypes
        if re.match(r"pq_k\d+_NT_matmul", head) and head.endswith("int32_t rows) {"):
            assert "pq_dot2r_s8(" in body or "pq_dot1r_s8(" in body, body[:80]
            row_matmuls += 1
    assert row_matmuls == len(matmul_kernels) - 1 >= 3 + len(qm.layers) - 1
    # one gate kernel per layer (fwd and bwd share it)
    assert calls["2r"] == 2 + len(qm.layers) and calls["1r"] == 1
    assert calls["n"] == 1 and calls[""] + calls["2"] + calls["4"] == 0
    assert qm.slot.n_out % 2 and "__smlad" in kernels
    # the padded matmuls: a zero channel in flash, its outputs never stored (the epilogue of the
    # last channel pair is predicated), the slot logits' row stride the real channel count
    odd = [q for q in [qm.bottleneck, qm.slot] + [q for l in qm.layers for q in (l.fwd, l.bwd)] if q.n_out % 2]
    assert any(q is qm.slot for q in odd) and len(odd) >= 1 + (qm.layers[0].hidden % 2) * 2 * len(qm.layers)
    for q in odd:
        assert re.search(rf"if \(\w+ < {q.n_out // 2}\) {{", kernels)
    assert re.search(rf"\* {qm.slot.n_out}\)", kernels)
    # every requantisation's floor, clamp and conversion is one pq_floor_clamp (requant.py): the
    # bottleneck, one gate kernel per layer, attention score, pooling, intent and slot heads
    generated = kernels.split(REQUANT_C, 1)[1]
    assert "floorf(" not in generated
    definitions = [b for b in re.split(r"^TVM_DLL void ", generated, flags=re.M) if b.split("\n")[0].endswith("{")]
    assert sum("pq_floor_clamp(" in b for b in definitions) == 5 + len(qm.layers)
    # every matmul and recurrence kernel runs to the utterance's rows, with 32-bit loop counters
    assert driver.count("rows)") >= 2 + 4 * len(qm.layers) and "int64_t" not in kernels
    # every recurrence direction is one fo-pool kernel call
    assert driver.count("fo_pool_fwd") - 1 == len(qm.layers) == driver.count("fo_pool_bwd") - 1
    # int8 weights stay int8 in flash (no int32/float copies of weight matrices)
    weight_bytes = sum(q.weight.nbytes for q in [qm.bottleneck, qm.attention, qm.intent, qm.slot])
    weight_bytes += sum(l.fwd.weight.nbytes + l.bwd.weight.nbytes for l in qm.layers)
    padding = sum(q.weight.shape[0] for q in odd)   # a zero channel of K weights per padded matrix
    assert cm.const_bytes < qm.n_weight_bytes() + padding + 4096
    assert cm.const_bytes >= weight_bytes + padding
    assert cm.macs == qm.n_macs()      # the weight matrices' MACs, as `export` reports them
    # the arena is smaller than keeping every intermediate tensor
    assert 0 < cm.arena_bytes < 4 * qm.max_tokens * (qm.bottleneck.n_out + 6 * max(l.hidden for l in qm.layers)) * 4


def _tiny_model():
    return build_onnx(random_quantized_model(SPEC, bottleneck=4, hidden=2, n_layers=1, seed=3))


def test_a_scale_that_is_not_finite_is_refused():
    """pq_floor_clamp assumes no NaN: the compiler refuses a graph whose scales are not all finite."""
    qm = random_quantized_model(SPEC, bottleneck=4, hidden=2, n_layers=1, seed=3)
    qm.slot.scale[1] = np.nan
    with pytest.raises(PqError, match="not finite"):
        compiler.compile_onnx(build_onnx(qm))


def test_unsupported_op_is_named():
    model = _tiny_model()
    node = next(n for n in model.graph.node if n.op_type == "Floor")
    node.op_type = "Round"
    with pytest.raises(PqError, match="unsupported operator Round"):
        compiler.compile_onnx(model)


def test_dynamic_shape_is_rejected():
    model = _tiny_model()
    dim = model.graph.input[0].type.tensor_type.shape.dim[1]
    dim.Clear()
    dim.dim_param = "T"
    with pytest.raises(PqError, match="dynamic dimension 'T'"):
        compiler.compile_onnx(model)


def test_foreign_scan_is_rejected():
    model = _tiny_model()
    scan = next(n for n in model.graph.node if n.op_type == "Scan")
    body = next(a.g for a in scan.attribute if a.name == "body")
    next(n for n in body.node if n.op_type == "Where").op_type = "Max"
    with pytest.raises(PqError, match="not an fo-pooling recurrence"):
        compiler.compile_onnx(model)


def test_a_gather_with_negative_indices_reads_inside_its_table():
    """ONNX Gather counts negative indices from the end (onnxruntime does): a foreign graph that
    indexes the softmax's exp table with index - 256 must compute the same as before, never read
    outside the table."""
    model = _tiny_model()
    gather = next(n for n in model.graph.node if n.op_type == "Gather")
    table = next(i for i in model.graph.initializer if i.name == gather.input[0])
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(table.dims[0], dtype=np.int32), "n_table"))
    model.graph.node.insert(list(model.graph.node).index(gather),
                            helper.make_node("Sub", [gather.input[1], "n_table"], ["negative_index"]))
    gather.input[1] = "negative_index"
    onnx.checker.check_model(model)
    cm = compiler.compile_onnx(model)
    host = HostModel(cm.files, cm.max_tokens, cm.feature_size, cm.n_intents, cm.n_slots)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feats, lengths = random_inputs(np.random.default_rng(4), 12, cm.max_tokens, cm.feature_size)
    for i in range(len(lengths)):
        c_intent, c_slots = host.run(feats[i], lengths[i])
        o_intent, o_slots = sess.run(None, {"features": feats[i:i + 1], "length": lengths[i:i + 1]})
        np.testing.assert_array_equal(c_intent, o_intent[0])
        np.testing.assert_array_equal(c_slots[:lengths[i]], o_slots[0][:lengths[i]])


def test_corrupt_and_missing_onnx_files(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(_tiny_model().SerializeToString()[:200] + b"\xff" * 50)
    with pytest.raises(PqError, match="bad.onnx"):
        compiler.load_onnx(bad)
    with pytest.raises(PqError, match="no such ONNX file"):
        compiler.load_onnx(tmp_path / "missing.onnx")
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    with pytest.raises(PqError, match="graph input 'x'|unexpected graph input"):
        compiler.compile_onnx(helper.make_model(graph))


def test_arena_by_layer_accounts_every_layer(compiled):
    qm, _, cm, _ = compiled
    layers = {"bottleneck", "attention", "intent", "slot"}
    layers |= {f"qrnn{i}.{d}" for i in range(len(qm.layers)) for d in ("fwd", "bwd")}
    assert layers <= set(cm.arena_by_layer)
    # each layer's live bytes fit in the planned arena, and the widest layer needs a real share of it
    assert all(0 < v <= cm.arena_bytes for k, v in cm.arena_by_layer.items() if k in layers)
    assert max(cm.arena_by_layer.values()) >= cm.arena_bytes // 4
    # the bottleneck's own output (int8 [T, B]) is live while it runs
    assert cm.arena_by_layer["bottleneck"] >= qm.max_tokens * qm.bottleneck.n_out


@pytest.mark.parametrize("kw", [dict(bottleneck=12, hidden=8, n_layers=2, kernel_width=2, seed=11),
                                dict(bottleneck=10, hidden=7, n_layers=2, kernel_width=[3, 1], seed=14)])
def test_int16_weights_are_preextended_and_bit_exact(kw):
    """compile_onnx(int16_weights=True): the matmuls over the token rows with more than one output
    channel (bottleneck, gates, slot head; an odd count padded with a zero channel) call
    pq_dot2rw_s8 on constants rewritten by preextend_pairs (2 bytes per weight), the others keep
    int8; the host C equals the integer reference for every length (depths 10, 30, 14, 24: every
    4-deep tail; hidden 7: odd gate counts)."""
    from pqcompile.compiler.dot_intrin import preextend_pairs
    qm = random_quantized_model(SPEC, **kw)
    plain = compiler.compile_onnx(build_onnx(qm))
    cm = compiler.compile_onnx(build_onnx(qm), int16_weights=True)
    kernels, driver = cm.files["pq_kernels.c"], cm.files["pq_model.c"]
    assert cm.int16_weights and kernels.count("pq_dot2rw_s8((&(") == 2 + len(qm.layers)
    assert kernels.count("pq_dot2r_s8((&(") == 0 and kernels.count("pq_dot1r_s8((&(") == 1   # attention score
    wide = [qm.bottleneck, qm.slot] + [q for l in qm.layers for q in (l.fwd, l.bwd)]

    def padded(q):   # [N, K], output channels first, a zero channel appended to an odd count
        wt = np.ascontiguousarray(q.weight.T).astype(np.int8)
        return np.concatenate([wt, np.zeros((wt.shape[0] % 2, wt.shape[1]), np.int8)])

    for q in wide:   # the constant in flash is the pre-extended matrix
        words = preextend_pairs(padded(q))
        assert ", ".join(map(str, words[:20])) in driver
        assert len(words) * 4 >= 2 * q.weight.size
    grown = sum(len(preextend_pairs(padded(q))) * 4 - padded(q).size for q in wide)
    assert cm.const_bytes == plain.const_bytes + grown
    host = HostModel(cm.files, cm.max_tokens, cm.feature_size, cm.n_intents, cm.n_slots)
    assert_every_length_exact(qm, cm, host, seed=9)


def test_a_one_row_matmul_takes_the_whole_row_kernel():
    """The intent head (one pooled row) is one pq_dotn_s8 call also when 4 divides its channel count
    (8 and 16 intents: no pq_dot4_s8 groups), bit-exact at every length."""
    for n_intents in (8, 16):
        qm = random_quantized_model(SPEC, bottleneck=12, hidden=5, n_layers=1, kernel_width=2, n_intents=n_intents,
                                    seed=16)
        cm = compiler.compile_onnx(build_onnx(qm))
        kernels = cm.files["pq_kernels.c"]
        assert kernels.count("pq_dotn_s8((&(") == 1 and kernels.count("pq_dot4_s8((&(") == 0
        assert re.search(rf"pq_dotn_s8\(.*, {2 * 5}, {n_intents}\);", kernels)
        host = HostModel(cm.files, cm.max_tokens, cm.feature_size, cm.n_intents, cm.n_slots)
        assert_every_length_exact(qm, cm, host, seed=n_intents)


def test_a_matmul_the_row_kernels_do_not_take_falls_back_to_the_row_by_row_kernels(monkeypatch):
    """When use_dot_kernel cannot turn a block scheduled for a row kernel into a call (simulated
    here: its matcher refuses every block), the kernel is scheduled again without row kernels:
    one token row per call, as before them, still bit-exact."""
    import pqcompile.compiler.dot_intrin as dot_intrin
    monkeypatch.setattr(dot_intrin, "_row_dot_stmt", lambda block, int16_weights=False, packed=frozenset(), gemm=False: None)
    qm = random_quantized_model(SPEC, bottleneck=12, hidden=8, n_layers=1, kernel_width=2, seed=15)
    cm = compiler.compile_onnx(build_onnx(qm))
    kernels = cm.files["pq_kernels.c"]
    assert not re.search(r"pq_dot\d?r\w*_s8\(\(&\(", kernels)
    assert kernels.count("pq_dot4_s8((&(") >= 2 and kernels.count("pq_dotn_s8((&(") >= 1
    host = HostModel(cm.files, cm.max_tokens, cm.feature_size, cm.n_intents, cm.n_slots)
    feats, lengths = random_inputs(np.random.default_rng(3), 12, cm.max_tokens, cm.feature_size)
    ref = run_integer(qm, feats, lengths)
    for i in range(len(lengths)):
        intent, slots = host.run(feats[i], lengths[i])
        np.testing.assert_array_equal(intent, ref.intent_logits[i])
        np.testing.assert_array_equal(slots[:lengths[i]], ref.slot_logits[i][:lengths[i]])

"""Model registry: named configs per model kind, construction, parameter counts, and the model
config dict stored in a run's config.json (enough to rebuild the model before loading weights)."""
from __future__ import annotations

from torch import nn

from ..errors import PqError
from ..projection import ProjectionSpec
from .baselines import BiLSTMConfig, BiLSTMTagger, TransformerConfig, TransformerTagger
from .pqrnn import PQRNN, PQRNNConfig

KINDS = {"pqrnn": (PQRNNConfig, PQRNN), "bilstm": (BiLSTMConfig, BiLSTMTagger),
         "transformer": (TransformerConfig, TransformerTagger)}

# Named sizes (overrides of each config class's defaults). pqrnn base = the paper's sample
# settings (bottleneck 128, state 128 per direction, 3 layers, kernel 3, 512 features). The
# transformers are sized to about the same-named pQRNN's parameter count (for 100 intents and
# 150 slot tags); the BiLSTMs' size is dominated by their vocabulary.
CONFIGS: dict[str, dict[str, dict]] = {
    "pqrnn": {
        "tiny": {"feature_size": 128, "bottleneck": 32, "hidden": 32, "layers": 1, "kernel_width": 2},
        "small": {"feature_size": 256, "bottleneck": 64, "hidden": 64, "layers": 2, "kernel_width": 3},
        "base": {"feature_size": 512, "bottleneck": 128, "hidden": 128, "layers": 3, "kernel_width": 3},
    },
    "bilstm": {
        "tiny": {"embedding": 32, "hidden": 32},
        "small": {"embedding": 64, "hidden": 64},
        "base": {"embedding": 128, "hidden": 128},
    },
    "transformer": {
        "tiny": {"feature_size": 128, "d_model": 40, "heads": 2, "ff": 96, "layers": 1},
        "small": {"feature_size": 256, "d_model": 96, "heads": 4, "ff": 192, "layers": 3},
        "base": {"feature_size": 512, "d_model": 192, "heads": 4, "ff": 512, "layers": 4},
    },
}


def config_for(kind: str, config_name: str, overrides: dict | None = None):
    """The config object of a named size with overrides applied (unknown names -> PqError)."""
    if kind not in KINDS:
        raise PqError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    if config_name not in CONFIGS[kind]:
        raise PqError(f"unknown {kind} config {config_name!r} (known: {', '.join(CONFIGS[kind])})")
    cls = KINDS[kind][0]
    values = {**CONFIGS[kind][config_name], **(overrides or {})}
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise PqError(f"unknown {kind} config option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return cls(**values)


def default_spec(kind: str, config_name: str, overrides: dict | None = None) -> ProjectionSpec:
    """The projection spec a named config is meant for (its feature_size; defaults otherwise)."""
    cfg = config_for(kind, config_name, overrides)
    return ProjectionSpec(feature_size=getattr(cfg, "feature_size", ProjectionSpec().feature_size))


def build_model(kind: str, config_name: str, overrides: dict | None, n_intents: int, n_slot_tags: int,
                spec: ProjectionSpec | None = None, vocab: list[str] | None = None) -> nn.Module:
    """A freshly initialised model. The spec, when given, wins over the config's feature_size
    (and the transformer's max_tokens); `vocab` (from baselines.build_vocab) is needed by bilstm."""
    if n_intents < 1 or n_slot_tags < 1:
        raise PqError(f"a model needs at least one intent and one slot tag, got {n_intents} and {n_slot_tags}")
    overrides = dict(overrides or {})
    fields = KINDS.get(kind, (PQRNNConfig,))[0].__dataclass_fields__
    if spec is not None and "feature_size" in fields:
        overrides["feature_size"] = spec.feature_size
    if spec is not None and "max_tokens" in fields:
        overrides["max_tokens"] = spec.max_tokens
    if vocab is not None and "vocab" in fields:
        overrides["vocab"] = list(vocab)
    cfg = config_for(kind, config_name, overrides)
    model = KINDS[kind][1](cfg, n_intents, n_slot_tags)
    model.config_name = config_name
    return model


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def model_config(model: nn.Module) -> dict:
    """JSON-able description that `model_from_config` turns back into the same architecture."""
    return {"kind": model.kind, "config_name": getattr(model, "config_name", None),
            "config": model.config.to_dict(), "n_intents": model.n_intents, "n_slot_tags": model.n_slot_tags}


def model_from_config(d: dict) -> nn.Module:
    """Rebuild a model (fresh weights; load the state dict afterwards) from `model_config` output."""
    try:
        kind, cfg = d["kind"], d["config"]
        n_intents, n_slot_tags = int(d["n_intents"]), int(d["n_slot_tags"])
    except (KeyError, TypeError, ValueError) as e:
        raise PqError(f"model config is malformed: {e}") from None
    if kind not in KINDS:
        raise PqError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    cls = KINDS[kind][0]
    unknown = sorted(set(cfg) - set(cls.__dataclass_fields__))
    if unknown:
        raise PqError(f"unknown {kind} config option(s) in model config: {', '.join(unknown)}")
    model = KINDS[kind][1](cls(**cfg), n_intents, n_slot_tags)
    model.config_name = d.get("config_name")
    return model


def parameter_table(n_intents: int = 100, n_slot_tags: int = 150, vocab_size: int = 10000) -> list[dict]:
    """Parameter counts of every named config (bilstm with a vocabulary of vocab_size words)."""
    vocab = ["<pad>", "<unk>"] + [f"w{i}" for i in range(vocab_size - 2)]
    rows = []
    for kind, names in CONFIGS.items():
        for name in names:
            model = build_model(kind, name, None, n_intents, n_slot_tags, vocab=vocab)
            row = {"kind": kind, "config": name, "parameters": count_parameters(model)}
            if kind == "pqrnn":
                row["feature_size"] = model.config.feature_size
            rows.append(row)
    return rows

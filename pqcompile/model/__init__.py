"""Student models: the pQRNN (QAT-ready, convertible to the integer model) and the BiLSTM and
transformer baselines, all with `forward(batch) -> (intent logits, slot logits)`."""
from .batch import Batch, batch_from_projection, make_batch, token_strings
from .baselines import BiLSTMTagger, TransformerTagger, build_vocab
from .pqrnn import PQRNN, PQRNNConfig
from .registry import (CONFIGS, build_model, config_for, count_parameters, default_spec, model_config,
                       model_from_config, parameter_table)

__all__ = ["Batch", "batch_from_projection", "make_batch", "token_strings", "BiLSTMTagger",
           "TransformerTagger", "build_vocab", "PQRNN", "PQRNNConfig", "CONFIGS", "build_model",
           "config_for", "count_parameters", "default_spec", "model_config", "model_from_config",
           "parameter_table"]

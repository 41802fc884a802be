"""The classic SLU baseline: a CRF slot tagger (python-crfsuite) and a TF-IDF logistic-regression
intent classifier (scikit-learn), on the projection's own tokens, scored like the students.

What a user would otherwise pick, measured on the same footing as the pQRNN students:
  - tokens: `projection.tokenize(text, spec)` with the run's ProjectionSpec; the word a feature
    names is the token's hashed string (lower-cased exactly as the projection does);
  - slot labels: the BIO tags the students train on (`datasets.slot_tags`); a training example
    whose gold frame cannot be represented on the tokens is left out, as the students leave it out;
  - decoding: the CRF's tags go through the students' BIO repair and span rule
    (`train.decode.repair_bio`, `datasets.spans_from_tags`), so a frame means the same thing;
  - metrics: `train.metrics.frame_metrics` (intent accuracy, slot micro-F1, exact match).

Needs the optional extra `pip install 'pqcompile[baselines]'` (python-crfsuite, scikit-learn).
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Sequence

from .datasets import Example, slot_tags, spans_from_tags
from .errors import PqError
from .projection import ProjectionSpec, Token, tokenize
from .train.decode import repair_bio
from .train.metrics import Frame, frame_metrics

INSTALL_HINT = "pip install 'pqcompile[baselines]'"
AFFIX_LENGTHS = (1, 2, 3, 4)
WINDOW = 2          # neighbours on each side whose words are features


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as err:
        raise PqError(f"the classic baseline needs python-crfsuite and scikit-learn "
                      f"({err.name} is not installed): {INSTALL_HINT}") from None


# -- features -----------------------------------------------------------------------------------

def token_word(token: Token) -> str:
    """The word as the projection hashes it (lower-cased per the spec); tags keep their string."""
    return token.hashed.decode("utf-8", "replace")


def word_shape(text: str) -> str:
    """Character classes with repeats collapsed: "Boston" -> "Xx", "5pm" -> "dx", "3:30" -> "d:d"."""
    out = []
    for ch in text:
        c = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


def token_features(tokens: Sequence[Token], i: int) -> list[str]:
    """CRF features of token i: its word, prefixes/suffixes, shape, the words and shapes of its
    neighbours up to WINDOW away (or BOS/EOS past either end), and the word bigrams around it."""
    words = [token_word(t) for t in tokens]
    word, tok = words[i], tokens[i]
    feats = ["bias", f"w={word}", f"shape={word_shape(tok.text)}"]
    if tok.is_tag:
        feats.append("tag")
    feats += [f"p{k}={word[:k]}" for k in AFFIX_LENGTHS if len(word) > k]
    feats += [f"s{k}={word[-k:]}" for k in AFFIX_LENGTHS if len(word) > k]
    if any(ch.isdigit() for ch in word):
        feats.append("has_digit")
    for d in range(1, WINDOW + 1):
        for sign, j in (("-", i - d), ("+", i + d)):
            if 0 <= j < len(tokens):
                feats.append(f"w{sign}{d}={words[j]}")
                if d == 1:
                    feats.append(f"shape{sign}1={word_shape(tokens[j].text)}")
            elif j == -1:
                feats.append(f"w{sign}{d}=BOS")
            elif j == len(tokens):
                feats.append(f"w{sign}{d}=EOS")
    if i == 0:
        feats.append("BOS")
    if i == len(tokens) - 1:
        feats.append("EOS")
    feats.append(f"w-1|w={words[i - 1] if i else 'BOS'}|{word}")
    feats.append(f"w|w+1={word}|{words[i + 1] if i + 1 < len(tokens) else 'EOS'}")
    return feats


def sequence_features(tokens: Sequence[Token]) -> list[list[str]]:
    return [token_features(tokens, i) for i in range(len(tokens))]


def intent_document(tokens: Sequence[Token]) -> str:
    """The text the intent classifier reads: the projection's words, space-joined."""
    return " ".join(token_word(t) for t in tokens if not t.is_tag)


def _word_ngrams(doc: str) -> list[str]:
    words = doc.split(" ") if doc else []
    return words + [f"{a} {b}" for a, b in zip(["<s>", *words], [*words, "</s>"])]


# -- data ---------------------------------------------------------------------------------------

@dataclass
class TaggedSet:
    """Examples with their projection tokens, CRF features and (for training) BIO tags."""

    examples: list[Example]
    tokens: list[list[Token]]
    features: list[list[list[str]]]
    tags: list[list[str]] | None = None
    n_unrepresentable: int = 0

    def __len__(self) -> int:
        return len(self.examples)


def prepare(examples: Sequence[Example], spec: ProjectionSpec, training: bool = False) -> TaggedSet:
    """Tokenise and featurise. training=True also places the gold BIO tags and leaves out (and
    counts) the examples whose gold frame cannot be represented on the projection's tokens."""
    kept, toks, feats, tags, bad = [], [], [], [], 0
    for ex in examples:
        t = tokenize(ex.text, spec)
        if training:
            bio = slot_tags(ex, spec, t)
            if bio is None:
                bad += 1
                continue
            tags.append(bio)
        kept.append(ex)
        toks.append(t)
        feats.append(sequence_features(t))
    return TaggedSet(kept, toks, feats, tags if training else None, bad)


# -- the two models -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CrfSettings:
    c1: float = 0.05            # L1 penalty
    c2: float = 0.05            # L2 penalty
    max_iterations: int = 150   # L-BFGS iterations


@dataclass(frozen=True)
class IntentSettings:
    C: float = 10.0             # inverse L2 strength of the logistic regression
    char_ngrams: tuple[int, int] | None = (2, 5)   # char_wb n-gram range added to word 1-2 grams
    max_iter: int = 2000


@dataclass
class CrfTagger:
    """A trained CRF; model_bytes is crfsuite's model file, the thing a user would ship."""

    model_bytes: bytes
    settings: CrfSettings
    train_seconds: float        # wall clock
    iterations: int
    cpu_seconds: float = 0.0    # this process's CPU time (the honest figure on a shared machine)

    def __post_init__(self) -> None:
        self._tagger = _require("pycrfsuite").Tagger()
        self._tagger.open_inmemory(self.model_bytes)

    def tag(self, features: list[list[str]]) -> list[str]:
        return list(self._tagger.tag(features))


def train_crf(data: TaggedSet, settings: CrfSettings = CrfSettings()) -> CrfTagger:
    """L-BFGS CRF on data's features and tags (data from prepare(..., training=True))."""
    pycrfsuite = _require("pycrfsuite")
    if data.tags is None or not len(data):
        raise PqError("the CRF needs training data with tags (prepare(..., training=True)), and at least one example")
    start, cpu = time.perf_counter(), time.process_time()
    trainer = pycrfsuite.Trainer(algorithm="lbfgs", verbose=False)
    for x, y in zip(data.features, data.tags):
        trainer.append(x, y)
    trainer.set_params({"c1": settings.c1, "c2": settings.c2, "max_iterations": settings.max_iterations,
                        "feature.possible_transitions": True})
    fd, path = tempfile.mkstemp(suffix=".crfsuite")
    os.close(fd)
    try:
        trainer.train(path)
        with open(path, "rb") as f:
            model = f.read()
    finally:
        os.unlink(path)
    iterations = int((trainer.logparser.last_iteration or {}).get("num", 0))
    return CrfTagger(model, settings, time.perf_counter() - start, iterations, time.process_time() - cpu)


@dataclass
class IntentClassifier:
    vectorizers: list
    model: object
    settings: IntentSettings
    train_seconds: float        # wall clock
    cpu_seconds: float = 0.0    # this process's CPU time, all threads

    def _matrix(self, docs: list[str]):
        from scipy.sparse import hstack
        return hstack([v.transform(docs) for v in self.vectorizers]).tocsr()

    def predict(self, docs: list[str]) -> list[str]:
        return [str(x) for x in self.model.predict(self._matrix(docs))]

    @property
    def n_features(self) -> int:
        return sum(len(v.vocabulary_) for v in self.vectorizers)

    def coefficient_bytes(self) -> int:
        """The weights as dense float32: (classes x features + classes) x 4."""
        return 4 * (self.model.coef_.size + self.model.intercept_.size)

    def vocabulary_bytes(self) -> int:
        """What the TF-IDF step needs besides the weights: its terms (UTF-8) and a float32 idf each."""
        return sum(len(term.encode("utf-8")) + 4 for v in self.vectorizers for term in v.vocabulary_)


def train_intent(data: TaggedSet, settings: IntentSettings = IntentSettings()) -> IntentClassifier:
    """TF-IDF (word 1-2 grams of the projection's words, plus char n-grams) + logistic regression."""
    _require("sklearn")
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    if not len(data):
        raise PqError("the intent classifier needs at least one training example")
    intents = [ex.intent for ex in data.examples]
    if len(set(intents)) < 2:
        raise PqError(f"the intent classifier needs at least two intents in its training data (got {intents[0]!r} only)")
    start, cpu = time.perf_counter(), time.process_time()
    docs = [intent_document(t) for t in data.tokens]
    vectorizers = [TfidfVectorizer(analyzer=_word_ngrams, sublinear_tf=True)]
    if settings.char_ngrams:
        vectorizers.append(TfidfVectorizer(analyzer="char_wb", ngram_range=settings.char_ngrams,
                                           sublinear_tf=True, lowercase=False))
    X = hstack([v.fit_transform(docs) for v in vectorizers]).tocsr()
    model = LogisticRegression(C=settings.C, max_iter=settings.max_iter)
    model.fit(X, intents)
    return IntentClassifier(vectorizers, model, settings, time.perf_counter() - start, time.process_time() - cpu)


# -- the joint baseline -------------------------------------------------------------------------

@dataclass
class ClassicBaseline:
    """CRF slots + logistic-regression intent, predicting frames like a student."""

    spec: ProjectionSpec
    crf: CrfTagger
    intent: IntentClassifier
    n_unrepresentable: int = 0
    extra: dict = field(default_factory=dict)

    def predict_prepared(self, data: TaggedSet) -> list[Frame]:
        intents = self.intent.predict([intent_document(t) for t in data.tokens])
        frames = []
        for ex, toks, feats, intent in zip(data.examples, data.tokens, data.features, intents):
            tags = repair_bio(toks, self.crf.tag(feats))
            frames.append(Frame(intent, tuple(spans_from_tags(toks, tags))))
        return frames

    def predict(self, examples: Sequence[Example]) -> list[Frame]:
        return self.predict_prepared(prepare(examples, self.spec))

    def evaluate_prepared(self, data: TaggedSet) -> dict:
        """frame_metrics of this model's frames against data's gold frames (every example counts)."""
        golds = [Frame(ex.intent, tuple(ex.spans)) for ex in data.examples]
        return frame_metrics(golds, self.predict_prepared(data), [ex.lang for ex in data.examples])

    def evaluate(self, examples: Sequence[Example]) -> dict:
        return self.evaluate_prepared(prepare(examples, self.spec))

    def sizes(self) -> dict:
        """Bytes a user would ship: the CRF model file, the LR weights as float32, the TF-IDF terms."""
        crf, coef, vocab = len(self.crf.model_bytes), self.intent.coefficient_bytes(), self.intent.vocabulary_bytes()
        return {"crf_model_file": crf, "lr_coefficients_float32": coef, "tfidf_vocabulary": vocab,
                "lr_features": self.intent.n_features, "total": crf + coef + vocab}

    @property
    def train_seconds(self) -> float:
        return self.crf.train_seconds + self.intent.train_seconds

    @property
    def train_cpu_seconds(self) -> float:
        return self.crf.cpu_seconds + self.intent.cpu_seconds


def train_baseline(examples: Sequence[Example], spec: ProjectionSpec, crf: CrfSettings = CrfSettings(),
                   intent: IntentSettings = IntentSettings()) -> ClassicBaseline:
    """Train both parts on examples (unrepresentable gold frames left out, as for the students)."""
    data = prepare(examples, spec, training=True)
    return ClassicBaseline(spec, train_crf(data, crf), train_intent(data, intent), data.n_unrepresentable)

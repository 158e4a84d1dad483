"""Learned prompt-injection / jailbreak detector: hashed n-gram TF-IDF + logistic regression.

The shipped artifact (``include/filters/models/<name>/``: ``model.json`` + ``weights.npz``,
built by ``scripts/train_injection_detector.py``) holds, per feature block (character
n-grams within word boundaries, word n-grams; both language-agnostic), the IDF vector
and the logistic-regression weights over scikit-learn's ``HashingVectorizer`` buckets.
Scoring is numpy on each text alone (no padding, no batch statistics): a text's score
does not depend on the batch it comes in. A text keeps the highest score of its
overlapping windows and its sentences. Artifacts are loaded once per process.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np

from include.process_cache import process_cached

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "injection-tfidf-lr-v1"
#: the second detector of the default config: MiniLM sentence embeddings + a small MLP head
DEFAULT_EMBEDDING_MODEL = "injection-minilm-mlp-v1"


def resolve(model: str) -> Path | Traversable:
    """A folder path, or a shipped artifact name (``injection-tfidf-lr-v1``) read as package data
    (so it loads from the code zip Spark executors import from, too)."""
    path = Path(model).expanduser()
    found = path if path.is_dir() else resources.files("include.filters").joinpath("models", model)
    if not found.joinpath("model.json").is_file():
        raise FileNotFoundError(f"injection detector {model!r}: no model.json in {found}")
    return found


def vectorizer(block: dict):
    """The ``HashingVectorizer`` of one feature block (raw counts; TF-IDF is applied after)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer=block["analyzer"],
        ngram_range=tuple(block["ngram_range"]),
        n_features=block["n_features"],
        lowercase=True,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )


def tfidf(counts, idf: np.ndarray):
    """Sublinear TF x IDF, rows L2-normalized (what scikit-learn's TfidfTransformer computes)."""
    from sklearn.preprocessing import normalize

    x = counts.tocsr(copy=True).astype(np.float32)
    np.log(x.data, out=x.data)
    x.data += 1.0
    return normalize(x.multiply(idf).tocsr(), norm="l2", copy=False)


_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")


def sentences(text: str, min_chars: int) -> list[str]:
    """The sentences / lines of ``text`` with at least ``min_chars`` characters (none for one sentence)."""
    parts = [p for p in _SENTENCE.split(text) if len(p.strip()) >= min_chars]
    return parts if len(parts) > 1 else []


def windows(text: str, size: int, stride: int) -> list[str]:
    """``text`` cut into windows of ``size`` characters every ``stride`` characters."""
    if len(text) <= size:
        return [text]
    return [text[i : i + size] for i in range(0, len(text) - size + stride, stride)]


def head_and_tail_windows(text: str, size: int, stride: int, max_windows: int) -> list[str]:
    """The windows of ``text`` (none of a blank text), at most ``max_windows``: the first
    ``max_windows - 1`` and the last (an override is often the opening or the closing line)."""
    if not text.strip():
        return []
    w = windows(text, size, stride)
    return w if len(w) <= max_windows else w[: max_windows - 1] + w[-1:]


class _Artifact:
    """What every shipped detector artifact has: ``model.json`` (``meta``), one ``.npz``
    (``ARRAYS``), and a score per text that is the highest of its :meth:`pieces`' scores."""

    meta: dict
    ARRAYS: str  #: the artifact's array file
    MAX_WINDOWS: int  #: the default of ``max_windows``

    @property
    def version(self) -> str:
        return self.meta["name"]

    @property
    def threshold(self) -> float:
        return float(self.meta["threshold"])

    @classmethod
    def from_arrays(cls, meta: dict, arrays: dict):
        return cls(meta, arrays)

    @classmethod
    def load(cls, path: Path | Traversable, meta: dict | None = None):
        """The artifact under ``path`` (``meta``: its ``model.json``, when already read)."""
        meta = meta if meta is not None else json.loads(path.joinpath("model.json").read_text())
        with np.load(io.BytesIO(path.joinpath(cls.ARRAYS).read_bytes()), allow_pickle=False) as w:
            return cls.from_arrays(meta, {k: w[k] for k in w.files})

    def pieces(self, text: str, max_windows: int) -> list[str]:
        raise NotImplementedError

    def raw_scores(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def scores(self, texts: list[str], max_windows: int | None = None) -> list[float]:
        """P(injection) of each text: the highest score of its pieces (0 for a text with none),
        all texts' pieces scored in one batch."""
        owner, chunks = [], []
        for i, t in enumerate(texts):
            for w in self.pieces(t or "", max_windows or self.MAX_WINDOWS):
                owner.append(i)
                chunks.append(w)
        out = np.zeros(len(texts), dtype=np.float64)
        np.maximum.at(out, np.asarray(owner, dtype=np.int64), self.raw_scores(chunks))
        return [float(s) for s in out]


@dataclass
class InjectionDetector(_Artifact):
    """A loaded artifact; :meth:`scores` gives P(injection) per text."""

    meta: dict  #: model.json: blocks, intercept, threshold, windows, training data and metrics
    blocks: list[tuple[object, np.ndarray, np.ndarray]]  # (vectorizer, idf, coef)

    ARRAYS = "weights.npz"
    MAX_WINDOWS = 32

    @classmethod
    def from_weights(cls, meta: dict, weights) -> InjectionDetector:
        """From ``meta`` and a mapping ``idf_<block>`` / ``coef_<block>`` -> array."""
        return cls(
            meta,
            [
                (vectorizer(b), weights[f"idf_{b['name']}"], weights[f"coef_{b['name']}"])
                for b in meta["blocks"]
            ],
        )

    from_arrays = from_weights

    def raw_scores(self, texts: list[str]) -> np.ndarray:
        """P(injection) of each text as given (no windowing)."""
        if not texts:
            return np.zeros(0, dtype=np.float64)
        z = np.full(len(texts), float(self.meta["intercept"]), dtype=np.float64)
        for vec, idf, coef in self.blocks:
            z += tfidf(vec.transform(texts), idf) @ coef
        return 1.0 / (1.0 + np.exp(-z))

    def pieces(self, text: str, max_windows: int = 32) -> list[str]:
        """What is scored of ``text``: its first ``max_windows`` windows and the sentences they
        cover. Windows keep a long text's parts short enough to score; sentences isolate an
        injection buried in a benign request (both chosen on validation data, see the model card)."""
        m = self.meta
        size, stride = m["window_chars"], m["window_stride"]
        covered = text[: (max_windows - 1) * stride + size]
        return windows(covered, size, stride) + sentences(covered, m["sentence_min_chars"])


def mlp_scores(x: np.ndarray, weights) -> np.ndarray:
    """P(injection) of each embedding row: a ReLU MLP (``w0``, ``b0``, ``w1``, ``b1``, ...) + sigmoid."""
    h = x.astype(np.float64)
    n = len([k for k in weights if k.startswith("w")])
    for i in range(n):
        h = h @ weights[f"w{i}"].astype(np.float64) + weights[f"b{i}"].astype(np.float64)
        if i < n - 1:
            h = np.maximum(h, 0.0)
    return 1.0 / (1.0 + np.exp(-h[:, 0]))


@dataclass
class EmbeddingInjectionDetector(_Artifact):
    """Sentence embeddings of an installed sentence-transformers model package (never downloaded;
    ``include.semantic``) + the artifact's small MLP head (``head.npz``). A text's score is the
    highest of its windows' scores (``window_chars`` every ``window_stride``, at most
    ``max_windows``: the first ones and the last one). Each window is embedded on its own (the
    attention mask keeps padding out), so a score does not depend on the batch."""

    meta: dict
    head: dict

    ARRAYS = "head.npz"
    MAX_WINDOWS = 4

    def embed(self, texts: list[str]) -> np.ndarray:
        from include.semantic import load_embedder, max_seq_length

        m = self.meta["embedding"]
        # the encoder is the process's shared one (semantic_dedup's too): its length is restored after
        with max_seq_length(load_embedder(m["model"]), int(m["max_seq_length"])) as encoder:
            return encoder.encode(
                texts,
                batch_size=int(m.get("batch_size", 64)),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)

    def raw_scores(self, texts: list[str]) -> np.ndarray:
        """P(injection) of each text as given (cut by the model at ``max_seq_length`` tokens)."""
        if not texts:
            return np.zeros(0, dtype=np.float64)
        return mlp_scores(self.embed(texts), self.head)

    def pieces(self, text: str, max_windows: int = 4) -> list[str]:
        """The windows scored of ``text`` (none of a blank text): the first ``max_windows - 1``
        and the last."""
        return head_and_tail_windows(text, self.meta["window_chars"], self.meta["window_stride"], max_windows)


def load_artifact(path: Path | Traversable):
    """The detector under ``path``, of the class its ``model.json`` ``kind`` names (read once)."""
    meta = json.loads(path.joinpath("model.json").read_text())
    kind = meta.get("kind", "")
    if kind.startswith("lora-sequence-classifier"):
        from include.filters.injection_transformer import TransformerInjectionDetector as cls
    elif kind.startswith("sentence-embedding"):
        cls = EmbeddingInjectionDetector
    else:
        cls = InjectionDetector
    return cls.load(path, meta)


def get_detector(model: str = DEFAULT_MODEL):
    """The detector artifact ``model`` (name or folder), loaded once per process: the hashed
    n-gram TF-IDF kind (:class:`InjectionDetector`) or the sentence-embedding kind
    (:class:`EmbeddingInjectionDetector`), told apart by ``kind`` in its ``model.json``."""
    path = resolve(model)
    return process_cached("injection_detector", str(path), lambda: load_artifact(path))

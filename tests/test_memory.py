"""The server's memory after a rebuild (issue #23's soak, "Pss flat"): a replaced dictionary is
freed with its last reference (search/analysis.py)."""

from __future__ import annotations

import gc
import shutil
import weakref

from search import analysis

NEW_WORD = "岸电改造"


def test_a_replaced_dictionary_is_freed_with_its_last_reference(tmp_path, monkeypatch):
    """Nothing but the process keeps a dictionary (no cycle, no module-level segmenter): once
    another replaces it, its memory goes at once, without waiting for the garbage collector
    (which never visits the objects a server froze before forking its workers)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(analysis.DICTIONARY_FILE, data / "dictionary.txt")
    with open(data / "dictionary.txt", "a", encoding="utf-8") as handle:
        handle.write(f"\n{NEW_WORD} 100 n\n")
    assert analysis.query_words(NEW_WORD) == ["岸电", "改造"]
    gc.disable()
    try:
        before = weakref.ref(analysis._dictionary())
        monkeypatch.setenv("POLICY_SEARCH_DATA", str(data))
        assert analysis.reload_segmenter()
        assert analysis.query_words(NEW_WORD) == [NEW_WORD]
        assert before() is None
        edited = weakref.ref(analysis._dictionary())
        monkeypatch.delenv("POLICY_SEARCH_DATA")
        assert analysis.reload_segmenter()  # the packaged dictionary again
        assert edited() is None
        assert analysis.query_words(NEW_WORD) == ["岸电", "改造"]
    finally:
        gc.enable()
        monkeypatch.delenv("POLICY_SEARCH_DATA", raising=False)
        analysis.reload_segmenter()

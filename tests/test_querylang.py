"""The query language and its compiler, apart from any index (test_query.py searches with them)."""

from __future__ import annotations

import pytest

from search.compiler import compile_query
from search.errors import InvalidParameter
from search.querylang import parse_query


def test_too_deep_nesting_is_a_clear_error():
    with pytest.raises(InvalidParameter) as caught:
        parse_query("(" * 50 + "碳" + ")" * 50)
    assert caught.value.parameter == "q"
    assert "nests parentheses deeper than 20" in caught.value.message


def test_question_words_are_not_searched():
    compiled = compile_query("什么是碳排放权交易")
    assert compiled.content_words == ["碳排放权", "交易"]

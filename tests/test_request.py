"""The search request: every parameter validated, with the message naming it; and back to params."""

from __future__ import annotations

import pytest

from search.errors import InvalidParameter
from search.request import SearchRequest


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        (
            {"date_from": ["2020-13"]},
            "date_from",
            "date_from must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not '2020-13'",
        ),
        (
            {"date_to": ["yesterday"]},
            "date_to",
            "date_to must be a date as YYYY, YYYY-MM or YYYY-MM-DD, not 'yesterday'",
        ),
        ({"date_from": ["2022"], "date_to": ["2021"]}, "date_to", "date_to is before date_from"),
        ({"page": ["-1"]}, "page", "page must be between 1 and 10000, not -1"),
        ({"page": ["x"]}, "page", "page must be a whole number, not 'x'"),
        ({"per_page": ["100000"]}, "per_page", "per_page must be between 1 and 100, not 100000"),
        (
            {"sort": ["random"]},
            "sort",
            "sort must be one of relevance, date, -date, confidence, not 'random'",
        ),
        (
            {"min_confidence": ["high"]},
            "min_confidence",
            "min_confidence must be a number from 0 to 1, not 'high'",
        ),
        (
            {"min_confidence": ["1.5"]},
            "min_confidence",
            "min_confidence must be a number from 0 to 1, not '1.5'",
        ),
        ({"year": ["twenty"]}, "year", "year must be a whole number, not 'twenty'"),
        (
            {"confidence": ["0.55"]},
            "confidence",
            "confidence must be one of 0.0-0.5, 0.5-0.6, 0.6-0.7, 0.7-0.8, 0.8-0.9, 0.9-1.0, not '0.55'",
        ),
        ({"q": ["碳" * 1001]}, "q", "q is 1001 characters long; at most 1000 are searched"),
    ],
)
def test_request_rejects_bad_parameters(params, parameter, message):
    with pytest.raises(InvalidParameter) as caught:
        SearchRequest.from_params(params)
    assert (caught.value.parameter, caught.value.message) == (parameter, message)


def test_request_round_trips_through_params():
    params = {
        "q": ["碳中和"],
        "issuer": ["甲", "乙"],
        "type": ["事件"],
        "year": ["2021"],
        "date_from": ["2020-01-01"],
        "date_to": ["2021-12-31"],
        "min_confidence": ["0.5"],
        "sort": ["-date"],
        "page": ["2"],
        "per_page": ["20"],
    }
    request = SearchRequest.from_params(params)
    assert request.to_params() == params
    assert SearchRequest.from_params(request.to_params()) == request


def test_request_date_bounds_expand_to_whole_periods():
    request = SearchRequest.from_params({"date_from": ["2024-02"], "date_to": ["2024-02"]})
    assert (request.date_from.isoformat(), request.date_to.isoformat()) == (
        "2024-02-01",
        "2024-02-29",
    )

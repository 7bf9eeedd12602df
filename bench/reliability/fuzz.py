"""Hostile input through the real server: hostile queries, and schemathesis over the OpenAPI
document; no answer may be a 5xx or show a traceback."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import urllib.parse
from collections import Counter
from pathlib import Path

from bench.common.load import HOST
from bench.reliability.workload import REPO, REQUEST_TIMEOUT, SEED_FILE, get, run_indexer, serve

TRACEBACK = "Traceback (most recent call last)"


# (what the report calls it, the query): each must be answered or refused with a 400, quickly
HOSTILE_QUERIES = (
    ("10,000 × x", "x" * 10_000),
    ("1,000 characters of words", "碳排量 " * 250),
    ("21 nested parentheses", "(" * 21 + "碳" + ")" * 21),
    ("20 nested parentheses", "(" * 20 + "碳" + ")" * 20),
    ("999 × (", "(" * 999),
    ("1,000 × )", ")" * 1000),
    ("499 × NOT", "- " * 499 + "碳"),
    ("*", "*"),
    ("a*", "a*"),
    ("?", "?"),
    ("nofield:碳", "nofield:碳"),
    ("year:99999999999999999999", "year:99999999999999999999"),
    ('content::"', 'content::"'),
    ("<script>", "<script>alert(1)</script>"),
)


def shows_a_traceback(body: str, sent) -> bool:
    """Whether an answer shows a Python traceback that it does not merely echo from the values
    sent (hypothesis draws strings from the source's own constants, this one among them)."""
    return TRACEBACK in body and not any(TRACEBACK in str(value) for value in sent)


def sent_by(case) -> list[str]:
    """Every value a schemathesis case sends, as text."""
    parts = (case.query, case.path_parameters, case.headers)
    return [json.dumps(part, ensure_ascii=False, default=str) for part in parts if part]


def run_fuzz(workdir: Path, examples: int = 300, seed: int = 1) -> dict:
    """Schemathesis over /api/openapi.json (valid and invalid values of every declared parameter
    of every operation), then hypothesis queries on the page and the API, all over HTTP to a real
    server whose seeds hold markup. Counts answers by status: 5xx, tracebacks and answers that
    break the document are failures."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable

    seeds, index = workdir / "seeds", workdir / "index"
    seeds.mkdir(parents=True)
    shutil.copy(SEED_FILE, seeds / SEED_FILE.name)
    shutil.copy(REPO / "tests" / "fixtures" / "web" / "xss-entries.md", seeds / "xss-entries.md")
    if run_indexer(seeds, index).returncode != 0:
        raise RuntimeError("the build failed")
    statuses: Counter = Counter()
    failures: list[str] = []
    checks = [
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.response_schema_conformance,
    ]
    fuzz_settings = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    started = time.monotonic()
    with serve(seeds, index, threads=4) as port:
        base = f"http://{HOST}:{port}"
        schema = schemathesis.openapi.from_url(base + "/api/openapi.json")

        def fuzz(operation, mode) -> None:
            @fuzz_settings
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case) -> None:
                response = case.call(base_url=base, timeout=REQUEST_TIMEOUT)
                statuses[operation.label, mode.value, response.status_code] += 1
                problem = None
                if shows_a_traceback(response.text, sent_by(case)):
                    problem = "a traceback in the body"
                else:
                    try:
                        case.validate_response(response, checks=checks)
                    except Exception as exc:  # noqa: BLE001 - every failed check counts
                        problem = str(exc).splitlines()[0]
                if problem:
                    failures.append(
                        f"{operation.label} {case.formatted_path} {case.query or ''} "
                        f"{response.status_code}: {problem}"
                    )

            with contextlib.suppress(Unsatisfiable):  # no invalid input exists (no parameters)
                call()

        for result in schema.get_all_operations():
            for mode in schemathesis.GenerationMode:
                fuzz(result.ok(), mode)

        @settings(max_examples=examples * 2, deadline=None, database=None, derandomize=True)
        @given(q=st.text(max_size=1200), path=st.sampled_from(["/api/search", "/"]))
        def query(q: str, path: str) -> None:
            answered, _, body = get(port, path + "?" + urllib.parse.urlencode({"q": q}))
            statuses[f"GET {path} q", "hypothesis", answered] += 1
            if answered >= 500 or shows_a_traceback(body.decode("utf-8", "replace"), [q]):
                failures.append(f"GET {path} q={q[:80]!r}: {answered}")

        query()
        hostile = []
        for name, q in HOSTILE_QUERIES:
            sent = time.monotonic()
            answered, _, body = get(port, "/api/search?" + urllib.parse.urlencode({"q": q}))
            took = time.monotonic() - sent
            message = json.loads(body)["error"]["message"] if answered == 400 else None
            hostile.append({"query": name, "status": answered, "ms": round(took * 1000, 1)})
            if message:
                hostile[-1]["message"] = message
            if answered not in (200, 400):
                failures.append(f"hostile query {name}: {answered}")
    by_status: Counter = Counter()
    for (_, _, status), count in statuses.items():
        by_status[status] += count
    return {
        "requests": sum(statuses.values()),
        "seconds": round(time.monotonic() - started, 1),
        "by_status": dict(sorted(by_status.items())),
        "server_errors": sum(n for status, n in by_status.items() if status >= 500),
        "failures": len(failures),
        "failure_samples": failures[:10],
        "hostile_queries": hostile,
        "per_operation": {
            f"{label} [{mode}]": sum(
                n for (lab, m, _), n in statuses.items() if (lab, m) == (label, mode)
            )
            for label, mode in sorted({(lab, m) for lab, m, _ in statuses})
        },
    }

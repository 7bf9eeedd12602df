"""search/issuers.py: one name per issuing body, from the alias table."""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request

import pytest
from conftest import served

from search import analysis
from search.errors import SearchError
from search.issuers import ISSUERS_FILE, aliases, canonical_issuer, canonical_names, read_table


def test_canonical_issuer_of_aliases_and_unknown_names():
    assert canonical_issuer("北京市发改委") == "北京市发展和改革委员会"
    assert canonical_issuer("北京市发展改革委") == "北京市发展和改革委员会"
    assert canonical_issuer(" 北京市发展和改革委员会 ") == "北京市发展和改革委员会"
    assert canonical_issuer("中华人民共和国国务院") == "国务院"
    # a name the table does not know is its own one name, as written
    assert canonical_issuer("Asia Financial") == "Asia Financial"
    assert canonical_issuer("") is None
    assert canonical_issuer(None) is None


@pytest.mark.parametrize(
    ("province", "ecology"),
    [
        ("北京市", "北京市生态环境局"),
        ("上海市", "上海市生态环境局"),
        ("广东省", "广东省生态环境厅"),
        ("内蒙古自治区", "内蒙古自治区生态环境厅"),
        ("新疆维吾尔自治区", "新疆维吾尔自治区生态环境厅"),
    ],
)
def test_table_holds_the_four_bodies_of_each_province(province, ecology):
    assert canonical_issuer(f"{province}发改委") == f"{province}发展和改革委员会"
    assert canonical_issuer(f"{province}人大常委会") == f"{province}人民代表大会常务委员会"
    assert canonical_issuer(f"{province}政府") == f"{province}人民政府"
    assert canonical_issuer(ecology) == ecology
    assert ecology in aliases(ecology)


def test_aliases_lists_the_canonical_name_first():
    assert aliases("北京市发展和改革委员会") == [
        "北京市发展和改革委员会",
        "北京发改委",
        "北京市发展改革委",
        "北京市发展改革委员会",
        "北京市发改委",
    ]


def test_read_table_refuses_an_alias_of_two_bodies(tmp_path):
    table = tmp_path / "issuers.txt"
    table.write_text("# comment\n甲委员会 = 甲委\n乙委员会 = 甲委\n", encoding="utf-8")
    with pytest.raises(SearchError, match=r"issuers.txt:3: 甲委 is already an alias of 甲委员会"):
        read_table(table)


def test_shipped_table_reads():
    table = read_table(ISSUERS_FILE)
    assert len(set(table.values())) > 150


# -- an override in the data folder, edited while a process runs


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    """POLICY_SEARCH_DATA naming an empty folder for the test; the packaged tables again after."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("POLICY_SEARCH_DATA", str(folder))
    yield folder
    monkeypatch.delenv("POLICY_SEARCH_DATA")
    analysis.refresh_data(force=True)
    assert canonical_issuer("北京市发改委") == "北京市发展和改革委员会"


def test_issuers_override_replaces_the_packaged_table_and_follows_edits(data_folder):
    override = data_folder / "issuers.txt"
    override.write_text("北京市发展和改革委员会 = 京发改委\n", encoding="utf-8")
    assert analysis.refresh_data(force=True) == ["issuers.txt"]
    assert canonical_issuer("京发改委") == "北京市发展和改革委员会"
    # the override replaces the packaged table, as every data file's override does
    assert canonical_issuer("北京市发改委") == "北京市发改委"
    assert aliases("北京市发展和改革委员会") == ["北京市发展和改革委员会", "京发改委"]
    override.write_text("北京市发展和改革委员会 = 京发改委 = 首都发改委\n", encoding="utf-8")
    assert analysis.refresh_data(force=True) == ["issuers.txt"]
    assert canonical_issuer("首都发改委") == "北京市发展和改革委员会"
    assert canonical_names() == ["北京市发展和改革委员会"]


def test_a_bad_issuers_edit_keeps_the_table_in_use(data_folder, caplog):
    override = data_folder / "issuers.txt"
    override.write_text("北京市发展和改革委员会 = 京发改委\n", encoding="utf-8")
    analysis.refresh_data(force=True)
    override.write_text(
        "北京市发展和改革委员会 = 京发改委\n乙委员会 = 京发改委\n", encoding="utf-8"
    )
    assert analysis.refresh_data(force=True) == ["issuers.txt"]
    assert canonical_issuer("京发改委") == "北京市发展和改革委员会"
    assert canonical_issuer("乙委员会") == "乙委员会"
    assert [record.getMessage() for record in caplog.records] == [
        f"{override}:2: 京发改委 is already an alias of 北京市发展和改革委员会; an alias must "
        "name one body only; the issuers table in use is kept"
    ]


def test_served_issuer_filter_follows_an_edited_issuers_file(data_folder, seeds_copy, tmp_path):
    """A running server, no reindex: an alias added to the override names the body at once in
    the `issuer` filter and in `issuer:` of the query language."""
    override = data_folder / "issuers.txt"
    shutil.copy(ISSUERS_FILE, override)

    def search(base: str, **params: str) -> dict:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{base}/api/search?{query}") as answer:
            return json.load(answer)

    with served(seeds_copy, tmp_path, "--no-watch") as server:
        base = f"http://127.0.0.1:{server.port}"
        canonical = search(base, issuer="北京市发展和改革委员会")
        expected = [hit["id"] for hit in canonical["hits"]]
        assert len(expected) == 3
        assert search(base, issuer="京发改委")["total"] == 0
        with open(override, "a", encoding="utf-8") as handle:
            handle.write("\n北京市发展和改革委员会 = 京发改委\n")
        # each worker process looks at the data files at most once a second: until both have,
        # the two may answer differently
        deadline = time.monotonic() + 10
        while not all(search(base, issuer="京发改委")["total"] for _ in range(8)):
            assert time.monotonic() < deadline, "the edited issuers.txt was never used"
            time.sleep(0.2)
        by_alias = search(base, issuer="京发改委")
        assert [hit["id"] for hit in by_alias["hits"]] == expected
        assert by_alias["generation"] == canonical["generation"]  # no reindex
        in_query = search(base, q="issuer:京发改委")
        assert [hit["id"] for hit in in_query["hits"]] == expected

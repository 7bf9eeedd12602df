"""search/issuers.py: one name per issuing body, from the alias table."""

from __future__ import annotations

import pytest

from search.errors import SearchError
from search.issuers import ISSUERS_FILE, aliases, canonical_issuer, read_table


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

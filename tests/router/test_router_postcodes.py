"""The postcode index: lookups in any spacing, the real ONSPD across the City boundary, CSV loading."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from services.router.adapters.postcode_data import index_from_csv, load_postcode_index
from services.router.domain.facts import area_of
from services.router.domain.postcodes import PostcodeIndex
from shared import Area

CITY, COUNTY, OUTSIDE = Area.NOTTINGHAM_CITY, Area.NOTTINGHAMSHIRE_COUNTY, Area.OUTSIDE

# Real postcodes from the packaged ONSPD (Nov 2025): each split district on both sides of the
# City boundary, county postcodes outside NG, and NG postcodes outside the county.
REAL = [
    ("NG7 2AH", CITY),
    ("NG24 2UE", COUNTY),
    ("NG18 4RF", COUNTY),
    ("NG31 9TA", OUTSIDE),
    ("NG2 1AA", CITY),
    ("NG2 5AA", COUNTY),  # West Bridgford side: Rushcliffe
    ("NG3 1AA", CITY),
    ("NG3 5GR", COUNTY),  # Gedling
    ("NG5 1AA", CITY),
    ("NG5 0AA", COUNTY),  # Gedling
    ("NG6 0AA", CITY),
    ("NG6 8AN", COUNTY),
    ("NG6 8EF", COUNTY),
    ("NG6 7AB", COUNTY),
    ("NG8 1AA", CITY),
    ("NG8 2HB", COUNTY),  # Broxtowe
    ("NG9 1RT", CITY),
    ("NG9 1AA", COUNTY),  # Broxtowe
    ("NG11 0AQ", CITY),
    ("NG11 0AA", COUNTY),  # Rushcliffe
    ("NG12 1BJ", CITY),
    ("NG12 1AA", COUNTY),  # Rushcliffe
    ("NG10 1AA", OUTSIDE),
    ("NG10 3AD", OUTSIDE),
    ("NG10 1HA", COUNTY),  # Erewash, and Broxtowe
    ("NG32 1AA", OUTSIDE),
    ("NG33 4AA", OUTSIDE),
    ("NG34 0AA", OUTSIDE),  # Lincolnshire
    ("NG16 1AA", COUNTY),
    ("NG16 3JE", OUTSIDE),
    ("NG20 0AA", COUNTY),
    ("NG20 8AA", OUTSIDE),
    ("NG23 5AX", COUNTY),
    ("NG23 5AA", OUTSIDE),
    ("S80 1AA", COUNTY),
    ("S81 0AA", COUNTY),
    ("S81 8AH", OUTSIDE),  # Bassetlaw, and Rotherham
    ("DN10 4AA", COUNTY),
    ("DN10 4SU", OUTSIDE),
    ("DN11 8AA", COUNTY),
    ("DN11 0AA", OUTSIDE),
    ("DN22 0AA", COUNTY),
    ("LE12 5BF", COUNTY),
    ("LE12 5AA", OUTSIDE),
    ("LE14 3AA", COUNTY),
    ("LE14 2AA", OUTSIDE),
    ("DE74 2FS", COUNTY),
    ("DE74 0AB", OUTSIDE),  # Rushcliffe, and North West Leicestershire
    ("DE7 5TA", COUNTY),
    ("DE7 2FS", COUNTY),
    ("DE7 0AA", OUTSIDE),  # Broxtowe, Rushcliffe, Erewash
    ("SW1A 1AA", OUTSIDE),
    ("CF10 1AA", OUTSIDE),
    ("EH1 1AA", OUTSIDE),
    ("BT1 1AA", OUTSIDE),
    ("GY1 1AA", OUTSIDE),
    ("IM1 1AA", OUTSIDE),  # Channel Islands, Isle of Man (pseudo-codes)
]


@pytest.mark.parametrize(("postcode", "area"), REAL)
def test_real_postcodes_are_placed_per_full_postcode_not_per_district(
    onspd: PostcodeIndex, postcode: str, area: Area
) -> None:
    code = onspd.la_code(postcode)
    assert code is not None
    assert area_of(code) is area


@pytest.mark.parametrize("spelling", ["NG7 2AH", "ng72ah", " ng7  2ah ", "Ng7\t2aH"])
def test_a_postcode_is_found_in_any_case_and_spacing(onspd: PostcodeIndex, spelling: str) -> None:
    assert onspd.la_code(spelling) == "E06000018"


def test_a_postcode_not_in_the_directory_and_a_non_geographic_one_cannot_be_placed(
    onspd: PostcodeIndex,
) -> None:
    assert onspd.la_code("NG7 9ZZ") is None
    assert onspd.la_code("NG4 9AB") is None  # in ONSPD, but without a local authority


def test_the_directory_knows_real_authorities_only(onspd: PostcodeIndex) -> None:
    assert onspd.knows_la_code("E07000171")
    assert not onspd.knows_la_code("E06000081")


def test_an_index_survives_its_byte_form_unchanged() -> None:
    index = PostcodeIndex.from_pairs([("NG7 2AH", "E06000018"), ("NG4 9AB", None)], source="t")
    again = PostcodeIndex.from_bytes(index.to_bytes())
    assert (again.la_code("ng72ah"), again.la_code("NG4 9AB"), len(again)) == ("E06000018", None, 2)


def test_a_truncated_cache_is_rejected_so_it_gets_rebuilt() -> None:
    data = PostcodeIndex.from_pairs([("NG7 2AH", "E06000018")], source="t").to_bytes()
    with pytest.raises(ValueError, match="truncated"):
        PostcodeIndex.from_bytes(data[:-1])


def test_malformed_postcodes_are_not_found() -> None:
    index = PostcodeIndex.from_pairs([("NG7 2AH", "E06000018")], source="t")
    assert [index.la_code(p) for p in ("", "NG7", "NG7 2AH X", "NG7-2AH")] == [None] * 4


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("pcd,oseast1m,laua", "NG7 2AH,457000,E06000018"),  # older releases
        ("pcd7,east1m,lad25cd", "NG7 2AH,457000,E06000018"),  # Nov 2025
        ("pcds,doterm,lad24cd,lad25cd", "NG7 2AH,,E06000099,E06000018"),  # the newest lad wins
    ],
)
def test_an_onspd_csv_is_read_whatever_its_release_calls_the_columns(
    tmp_path: Path, header: str, row: str
) -> None:
    path = tmp_path / "onspd.csv"
    path.write_text(f"{header}\n{row}\nNG4 9AB,,{',' * (header.count(',') - 2)}\n")
    index = index_from_csv(path)
    assert (index.la_code("NG72AH"), index.la_code("NG4 9AB")) == ("E06000018", None)


def test_an_onspd_zip_is_read_from_its_uk_csv(tmp_path: Path) -> None:
    path = tmp_path / "ONSPD_NOV_2026.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Data/ONSPD_NOV_2026_UK.csv", "pcds,lad26cd\nS80 1AA,E07000171\n")
    assert index_from_csv(path).la_code("S801AA") == "E07000171"


def test_a_csv_without_the_needed_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("postcode,district\nNG7 2AH,x\n")
    with pytest.raises(ValueError, match="postcode column"):
        index_from_csv(path)


def test_a_csv_index_is_cached_and_rebuilt_when_the_file_changes(tmp_path: Path) -> None:
    csv = tmp_path / "onspd.csv"
    csv.write_text("pcds,laua\nNG7 2AH,E06000018\n")
    cache = tmp_path / "cache"
    assert load_postcode_index(csv, cache).la_code("NG7 2AH") == "E06000018"
    assert len(list(cache.glob("*.idx"))) == 1
    csv.write_text("pcds,laua\nNG7 2AH,E07000176\nNG2 5AA,E07000176\n")
    assert load_postcode_index(csv, cache).la_code("NG7 2AH") == "E07000176"


def test_the_postcodes_of_a_district_can_be_listed(onspd: PostcodeIndex) -> None:
    ng7 = onspd.in_district("NG7")
    assert "NG7 2AH" in ng7
    assert all(p.startswith("NG7 ") for p in ng7)  # NG70 and the like are other districts
    assert len(ng7) == 1751
    assert onspd.in_district("QQ1") == []


def test_every_postcode_of_an_index_is_found_and_none_between_them_whatever_the_fence() -> None:
    # Enough postcodes for several fences (every 64th key), with gaps to look up between them.
    present = [f"NG{d} {n}A{c}" for d in range(1, 4) for n in range(1, 10) for c in "ABDEFGHJ"]
    index = PostcodeIndex.from_pairs(
        [(p, f"E0700017{i % 7}") for i, p in enumerate(present)], source="t"
    )
    assert len(index) == len(present) > 3 * 64
    for i, postcode in enumerate(present):
        assert index.la_code(postcode) == f"E0700017{i % 7}", postcode
    absent = ["AA1 1AA", "NG1 1AC", "NG2 5AZ", "NG3 9AL", "ZZ99 9ZZ"]
    assert [index.la_code(p) for p in absent] == [None] * len(absent)


def test_a_key_spelled_across_two_neighbouring_postcodes_is_not_taken_for_one() -> None:
    # "1000XAB" then "12CDEFG": the bytes "XAB12CD" run across the two (the search is in bytes).
    pairs = [("1000XAB", "E06000018"), ("12CDEFG", "E07000170")]
    assert PostcodeIndex.from_pairs(pairs, source="t").la_code("XAB12CD") is None
    index = PostcodeIndex.from_pairs([*pairs, ("XAB12CD", "E07000171")], source="t")
    assert index.la_code("XAB12CD") == "E07000171"

"""The standard: its own schema, its internal consistency, its code lists and its dictionary."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from pipelines.errors import OwfError
from pipelines.standard.dictionary import dictionary_is_current, render_dictionary
from pipelines.standard.model import (
    NI_NUMBER_PATTERN,
    SUBMITTED,
    parse_standard,
    read_standard_yaml,
)


@pytest.fixture
def raw(standard):
    return read_standard_yaml(standard.path / "standard.yaml")


def test_standard_validates_against_its_own_schema(standard):
    assert re.fullmatch(r"\d+\.\d+\.\d+", standard.version)
    assert set(standard.extracts) == {
        "staff_in_post",
        "leavers",
        "vacancies",
        "sickness_absence",
        "temporary_staffing",
    }


def test_schema_rejects_a_field_without_classification(standard, raw):
    broken = copy.deepcopy(raw)
    del broken["extracts"]["staff_in_post"]["fields"][0]["classification"]
    with pytest.raises(OwfError, match="extracts/staff_in_post/fields/0.*classification"):
        parse_standard(broken, standard.path)


def test_schema_rejects_an_unknown_type(standard, raw):
    broken = copy.deepcopy(raw)
    broken["extracts"]["vacancies"]["fields"][0]["type"] = "money"
    with pytest.raises(OwfError, match="money"):
        parse_standard(broken, standard.path)


def test_consistency_rejects_an_unknown_code_list_and_key(standard, raw):
    broken = copy.deepcopy(raw)
    broken["extracts"]["vacancies"]["fields"][2]["codelist"] = "no_such_list"
    broken["extracts"]["vacancies"]["key"].append("no_such_field")
    with pytest.raises(OwfError) as exc:
        parse_standard(broken, standard.path)
    assert "unknown code list no_such_list" in str(exc.value)
    assert "key field no_such_field" in str(exc.value)


def test_every_field_has_a_classification_and_description(standard):
    for extract in standard.extracts.values():
        for f in extract.fields:
            assert f.classification in standard.classifications
            assert f.description.strip()


def test_identifiers_are_direct_identifiers_and_pseudonymised(standard):
    for extract in standard.extracts.values():
        for f in extract.fields:
            if f.type == "identifier":
                assert f.classification == "direct_identifier"
            if f.classification == "direct_identifier":
                assert f.type == "identifier", (
                    f"{extract.name}.{f.name} would travel unpseudonymised"
                )


def test_date_of_birth_never_leaves_the_organisation(standard):
    for extract in standard.extracts.values():
        assert "date_of_birth" not in extract.field_names(SUBMITTED)


# Code lists ------------------------------------------------------------------------------


def test_every_code_field_has_its_code_list(standard):
    for extract in standard.extracts.values():
        for f in extract.fields:
            if f.type == "code":
                assert standard.codes(f.codelist), f"{f.codelist} is empty"


def test_staff_groups_in_published_order(standard):
    rows = standard.codelists["staff_group"].rows
    published = [r["label"] for r in rows if r["origin"] == "NHS published staff group"]
    assert published == [
        "HCHS doctors",
        "Nurses & health visitors",
        "Midwives",
        "Ambulance staff",
        "Scientific, therapeutic & technical staff",
        "Support to doctors, nurses & midwives",
        "Support to ambulance staff",
        "Support to ST&T staff",
        "Central functions",
        "Hotel, property & estates",
        "Senior managers",
        "Managers",
        "Other staff or those with unknown classification",
    ]
    orders = [int(r["sort_order"]) for r in rows]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)


def test_ethnic_categories_and_wres_groups(standard):
    groups = {r["code"]: r["wres_group"] for r in standard.codelists["ethnic_category"].rows}
    assert [c for c, g in groups.items() if g == "WHITE"] == ["A", "B", "C"]
    assert [c for c, g in groups.items() if g == "BME"] == list("DEFGHJKLMNPRS")
    assert groups["Z"] == "NOT_STATED" and groups["99"] == "NOT_KNOWN"


def test_pay_bands_include_every_agenda_for_change_band(standard):
    afc = [r["code"] for r in standard.codelists["pay_band"].rows if r["pay_system"] == "AFC"]
    assert afc == [
        f"AFC_{b}" for b in ["1", "2", "3", "4", "5", "6", "7", "8A", "8B", "8C", "8D", "9"]
    ]


def test_occupation_matrix_follows_the_domain_mapping(standard):
    matrix = {r["prefix"]: r["staff_group"] for r in standard.codelists["occupation_matrix"].rows}
    for medical in "01289":
        assert matrix[medical] == "HCHS_DOCTORS"
    assert matrix["N"] == matrix["P"] == "NURSES_HV"
    assert matrix["N2"] == "MIDWIVES" and matrix["N3H"] == "NURSES_HV"
    assert matrix["A"] == "AMBULANCE" and matrix["S"] == "STT" and matrix["Z"] == "SENIOR_MANAGERS"


def _matrix_group(standard, code):
    rows = standard.codelists["occupation_matrix"].rows
    best = max(
        (r for r in rows if code.startswith(r["prefix"])),
        key=lambda r: len(r["prefix"]),
        default=None,
    )
    return best and best["staff_group"]


def test_every_listed_occupation_code_resolves_through_the_matrix(standard):
    pattern = re.compile(standard.extract("staff_in_post").field("occupation_code").pattern)
    for code in standard.codes("occupation_code"):
        assert pattern.fullmatch(code), code
        assert _matrix_group(standard, code), f"{code} matches no prefix"


def test_code_list_cross_references(standard):
    groups = set(standard.codes("staff_group"))
    roles = set(standard.codes("harmonised_role"))
    sectors = set(standard.codes("sector"))
    for r in standard.codelists["harmonised_role"].rows:
        assert r["staff_group"] in groups, r
    for r in standard.codelists["sector_role"].rows:
        assert (
            r["staff_group"] in groups and r["harmonised_role"] in roles and r["sector"] in sectors
        ), r
    for r in standard.codelists["occupation_matrix"].rows:
        assert r["staff_group"] in groups, r
    for r in standard.codelists["job_title_map"].rows:
        assert r["harmonised_role"] in roles, r


def test_job_title_map_keys_are_normalised(standard):
    from pipelines.standard.titles import normalise_title

    for r in standard.codelists["job_title_map"].rows:
        assert normalise_title(r["local_title"]) == r["local_title"], r


def test_codes_with_leading_zeros_stay_text(standard):
    assert "010" in standard.codes("occupation_code")
    assert "01" in standard.codes("esr_staff_group")


def test_rule_conditions_use_real_codes(standard, raw):
    broken = copy.deepcopy(raw)
    broken["extracts"]["staff_in_post"]["rules"][0]["when"]["in"] = ["NHS"]
    with pytest.raises(OwfError, match="'NHS', which is not in code list sector"):
        parse_standard(broken, standard.path)


def test_ni_pattern_follows_the_allocation_rules():
    pattern = re.compile(NI_NUMBER_PATTERN)
    assert pattern.fullmatch("AB123456C")
    for bad in ["DA123456A", "AD123456A", "AO123456A", "QA123456A", "AB12345C", "AB123456E"]:
        assert not pattern.fullmatch(bad), bad


# Data dictionary -------------------------------------------------------------------------


def test_data_dictionary_is_up_to_date(standard):
    assert dictionary_is_current(standard), "run `owf standard docs` and commit the result"


def test_data_dictionary_documents_every_field_and_code_list(standard):
    text = render_dictionary(standard)
    for extract in standard.extracts.values():
        assert f"## Extract: {extract.name}" in text
        for f in extract.fields:
            assert f"| `{f.name}` |" in text
    for name in standard.codelists:
        assert f"### Code list: {name}" in text


def test_standard_yaml_is_plain_yaml():
    # The standard must load with a plain YAML parser (anchors are fine, tags are not).
    from pipelines.paths import standard_dir

    yaml.safe_load((standard_dir() / "standard.yaml").read_text())


def test_a_code_list_row_with_an_unquoted_comma_is_refused(tmp_path):
    from pipelines.standard.model import read_codelist_csv

    path = tmp_path / "sector.csv"
    path.write_text("code,label\nNHS_TRUST,NHS trust (acute, community)\n")
    with pytest.raises(OwfError, match="row 2: 3 fields where the header has 2"):
        read_codelist_csv(path)


def test_the_standard_reads_the_same_through_libyaml_as_through_pure_python():
    from pipelines.paths import standard_dir
    from pipelines.standard.model import read_standard_yaml
    from pipelines.yamlload import SafeLoader

    path = standard_dir() / "standard.yaml"
    expected = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)  # noqa: S506
    expected["released"] = str(expected["released"])
    assert read_standard_yaml(path) == expected
    # PyYAML's wheels (constraints.txt) ship libyaml: the fast path is the one in use here.
    # Without it the loader falls back to the pure-Python one, slower but equal.
    assert SafeLoader is yaml.CSafeLoader


def test_one_parse_gives_the_node_tree_and_the_same_data_as_a_plain_load():
    from pipelines.paths import PROJECT_ROOT
    from pipelines.yamlload import compose, construct

    files = sorted((PROJECT_ROOT / "governance").rglob("*.yaml"))
    assert len(files) > 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        node = compose(text)
        assert construct(node) == yaml.safe_load(text), path
        assert node.start_mark.line == yaml.compose(text).start_mark.line, path
    assert compose("") is None and construct(None) is None


def test_a_code_list_may_not_use_the_models_reserved_codes(standard, raw, tmp_path):
    # 'ALL' is the total of a breakdown in the marts and in int_memberships: a staff group
    # coded ALL would merge with the whole organisation's population.
    import shutil

    copy_dir = tmp_path / "standard"
    shutil.copytree(standard.path, copy_dir)
    with (copy_dir / "codelists" / "staff_group.csv").open("a", encoding="utf-8") as f:
        f.write("ALL,All staff,All staff,99,local\n")
    with pytest.raises(OwfError) as exc:
        parse_standard(raw, copy_dir)
    assert "code list staff_group: ALL is reserved" in str(exc.value)
    assert "choose another code" in str(exc.value)

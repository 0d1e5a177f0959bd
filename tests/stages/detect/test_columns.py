"""Table columns whose header is a label: each cell is read as if the label stood before it."""

from __future__ import annotations

from pathlib import Path

import pytest
from findings_of import found

from docveil.context import StageContext
from docveil.engine import Engine
from docveil.types import Principal

ALICE = Principal("acme", "alice", frozenset({"analyst"}))

CSV = """name,dob,account_number,sort_code,mrn,phone,licence_plate
Jane Roe,1985-03-14,31926819,20-00-00,00412345,020 7946 0958,AB12 CDE
Tomasz Nowak,02/11/1979,55779911,40-11-22,00498811,07700 900123,M-KR 4821
"""
MARKDOWN = """Ward list

| Patient | Date of birth | MRN (hospital) | Policy number |
|---|:---:|---|---|
| Maria Gonzalez | 14.03.1985 | 00412345 | POL-99812374 |
| Li Wei | 1990-07-01 | 00512399 | POL-11223344 |

Reviewed on Monday.
"""
# What the HTML and Word loaders write for a table: cells parted by tabs, one row a line.
TABS = "Customer ID\tBank account\tAmount\nCUST-004512\t3192 6819\t120.00\nCUST-004513\t4412 8890\t75.50\n"



def test_csv_columns_are_read_under_their_headers(detect_context: StageContext) -> None:
    values = found(CSV, detect_context)
    assert {("PERSON", "Jane Roe"), ("PERSON", "Tomasz Nowak"), ("DATE_OF_BIRTH", "1985-03-14"),
            ("DATE_OF_BIRTH", "02/11/1979"), ("BANK_ACCOUNT", "31926819"), ("BANK_ACCOUNT", "20-00-00"),
            ("RECORD_ID", "00412345"), ("RECORD_ID", "00498811"), ("PHONE_NUMBER", "07700 900123"),
            ("LICENSE_PLATE", "AB12 CDE"), ("LICENSE_PLATE", "M-KR 4821")} <= values


def test_markdown_tables_skip_the_rule_line_and_read_parenthesised_headers(detect_context: StageContext) -> None:
    values = found(MARKDOWN, detect_context)
    assert {("DATE_OF_BIRTH", "14.03.1985"), ("DATE_OF_BIRTH", "1990-07-01"), ("RECORD_ID", "00412345"),
            ("RECORD_ID", "00512399"), ("RECORD_ID", "POL-99812374"), ("RECORD_ID", "POL-11223344"),
            ("PERSON", "Maria Gonzalez"), ("PERSON", "Li Wei")} <= values


def test_tab_separated_cells_are_read_and_other_columns_left_alone(detect_context: StageContext) -> None:
    values = found(TABS, detect_context)
    assert {("RECORD_ID", "CUST-004512"), ("BANK_ACCOUNT", "3192 6819"), ("BANK_ACCOUNT", "4412 8890")} <= values
    assert not {value for _, value in values} & {"120.00", "75.50"}


def test_quoted_csv_cells_keep_their_commas(detect_context: StageContext) -> None:
    text = 'note,full name,dob\n"late, again","Roe, Jane",1985-03-14\n"fine","Tom Hardy",1979-11-02\n'
    values = found(text, detect_context)
    assert ("DATE_OF_BIRTH", "1985-03-14") in values and ("DATE_OF_BIRTH", "1979-11-02") in values
    assert ("PERSON", "Tom Hardy") in values


def test_a_csv_row_with_an_unquoted_comma_in_a_later_cell_is_still_read(detect_context: StageContext) -> None:
    text = ("drop_no,recipient,address,signed_by\n1,Agnieszka Nowak,14 Albion Street,A. Nowak\n"
            "5,Siobhan O'Driscoll,Flat 9, 120 Otley Road,S. O'Driscoll\n6,Ahmed bin Yusuf,77 Roundhay Road,Sam\n")
    values = found(text, detect_context)
    assert {("PERSON", "Siobhan O'Driscoll"), ("PERSON", "Ahmed bin Yusuf")} <= values
    # A longer row is read as long as the first: a header below it with more cells reads no
    # column the other rows do not have.
    assert ("DATE_OF_BIRTH", "1985-03-14") in found("a,b\nname,dob,extra\nJane Roe,1985-03-14\n", detect_context)


def test_a_wider_row_followed_by_rows_of_its_width_heads_a_table_of_its_own(detect_context: StageContext) -> None:
    text = ("name,dob\nJane Roe,1985-03-14\naccount_number,sort_code,holder\n31926819,20-00-00,x\n"
            "44128890,20-00-01,y\n")
    assert {("BANK_ACCOUNT", "31926819"), ("BANK_ACCOUNT", "20-00-00"), ("BANK_ACCOUNT", "44128890"),
            ("BANK_ACCOUNT", "20-00-01")} <= found(text, detect_context)
    # A wider last line is no row of the table either.
    tail = found("name,dob\nJane Roe,1985-03-14\nPlease Note, all entries, are provisional\n", detect_context)
    assert ("PERSON", "Please Note") not in tail


@pytest.mark.parametrize("text", [
    "Project name,Budget\nApollo Launch,31926819\nHermes Relay,44128890\n",  # "name" is not the whole header
    "Order number,Amount\n31926819,20-00-00\n",  # no bank label in the header
])
def test_headers_that_are_not_labels_read_nothing(text: str, detect_context: StageContext) -> None:
    assert not {entity for entity, _ in found(text, detect_context)} & {"BANK_ACCOUNT", "RECORD_ID", "PERSON"}


@pytest.mark.parametrize("text", [
    "DOB,Team\n1985-03-14,Blue\n\nMeeting on 2024-05-12,Room 4\n",  # a blank line ends the table
    "DOB,Team\n1985-03-14,Blue\nNotes only\nMeeting on 2024-05-12,Room 4\n",  # so does a line of another shape
])
def test_a_table_row_after_its_end_is_not_read(text: str, detect_context: StageContext) -> None:
    values = found(text, detect_context)
    assert ("DATE_OF_BIRTH", "1985-03-14") in values
    assert ("DATE_OF_BIRTH", "2024-05-12") not in values


def test_a_csv_file_is_stored_without_its_column_values(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(CSV, encoding="utf-8")
    redacted = engine.redact(path, ALICE).text
    for value in ("Jane Roe", "1985-03-14", "31926819", "20-00-00", "00412345", "AB12 CDE", "M-KR 4821"):
        assert value not in redacted
    assert redacted.splitlines()[0] == "name,dob,account_number,sort_code,mrn,phone,licence_plate"


def test_the_header_may_follow_a_line_of_the_same_shape(detect_context: StageContext) -> None:
    text = "Hi Sam, the list:\nName,Account number\nJane Roe,31926819\nTom Hardy,55779911\n"
    values = found(text, detect_context)
    assert {("BANK_ACCOUNT", "31926819"), ("BANK_ACCOUNT", "55779911"), ("PERSON", "Tom Hardy")} <= values


def test_headers_with_qualifiers_signs_and_other_languages(detect_context: StageContext) -> None:
    text = ("Account #,Policy #,Birth date,Mobile phone,Home phone,Approved by\n"
            "31926819,POL-1234567,1985-03-14,07700 900123,020 7946 0958,Jane Roe\n")
    assert {("BANK_ACCOUNT", "31926819"), ("RECORD_ID", "POL-1234567"), ("DATE_OF_BIRTH", "1985-03-14"),
            ("PHONE_NUMBER", "07700 900123"), ("PHONE_NUMBER", "020 7946 0958"),
            ("PERSON", "Jane Roe")} <= found(text, detect_context)
    german = "Name;Geburtsdatum;Kundennummer\nAnna Schmidt;14.03.1985;88123-04\n"
    assert {("DATE_OF_BIRTH", "14.03.1985"), ("RECORD_ID", "88123-04")} <= found(german, detect_context)


def test_a_header_keeps_its_own_words(detect_context: StageContext) -> None:
    # Read as "Call ID: 48213977", which no phone recognizer takes for a number to call.
    assert not found("Call ID,Duration\n48213977,00:05:12\n", detect_context)


def test_crlf_lines_quoted_surnames_first_and_open_markdown_rows(detect_context: StageContext) -> None:
    crlf = 'dob,name\r\n1985-03-14,"Roe, Jane"\r\n1979-11-02,"Hardy, Tom"\r\n'
    assert {("DATE_OF_BIRTH", "1979-11-02"), ("PERSON", "Roe, Jane"), ("PERSON", "Hardy, Tom")} <= found(
        crlf, detect_context)
    markdown = "| Name | DOB |\n|---|---|\n| Jane Roe | 1985-03-14 |\n| Tom Hardy | 1979-11-02\n"
    assert ("DATE_OF_BIRTH", "1979-11-02") in found(markdown, detect_context)


def test_the_score_threshold_holds_for_columns_too(settings, model_stash) -> None:
    from docveil.plugins import make_plugin_manager

    strict = settings.with_overrides(score_threshold=0.9)
    context = StageContext(strict, hook=make_plugin_manager(strict).hook, stash=model_stash)
    assert not found("dob,account number\n1985-03-14,31926819\n", context)


def test_an_html_table_is_read_by_column(detect_context: StageContext) -> None:
    from bs4 import BeautifulSoup

    from docveil.stages.load.html import html_text

    page = ("<table><tr><th>Patient</th><th>MRN</th><th>Date of birth</th></tr>"
            "<tr><td>Maria Gonzalez</td><td>00412345</td><td>14.03.1985</td></tr>\n"
            "  <tr>\n <td>Li Wei</td>\n <td>00512399</td> <td>1990-07-01</td></tr></table>")
    text = html_text(BeautifulSoup(page, "html.parser"))
    assert {("RECORD_ID", "00412345"), ("RECORD_ID", "00512399"), ("DATE_OF_BIRTH", "14.03.1985"),
            ("DATE_OF_BIRTH", "1990-07-01")} <= found(text, detect_context)


def test_a_form_of_labels_and_values_is_no_table(detect_context: StageContext) -> None:
    # An aligned form as a PDF reads: its label column is no header over the labels below it.
    values = found("Name:\tJane Roe\nEmployee Number:\tE-1234\nDepartment:\tFinance\n", detect_context)
    assert ("PERSON", "Jane Roe") in values
    assert not {value for _, value in values} & {"Employee Number", "Department"}

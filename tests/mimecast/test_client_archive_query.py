import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from investigations.mimecast import ArchiveQuery, MimecastConfigError


def test_the_default_query_matches_the_contract_template():
    root = ET.fromstring(ArchiveQuery().to_xml())  # noqa: S314 - our own output
    assert root.tag == "xmlquery"
    metadata = root.find("metadata")
    assert metadata.get("query-type") == "emailarchive"
    assert metadata.get("page-size") == "25"
    assert metadata.get("startrow") == "0"
    fields = [f.text for f in metadata.find("return-fields")]
    assert {"id", "subject", "receiveddate", "displayfrom", "smash", "attachmentcount"} <= set(fields)
    muse = root.find("muse")
    assert muse.find("date").get("select") == "last_year"
    assert muse.find("docs").get("select") == "optional"


def test_all_criteria_end_up_in_the_query():
    query = ArchiveQuery(
        text="invoice",
        subject="payment due",
        body="wire transfer",
        attachment_text="IBAN",
        document_type="spreadsheets",
        from_address="ceo@example.com",
        to_address="finance@example.com",
        mailbox="alice@example.com",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 2, 1, 12, 30, tzinfo=UTC),
        page_size=50,
        start_row=100,
    )
    root = ET.fromstring(query.to_xml())  # noqa: S314 - our own output
    metadata = root.find("metadata")
    assert metadata.get("page-size") == "50"
    assert metadata.get("startrow") == "100"
    mailbox = metadata.find("mailboxes/mailbox")
    assert mailbox.text == "alice@example.com"
    assert mailbox.get("include-aliases") == "true"
    muse = root.find("muse")
    assert muse.find("text").text == "invoice subject: payment due (body: wire transfer)"
    date = muse.find("date")
    assert (date.get("select"), date.get("from"), date.get("to")) == (
        "between",
        "2024-01-01T00:00:00+0000",
        "2024-02-01T12:30:00+0000",
    )
    sent = {s.get("select"): s.text for s in muse.findall("sent")}
    assert sent == {"from": "ceo@example.com", "to": "finance@example.com"}
    docs = muse.find("docs")
    assert (docs.get("select"), docs.text) == ("spreadsheets", "IBAN")


def test_user_input_cannot_inject_xml():
    query = ArchiveQuery(text='</text><evil attr="1"/>&', mailbox="a<b>@x")
    root = ET.fromstring(query.to_xml())  # noqa: S314 - our own output
    assert root.find("muse/text").text == '</text><evil attr="1"/>&'
    assert root.find(".//evil") is None
    assert root.find("metadata/mailboxes/mailbox").text == "a<b>@x"


@pytest.mark.parametrize(
    "kwargs",
    [{"page_size": 0}, {"page_size": 101}, {"start_row": -1}, {"document_type": 'x" evil="1'}, {"date_select": "x"}],
)
def test_invalid_query_settings_are_refused(kwargs):
    with pytest.raises(MimecastConfigError):
        ArchiveQuery(**kwargs).to_xml()

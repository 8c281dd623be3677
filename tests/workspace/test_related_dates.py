"""The related-activity section takes "when the message arrived" from its link: any date there,
however absurd, gives a page (never an overflow) and windows that run forwards. A date Mimecast
sends outside any plausible range reads as missing, not as a failure."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from investigations.mimecast.types import Incident, parse, parse_datetime, parse_list

WINDOW_PATHS = ("/api/ttp/url/get-logs", "/api/ttp/attachment/get-logs", "/api/ttp/impersonation/get-logs")
ARRIVALS = [
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00+1400",
    "9999-12-31T23:59:59-1200",
    "2099-06-01T10:00:00+0000",
    "1999-06-01T10:00:00+0000",
    "garbage",
]


@pytest.mark.parametrize("arrived", ARRIVALS)
def test_any_arrival_time_gives_the_related_section(client, analyst, sim, arrived):
    message = next(m for m in sim.state.messages if m.route == "inbound")
    sim.calls.clear()
    client.force_login(analyst)
    params = {"t": arrived, "mid": message.mime_id or "", "from": message.from_addr, "subject": message.subject}
    response = client.get(reverse("message-related", args=[message.id]), params, headers={"HX-Request": "true"})
    assert response.status_code == 200
    windows = [c.json["data"][0] for c in sim.calls if c.path in WINDOW_PATHS and c.json and c.json.get("data")]
    assert windows, "the log calls went out"
    for data in windows:
        start, end = (
            parse_datetime(data.get("from") or data.get("start")),
            parse_datetime(data.get("to") or data.get("end")),
        )
        assert start and end and start <= end, data


def test_the_related_service_bounds_the_arrival_time_it_is_given(analyst, sim):
    """Called directly (not through the page's parsing), year 1 and 9999 still give windows."""
    from investigations.workspace.services import RelatedQuery, message_related

    for received in (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)):
        related = message_related(query=RelatedQuery(message_id="x", received=received))
        assert set(related["sections"]) >= {"clicks", "attachments", "impersonation"}


OUT_OF_RANGE = ["0001-01-01T00:00:00+0100", "9999-12-31T23:59:59-0500", "0001-01-01", "9999-12-31T23:59:59Z"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_a_mimecast_date_out_of_range_reads_as_missing(value):
    assert parse_datetime(value) is None
    # Through msgspec's single pass (a well-formed item) and its field-by-field path (an odd one).
    assert parse(Incident, {"id": "i1", "create": value}).create is None
    odd, fine = parse_list(Incident, [{"id": 7, "create": value}, {"id": "i2", "create": "2022-07-18T13:25:00+0000"}])
    assert odd.create is None
    assert fine.create == datetime(2022, 7, 18, 13, 25, tzinfo=UTC)


def test_mimecasts_own_eternal_bounds_still_read():
    assert parse_datetime("1900-01-01T00:00:00+0000") == datetime(1900, 1, 1, tzinfo=UTC)
    assert parse_datetime("2100-01-01T23:59:59+0000") == datetime(2100, 1, 1, 23, 59, 59, tzinfo=UTC)

"""The real msgraph-sdk and azure-identity, over real HTTPS, against the stand-in."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bot.config import GraphSettings
from bot.domain import Person
from bot.errors import CalendarUnavailable
from bot.protocols import BusyInterval, FreeBusy, PersonCalendar
from integrations.graph.source import GraphSource
from tests.integrations.graph.standin import GraphStandIn, Mailbox

START = datetime(2026, 10, 31, tzinfo=UTC)
END = datetime(2026, 11, 6, tzinfo=UTC)
EMAILS = ("ana@shop.test", "ben@shop.test", "cleo@shop.test", "sam@shop.test")
PEOPLE = [Person(e, e.split("@")[0], "PJSIP/1", timezone="UTC") for e in EMAILS]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
async def source(graph_settings: GraphSettings) -> AsyncIterator[GraphSource]:
    found = GraphSource(graph_settings)
    yield found
    await found.close()


@pytest.fixture
async def fetched(source: GraphSource) -> dict[str, PersonCalendar]:
    return await source.fetch(PEOPLE, START, END)


def by_subject(calendar: PersonCalendar, subject: str) -> list[BusyInterval]:
    return [i for i in calendar.intervals if i.subject == subject]


async def test_a_normal_meeting_is_busy_in_utc(
    fetched: dict[str, PersonCalendar],
) -> None:
    (budget,) = by_subject(fetched["ana@shop.test"], "Budget review")

    assert (budget.start, budget.end) == (
        utc("2026-11-02T14:00"),
        utc("2026-11-02T14:30"),
    )
    assert budget.status is FreeBusy.BUSY and not budget.private


async def test_a_tentative_meeting_keeps_its_status(
    fetched: dict[str, PersonCalendar],
) -> None:
    (vendor,) = by_subject(fetched["ana@shop.test"], "Vendor call (maybe)")

    assert vendor.status is FreeBusy.TENTATIVE


async def test_an_all_day_out_of_office_spans_the_persons_own_day(
    fetched: dict[str, PersonCalendar],
) -> None:
    (trip,) = by_subject(fetched["ana@shop.test"], "All Saints' trip")

    # Her mailbox is on W. Europe Standard Time: midnight there is 23:00 UTC.
    assert trip.all_day and trip.status is FreeBusy.OOF
    assert (trip.start, trip.end) == (utc("2026-11-02T23:00"), utc("2026-11-03T23:00"))


async def test_a_meeting_in_another_windows_time_zone(
    fetched: dict[str, PersonCalendar],
) -> None:
    (seattle,) = by_subject(fetched["ana@shop.test"], "Sync with Seattle")

    assert seattle.start == utc("2026-11-02T17:00")  # 09:00 Pacific Standard Time


async def test_a_private_meeting_has_no_subject(
    fetched: dict[str, PersonCalendar],
) -> None:
    private = [i for i in fetched["ana@shop.test"].intervals if i.private]

    assert len(private) == 1
    assert private[0].subject == "" and private[0].start == utc("2026-11-02T11:00")


async def test_a_recurring_series_with_one_occurrence_moved(
    fetched: dict[str, PersonCalendar],
) -> None:
    (usual,) = by_subject(fetched["ana@shop.test"], "Stand-up")
    (moved,) = by_subject(fetched["ana@shop.test"], "Stand-up (moved)")

    assert usual.start == utc("2026-11-02T08:30")
    assert moved.start == utc("2026-11-03T12:00")


async def test_a_daylight_saving_day_moves_the_utc_time(
    fetched: dict[str, PersonCalendar],
) -> None:
    handovers = by_subject(fetched["ana@shop.test"], "On-call handover")

    # 09:00 in Seattle both days; US clocks went back on 1 November.
    assert [h.start for h in handovers] == [
        utc("2026-10-31T16:00"),
        utc("2026-11-01T17:00"),
    ]


async def test_cancelled_events_do_not_count(
    fetched: dict[str, PersonCalendar],
) -> None:
    assert by_subject(fetched["ana@shop.test"], "Cancelled: old sync") == []


async def test_working_hours_and_automatic_replies_from_mailbox_settings(
    fetched: dict[str, PersonCalendar],
) -> None:
    ana = fetched["ana@shop.test"]
    replies = [i for i in ana.intervals if i.automatic_reply]

    assert ana.working_hours is not None
    assert ana.working_hours.timezone == "Europe/Berlin"
    assert ana.working_hours.days == frozenset({0, 1, 2, 3, 4})
    assert ana.working_hours.start.hour == 8 and ana.working_hours.end.hour == 17
    assert [(r.start, r.end) for r in replies] == [
        (utc("2026-11-04T00:00"), utc("2026-11-05T00:00"))
    ]


async def test_a_throttled_item_is_sent_again_after_retry_after(
    source: GraphSource, standin: GraphStandIn
) -> None:
    began = time.monotonic()
    found = await source.fetch(PEOPLE, START, END)

    assert time.monotonic() - began >= 1.0  # the item's Retry-After: 1
    assert not found["ben@shop.test"].error
    assert [i.subject for i in found["ben@shop.test"].intervals] == ["Pipeline review"]
    assert standin.counts["batch"] == 2  # one batch, then the throttled item again


async def test_a_throttled_batch_is_retried_by_the_sdk(
    source: GraphSource, standin: GraphStandIn
) -> None:
    standin.throttle_batches = 1
    standin.mailboxes["ben@shop.test"].throttle = 0

    found = await source.fetch(PEOPLE, START, END)

    assert standin.counts["batch"] == 2
    assert found["ana@shop.test"].intervals and not found["ana@shop.test"].error


async def test_a_mailbox_error_leaves_the_rest_of_the_batch(
    fetched: dict[str, PersonCalendar], standin: GraphStandIn
) -> None:
    assert fetched["cleo@shop.test"].error == (
        "Graph answered 404 (MailboxNotEnabledForRESTAPI)"
    )
    assert not fetched["ana@shop.test"].error
    assert not fetched["sam@shop.test"].error


async def test_times_are_asked_for_in_utc(
    fetched: dict[str, PersonCalendar], standin: GraphStandIn
) -> None:
    assert standin.prefer_utc >= len(EMAILS)


async def test_presence_for_everyone_in_one_request(
    source: GraphSource, standin: GraphStandIn
) -> None:
    await source.fetch(PEOPLE, START, END)

    readings = await source.presence(PEOPLE)

    assert standin.counts["presence"] == 1
    assert readings["ben@shop.test"].activity == "InACall"
    assert readings["cleo@shop.test"].availability == "DoNotDisturb"


async def test_many_people_stay_within_the_documented_limits(
    source: GraphSource, standin: GraphStandIn
) -> None:
    crowd = [Person(f"p{n}@shop.test", f"P{n}", "PJSIP/1") for n in range(700)]
    for n, person in enumerate(crowd):
        standin.mailboxes[person.email] = Mailbox(person.email, f"id-{n}")

    found = await source.fetch(crowd, START, END)
    readings = await source.presence(crowd)

    assert max(standin.batch_sizes) == 20
    assert standin.counts["batch"] == 70  # 1,400 requests, 20 to a batch
    assert standin.counts["presence"] == 2  # 650 ids, then 50
    assert len(found) == 700 and len(readings) == 700


async def test_long_calendars_are_read_page_by_page(
    source: GraphSource, standin: GraphStandIn
) -> None:
    template = standin.mailboxes["ben@shop.test"].events[0]
    busy = Mailbox("busy@shop.test", "id-busy", events=[dict(template)] * 300)
    standin.mailboxes["busy@shop.test"] = busy

    found = await source.fetch(
        [Person("busy@shop.test", "Busy", "PJSIP/9")], START, END
    )

    assert len(found["busy@shop.test"].intervals) == 300


async def test_a_wrong_secret_means_the_calendar_is_unavailable(
    graph_settings: GraphSettings, standin: GraphStandIn
) -> None:
    standin.secret = "rotated"
    source = GraphSource(graph_settings)
    try:
        with pytest.raises(CalendarUnavailable) as caught:
            await source.fetch(PEOPLE, START, END)
    finally:
        await source.close()

    assert "stand-in-client-secret" not in str(caught.value)


def certificate_files(folder: Path) -> tuple[Path, x509.Certificate]:
    """An app registration's certificate: RSA key and self-signed cert, one PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ccbot")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = folder / "ccbot-graph.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path, cert


async def test_certificate_sign_in(
    graph_settings: GraphSettings, standin: GraphStandIn, tmp_path: Path
) -> None:
    path, cert = certificate_files(tmp_path)
    standin.certificate = cert
    settings = graph_settings.model_copy(
        update={"client_secret_env": "", "certificate_path": str(path)}
    )
    source = GraphSource(settings)
    try:
        found = await source.fetch(PEOPLE[:1], START, END)
    finally:
        await source.close()

    assert standin.counts["token"] == 1
    assert by_subject(found["ana@shop.test"], "Budget review")


async def test_managed_identity_sign_in(
    graph_settings: GraphSettings,
    standin: GraphStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # App Service names its identity endpoint in these two variables.
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{standin.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", standin.identity_header)
    settings = graph_settings.model_copy(
        update={"client_secret_env": "", "managed_identity": True}
    )
    source = GraphSource(settings)
    try:
        found = await source.fetch(PEOPLE[:1], START, END)
    finally:
        await source.close()

    assert standin.counts["token"] == 1
    assert by_subject(found["ana@shop.test"], "Budget review")

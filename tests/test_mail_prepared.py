"""PreparedMessage (the fast per-recipient path of a newsletter) gives the same message as
build_message + message_bytes."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.headerregistry import Address
from zoneinfo import ZoneInfo

import pytest

from outreach.mail.message import PreparedMessage, build_message, message_bytes

COMMON = {
    "sender": "Kraftsamling <nyhetsbrev@example.org>",
    "subject": "Kraftsamlingen: två utlysningar från Vinnova och event i maj, en lång rubrik som viks",
    "reply_to": "Redaktionen <redaktion@example.org>",
    "list_id": "Kraftsamling för AI i kommuner och civilsamhälle <kraftsamling.example.org>",
    "one_click": True,
    "headers": {"List-Archive": "<https://example.org/nyhetsbrev/2023-04-26/>"},
}


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("Åsa Öberg", "asa@example.se"),
        (None, "erik@example.org"),
        ('Lind, "Erik" (IT)', "erik@example.org"),
        ("Ångström " * 20, "lang@example.se"),
    ],
)
def test_prepared_message_equals_build_message(name: str | None, address: str) -> None:
    when = dt.datetime(2023, 4, 26, 8, 10, tzinfo=ZoneInfo("Europe/Stockholm"))
    text = "Hej Åsa!\n\n" + "Rad med åäö och = tecken. " * 20 + "\n.\nFrom här\n"
    html = "<p>Hej Åsa!</p>" + "<p>x = y</p>" * 200
    uris = ["https://example.org/u/WzEsImFiYyJd.sig", "mailto:avregistrera@example.org?subject=u"]
    prepared = PreparedMessage(**COMMON).render(  # type: ignore[arg-type]
        to_name=name,
        to_address=address,
        text=text,
        html=html,
        list_unsubscribe=uris,
        message_id="<a@example.org>",
        date=when,
    )
    to = Address(display_name=name or "", addr_spec=address)
    reference = message_bytes(
        build_message(
            to=to,
            text=text,
            html=html,
            list_unsubscribe=uris,
            message_id="<a@example.org>",
            date=when,
            **COMMON,  # type: ignore[arg-type]
        )
    )
    assert all(len(line) <= 998 for line in prepared.split(b"\r\n"))
    assert b"\n" not in prepared.replace(b"\r\n", b"")
    fast = email.message_from_bytes(prepared, policy=policy.default)
    slow = email.message_from_bytes(reference, policy=policy.default)
    for header in (
        "From",
        "Subject",
        "Reply-To",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "List-Archive",
        "MIME-Version",
    ):
        assert str(fast[header]) == str(slow[header]), header
    # (build_message folds long encoded names with stray spaces; the prepared path does not.)
    assert fast["To"].addresses[0].display_name == (name or "")
    assert fast["To"].addresses[0].addr_spec == slow["To"].addresses[0].addr_spec
    assert [p.get_content_type() for p in fast.iter_parts()] == ["text/plain", "text/html"]
    for kind in ("plain", "html"):
        assert fast.get_body((kind,)).get_content() == slow.get_body((kind,)).get_content()


def test_internationalised_addresses() -> None:
    prepared = PreparedMessage(**COMMON)  # type: ignore[arg-type]
    args = {
        "to_name": "Åsa",
        "text": "x",
        "html": "<p>x</p>",
        "list_unsubscribe": ["https://example.org/u/t"],
        "message_id": "<a@example.org>",
        "date": dt.datetime(2023, 4, 26, tzinfo=ZoneInfo("Europe/Stockholm")),
    }
    data = prepared.render(to_address="asa@exempel-ö.se", **args)  # type: ignore[arg-type]
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "asa@xn--exempel--u4a.se"
    # A non-ASCII local part: the To header in UTF-8 (RFC 6532), never an encoded-word; the
    # transport sends it with SMTPUTF8 or refuses it (tests/test_smtputf8.py).
    data = prepared.render(to_address="lång@exempel.se", **args)  # type: ignore[arg-type]
    assert "To: Åsa <lång@exempel.se>\r\n".encode() in data
    parsed = email.message_from_string(data.decode("utf-8"), policy=policy.SMTPUTF8)
    assert parsed["To"].addresses[0].addr_spec == "lång@exempel.se"


def test_quoted_printable_template_equals_encoding_the_whole_body() -> None:
    import re

    from outreach.mail.message import QuotedPrintableTemplate, quoted_printable

    body = (
        "<html><head><style>a { color: #0b5cad; }</style></head>\n"
        + "<p>Lång rad med = och åäö "
        + "x" * 300
        + "</p>\n"
        + "@@greeting@@  \n"
        + "<p>mer text  </p>\n\n"
        + '<a href="@@unsubscribe_url@@">Avregistrera</a>'
    )
    values = {"greeting": "Hej Åsa!", "unsubscribe_url": "https://example.org/u/" + "t" * 90}
    pattern = re.compile(r"@@(\w+)@@")

    def fill(text: str) -> str:
        return pattern.sub(lambda m: values[m.group(1)], text)

    template = QuotedPrintableTemplate(body, pattern)
    assert template.encode(fill) == quoted_printable(fill(body))

"""Email: headers and body as the message page, attachments as the pages that follow, loaded
by the same loaders as files; limits on attachments and nesting; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.stages.load.sniff import sniff_media_type
from docveil.types import Document
from tests.document_corpus import (
    docx,
    email_message,
    expect_load_error,
    full_context,
    load_bytes,
    pdf_with_pictures,
    text_picture,
)

SENDER = "Maria Gonzalez <maria.gonzalez@example.org>"
RECIPIENT = "Thomas Becker <t.becker@example.com>"


@pytest.fixture
def context(tmp_path: Path) -> StageContext:
    return full_context(tmp_path / "home")


def load(context: StageContext, data: bytes, name: str = "mail.eml") -> Document:
    return load_bytes(context, data, name)


def load_error(context: StageContext, data: bytes, name: str = "bad.eml") -> LoadError:
    return expect_load_error(context, data, name)


def png(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_headers_then_body_make_the_message_page(context: StageContext) -> None:
    data = email_message(subject="Claim for Jane Roe", sender=SENDER, to=RECIPIENT,
                         body="Hello Thomas,\r\nplease call me on 555-0100.\r\n")
    document = load(context, data)
    assert document.media_type == "message/rfc822" and document.page_count == 1
    assert document.pages[0].text == (
        f"Subject: Claim for Jane Roe\nFrom: {SENDER}\nTo: {RECIPIENT}\nDate: Tue, 04 Mar 2025 10:15:00 +0100"
        "\n\nHello Thomas,\nplease call me on 555-0100.")
    assert document.metadata == {"subject": "Claim for Jane Roe", "from": SENDER, "to": RECIPIENT,
                                 "date": "Tue, 04 Mar 2025 10:15:00 +0100"}


def test_html_only_body_gives_its_visible_text(context: StageContext) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, RECIPIENT, "Newsletter"
    message.set_content("<html><head><style>p{}</style></head><body><p>Hi <b>Jane</b></p>"
                        "<script>track()</script></body></html>", subtype="html")
    text = load(context, bytes(message)).pages[0].text
    assert text.endswith("\n\nHi Jane") and "track" not in text


def test_html_body_over_the_markup_limit_is_refused(tmp_path: Path) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, RECIPIENT, "Newsletter"
    message.set_content("<p>Hi</p>" + "<br>" * 100, subtype="html")
    error = load_error(full_context(tmp_path / "home", max_markup=100), bytes(message))
    assert isinstance(error, LimitExceededError)
    assert error.reason == "HTML has more than 100 tags, comments and attributes, over the markup limit (max_markup)"


def test_plain_body_is_preferred_over_its_html_twin(context: StageContext) -> None:
    data = email_message(subject="s", sender=SENDER, to=RECIPIENT, body="plain version",
                         html="<p>html version</p>")
    document = load(context, data)
    assert document.pages[0].text.endswith("\n\nplain version") and document.page_count == 1


def test_attachments_become_pages_loaded_like_files(context: StageContext) -> None:
    attachments = [
        ("Gonzalez_statement.pdf", pdf_with_pictures(["Statement of Maria Gonzalez"], [],
                                                     extra_pages=[["Page two"]]), "application/pdf"),
        ("contract.docx", docx(["Contract between ACME and Thomas Becker"]),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("note.png", png(text_picture(["Call Jane Roe"])), "image/png"),
        ("notes.txt", b"Plain notes about Jane Roe.", "text/plain"),
    ]
    document = load(context, email_message(subject="Documents", sender=SENDER, to=RECIPIENT, body="See attached.",
                                           attachments=attachments))
    assert document.page_count == 6
    assert [page.number for page in document.pages] == [1, 2, 3, 4, 5, 6]
    message = document.pages[0].text
    assert message.endswith("See attached.\n\nAttachment 1: Gonzalez_statement.pdf (pages 2-3)\n"
                            "Attachment 2: contract.docx (page 4)\nAttachment 3: note.png (page 5)\n"
                            "Attachment 4: notes.txt (page 6)")
    assert document.pages[1].text == "Statement of Maria Gonzalez" and document.pages[1].char_boxes is not None
    assert document.pages[2].text == "Page two"
    assert document.pages[3].text == "Contract between ACME and Thomas Becker"
    assert document.pages[4].image is not None and "Jane Roe" in document.pages[4].text
    assert document.pages[5].text == "Plain notes about Jane Roe."
    assert document.metadata["attachments"].startswith("Attachment 1: Gonzalez_statement.pdf (pages 2-3); ")


def test_attachments_of_other_kinds_are_counted_not_read(context: StageContext) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "inside")
    document = load(context, email_message(subject="s", sender=SENDER, to=RECIPIENT, body="zip attached",
                                           attachments=[("files.zip", buffer.getvalue(), "application/zip")]))
    assert document.page_count == 1 and document.metadata["attachments_not_read"] == "1"
    assert "files.zip" not in document.pages[0].text


def test_attached_email_is_opened_within_the_nesting_limit(tmp_path: Path) -> None:
    inner = email_message(subject="Inner", sender=SENDER, to=RECIPIENT, body="Forwarded words.")
    middle = email_message(subject="Middle", sender=SENDER, to=RECIPIENT, body="FYI",
                           attachments=[("inner.eml", inner, "message/rfc822")])
    outer = email_message(subject="Outer", sender=SENDER, to=RECIPIENT, body="See below",
                          attachments=[("middle.eml", middle, "message/rfc822")])
    document = load(full_context(tmp_path / "home"), outer)
    assert document.page_count == 3 and document.pages[2].text.endswith("Forwarded words.")
    error = load_error(full_context(tmp_path / "home", max_nesting=2), outer)
    assert isinstance(error, LimitExceededError)
    assert error.reason == ("attachment 1 (an email message): attachment 1 (an email message): "
                            "emails nested more than 2 deep (max_nesting)")


def test_attached_email_encoded_in_base64_is_still_read(context: StageContext) -> None:
    from email.message import EmailMessage

    inner = email_message(subject="Inner", sender=SENDER, to=RECIPIENT, body="Forwarded words.")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = SENDER, RECIPIENT, "Fwd"
    outer.set_content("See below")
    outer.add_attachment(inner, maintype="message", subtype="rfc822", filename="inner.eml")  # bytes: base64
    assert b"Content-Transfer-Encoding: base64" in bytes(outer)
    document = load(context, bytes(outer))
    assert document.page_count == 2 and document.pages[1].text.endswith("Forwarded words.")


def test_email_with_hundreds_of_attachments_is_refused_before_any_is_read(context: StageContext,
                                                                           monkeypatch) -> None:
    from docveil.stages.load import eml

    opened: list[int] = []
    original = eml._attachment
    monkeypatch.setattr(eml, "_attachment", lambda *args: opened.append(1) or original(*args))
    data = email_message(subject="spam", sender=SENDER, to=RECIPIENT, body="x",
                         attachments=[(f"f{n}.txt", b"tiny", "text/plain") for n in range(300)])
    error = load_error(context, data, "many.eml")
    assert isinstance(error, LimitExceededError)
    assert error.reason == "email has 300 attachments, over the 50 attachment limit (max_attachments)"
    assert opened == []


def test_a_broken_attachment_fails_the_email(context: StageContext) -> None:
    data = email_message(subject="s", sender=SENDER, to=RECIPIENT, body="report attached",
                         attachments=[("report.pdf", b"%PDF-1.7\n" + b"junk " * 100 + b"\n%%EOF\n",
                                       "application/pdf")])
    error = load_error(context, data)
    assert error.reason == "attachment 1 (a PDF document): corrupt PDF: not a readable PDF structure"


def test_attachment_limits_count_over_the_whole_message(tmp_path: Path) -> None:
    context = full_context(tmp_path / "home", max_pages=3)
    pdf = pdf_with_pictures(["one"], [], extra_pages=[["two"], ["three"]])
    data = email_message(subject="s", sender=SENDER, to=RECIPIENT, body="b",
                         attachments=[("a.pdf", pdf, "application/pdf")])
    error = load_error(context, data)
    assert isinstance(error, LimitExceededError) and "max_pages" in error.reason


def test_email_is_recognised_by_its_headers_and_a_note_is_not() -> None:
    data = email_message(subject="s", sender=SENDER, to=RECIPIENT, body="b")
    assert sniff_media_type(data, "saved.txt") == "message/rfc822"
    assert sniff_media_type(b"Subject: minutes\nDate: Monday\n\nWe met.", "minutes.txt") == "text/plain"
    assert sniff_media_type(b"Subject: minutes\n\nWe met.", "minutes.eml") == "message/rfc822"
    assert sniff_media_type(b"Just words in a file called .eml", "odd.eml") == "text/plain"


HEADERS = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: lease\r\nMIME-Version: 1.0\r\n"


@pytest.mark.parametrize(("body_headers", "body"), [
    (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n",
     b"Hello=00world, the lease is signed."),
    (b"Content-Type: text/plain; charset=unicode_escape\r\n", b"Hello\\ud800world, the lease is signed."),
], ids=["nul", "lone-surrogate"])
def test_a_body_decoding_to_what_text_cannot_hold_reads_with_replacement_characters(
        context: StageContext, body_headers: bytes, body: bytes) -> None:
    page = load(context, HEADERS + body_headers + b"\r\n" + body + b"\r\n").pages[0]
    assert page.text.endswith("Hello\ufffdworld, the lease is signed.")


def test_multiparts_nested_past_the_parser_are_refused_naming_the_file(context: StageContext) -> None:
    depth = 1200
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth))
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    error = load_error(context, HEADERS + opening + b"Content-Type: text/plain\r\n\r\nhello\r\n" + closing, "deep.eml")
    assert str(error) == "deep.eml: structure nested too deeply to be read"


def test_the_people_of_the_address_headers_are_personal_values_attached_emails_included(
        context: StageContext) -> None:
    inner = (b"From: Seraphina Blackwood <s.blackwood@example.net>\r\nTo: team@example.org\r\n"
             b"Subject: notes\r\n\r\nSee you.\r\n")
    outer = (b"From: Percival Hawthorne <p.h@example.org>\r\nTo: \"Farraday, Ignatius\" <if@example.com>, "
             b"undisclosed-recipients:;\r\nCc: Lavinia Throckmorton <lt@example.com>\r\nSubject: fwd\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
             b"Content-Type: text/plain\r\n\r\nForwarding.\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n"
             + inner + b"\r\n--B--\r\n")
    document = load(context, outer)
    assert document.personal_values == (
        ("PERSON", "Percival Hawthorne"), ("EMAIL_ADDRESS", "p.h@example.org"),
        ("PERSON", "Farraday, Ignatius"), ("PERSON", "Ignatius Farraday"), ("EMAIL_ADDRESS", "if@example.com"),
        ("PERSON", "Lavinia Throckmorton"), ("EMAIL_ADDRESS", "lt@example.com"),
        ("PERSON", "Seraphina Blackwood"), ("EMAIL_ADDRESS", "s.blackwood@example.net"),
        ("EMAIL_ADDRESS", "team@example.org"))

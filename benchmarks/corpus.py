"""A deterministic corpus of business documents with planted personal data, for benchmarks.

Every value is synthetic: names come from short lists, numbers are random but valid in form
(Luhn-valid card numbers, IBANs with correct check digits, SSNs outside the reserved ranges),
so detectors that validate what they find treat them as real. The same ``seed`` always gives
the same files, byte for byte (PDFs are written with reportlab's invariant mode).

Documents are plain text, Markdown and multi-page PDF, 300 to 1,500 words by default. Each one
carries a different subset of the planted types, some values twice, and the list of what was
planted comes back with it so a benchmark can check that none of it was stored in clear.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

PLANTED_TYPES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IBAN_CODE",
                 "STREET_ADDRESS", "DATE_OF_BIRTH")


@dataclass(frozen=True)
class PlantedValue:
    entity_type: str
    value: str


@dataclass(frozen=True)
class CorpusDocument:
    path: Path
    kind: str  # "txt", "md" or "pdf"
    words: int
    pages: int
    planted: tuple[PlantedValue, ...]


# ---------------------------------------------------------------------------------------------
# Building blocks

FIRST_NAMES = (
    "Maria", "James", "Aisha", "Thomas", "Elena", "Daniel", "Priya", "Michael", "Sofia", "David",
    "Hannah", "Robert", "Chloe", "William", "Fatima", "Lukas", "Emily", "Jonathan", "Grace", "Samuel",
    "Olivia", "Benjamin", "Isabel", "Patrick", "Laura", "Andrew", "Nadia", "Christopher", "Rachel",
    "Mateo", "Sarah", "Kevin", "Julia", "Anthony", "Claire", "Victor", "Rebecca", "Oliver", "Helen",
    "Marcus", "Ingrid", "Gregory", "Amelia", "Stefan", "Lucy", "Henry", "Natalie", "Adrian", "Diana",
)
LAST_NAMES = (
    "Gonzalez", "Becker", "Kowalski", "Okafor", "Lindqvist", "Thompson", "Nakamura", "Fischer",
    "Rossi", "Patel", "Murphy", "Schneider", "Dubois", "Hernandez", "Johansson", "Walker", "Novak",
    "Sullivan", "Moreau", "Bennett", "Hoffmann", "Castillo", "Richardson", "Van der Berg", "Kim",
    "Mitchell", "Andersson", "Whitfield", "Campbell", "Ferreira", "Lambert", "Morrison", "Keller",
    "Brennan", "Takahashi", "Douglas", "Ivanova", "Harrington", "Silva", "Fitzgerald", "Weber",
    "Chandler", "Olsen", "Delgado", "Ramsey", "Abernathy", "Lowell", "Marchetti", "Sorensen",
)
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "mailbox.org", "protonmail.com",
                 "northwind-health.com", "contoso.com", "fabrikam.net", "acme-corp.com", "web.de")
US_CITIES = (("Springfield", "IL", "627"), ("Portland", "OR", "972"), ("Austin", "TX", "787"),
             ("Columbus", "OH", "432"), ("Denver", "CO", "802"), ("Madison", "WI", "537"),
             ("Raleigh", "NC", "276"), ("Boston", "MA", "021"), ("Tucson", "AZ", "857"),
             ("Richmond", "VA", "232"), ("Albany", "NY", "122"), ("Boise", "ID", "837"))
US_STREETS = ("Maple", "Oak", "Cedar", "Pine", "Elm", "Washington", "Lincoln", "Park", "Lake",
              "Hillcrest", "Franklin", "Jefferson", "Willow", "Sunset", "Highland", "Riverside")
US_STREET_TYPES = ("Street", "Avenue", "Road", "Lane", "Drive", "Court", "Boulevard", "Place")
EU_STREETS = (("Lindenstraße", "10115", "Berlin"), ("Hauptstraße", "69117", "Heidelberg"),
              ("Bahnhofstraße", "80335", "München"), ("Kalverstraat", "1012", "Amsterdam"),
              ("Schillerweg", "04155", "Leipzig"), ("Goethestraße", "60313", "Frankfurt"))
# Area codes in service; exchanges avoid 555 and the N11 codes.
US_AREA_CODES = ("212", "312", "415", "617", "646", "702", "206", "303", "512", "404", "614", "919")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")

DEPARTMENTS = ("finance", "procurement", "customer service", "claims", "human resources", "logistics",
               "compliance", "facilities", "the billing team", "the regional office", "operations")
PRODUCTS = ("the premium plan", "the annual subscription", "the home insurance policy", "the payroll service",
            "the mortgage application", "the replacement device", "the travel reimbursement",
            "the maintenance contract", "the onboarding package", "the relocation allowance")
ISSUES = ("a duplicate charge", "a delayed shipment", "a missing signature", "an expired document",
          "a change of address", "an incorrect invoice", "a locked account", "a billing dispute",
          "a late payment", "an unanswered request", "a damaged parcel", "a pending refund")
ACTIONS = ("reviewed the file", "escalated the case", "approved the request", "requested more information",
           "updated the record", "scheduled a follow-up call", "closed the ticket", "sent a written summary",
           "verified the documents", "issued a partial refund", "contacted the supplier")
TIMES = ("on Monday", "last week", "yesterday afternoon", "earlier this month", "during the morning shift",
         "before the end of the quarter", "at the start of the review", "after the site visit")
ADJECTIVES = ("thorough", "routine", "surprising", "detailed", "preliminary", "final", "brief", "pressing")

FILLER = (
    "The {adj} review of {product} found no further issues beyond {issue}.",
    "Staff in {dept} {action} {time} and noted that the customer had been patient throughout.",
    "According to the notes, {issue} was reported {time} and has not yet been resolved.",
    "A {adj} assessment by {dept} suggests that the matter can be closed within {n} working days.",
    "The team {action} after confirming the details with {dept}.",
    "There were {n} related requests in the last quarter, most of them concerning {issue}.",
    "It was agreed that {dept} would keep the case open until {product} is confirmed.",
    "No changes to {product} are planned at this stage, although a {adj} check is recommended.",
    "The previous correspondence mentions {issue} and a request to review {product}.",
    "Response times improved by {n} percent compared with the same period last year.",
    "The policy requires that any decision about {product} be documented and kept for {n} years.",
    "A reminder was sent {time}, and {dept} {action} shortly afterwards.",
    "Further questions should be directed to {dept}, which holds the complete history of the case.",
    "The file contains {n} attachments, including scanned letters and a copy of the original form.",
    "Because of {issue}, the standard procedure could not be followed on this occasion.",
    "The outcome was communicated in writing, and a copy of the letter is stored with the file.",
    "Management asked for a {adj} summary of the costs associated with {product}.",
    "An internal note states that {dept} {action} and that no complaint was lodged.",
    "The next scheduled review is in {n} weeks, unless new information becomes available.",
    "It remains unclear whether {issue} affected other customers in the same region.",
    "The agent {action} {time}, citing the guidelines for {product}.",
    "All figures in this section were checked against the ledger maintained by {dept}.",
)

PII_SENTENCES: dict[str, Sequence[str]] = {
    "PERSON": ("{person} called {time} to ask about {product}.",
               "The request was signed by {person} and countersigned by the branch manager.",
               "During the meeting, {person} explained that {issue} had caused considerable stress.",
               "Our records show that {person} has been a customer for {n} years."),
    "EMAIL_ADDRESS": ("A confirmation was sent to {email} {time}.",
                      "The customer asked that all further correspondence go to {email}.",
                      "Replies from {email} were forwarded to {dept}."),
    "PHONE_NUMBER": ("The customer can be reached on {phone} during office hours.",
                     "A voicemail was left at {phone} {time}.",
                     "Please call back on {phone} to confirm the appointment."),
    "US_SSN": ("The social security number on file is {ssn}.",
               "For verification, the applicant provided SSN {ssn}."),
    "CREDIT_CARD": ("The refund will be credited to card number {card}.",
                    "Payment was taken from credit card {card} {time}."),
    "IBAN_CODE": ("Funds should be transferred to IBAN {iban}.",
                  "The salary account was changed to IBAN {iban} {time}."),
    "STREET_ADDRESS": ("The customer now lives at {address}.",
                       "Correspondence should be mailed to the home address, {address}."),
    "DATE_OF_BIRTH": ("The applicant was born on {dob}.",
                      "Date of birth: {dob}, as shown on the identity document."),
}

SLOTS = {"PERSON": "person", "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "US_SSN": "ssn",
         "CREDIT_CARD": "card", "IBAN_CODE": "iban", "STREET_ADDRESS": "address", "DATE_OF_BIRTH": "dob"}

KINDS = (
    ("Customer support case", ("Summary", "Timeline", "Resolution", "Follow-up")),
    ("Patient intake summary", ("Reason for visit", "History", "Assessment", "Plan")),
    ("Employee onboarding record", ("Personal details", "Payroll", "Equipment", "Notes")),
    ("Loan application review", ("Applicant", "Income and expenses", "Risk assessment", "Decision")),
    ("Incident report", ("What happened", "People involved", "Actions taken", "Lessons learned")),
    ("Meeting minutes", ("Attendees", "Discussion", "Decisions", "Open items")),
)


# ---------------------------------------------------------------------------------------------
# Values that pass the detectors' own validation


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    digits = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: the check digit will sit to their right
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return digits + str((10 - total % 10) % 10)


def credit_card(rng: random.Random) -> str:
    prefix, length = rng.choice((("4", 16), ("51", 16), ("53", 16), ("55", 16), ("37", 15)))
    number = luhn_complete(prefix, length, rng)
    if length == 15:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    separator = rng.choice((" ", "-"))
    return separator.join(number[i:i + 4] for i in range(0, 16, 4))


def iban(rng: random.Random) -> str:
    country, bban = rng.choice((
        ("DE", lambda: _digits(rng, 18)),
        ("GB", lambda: "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + _digits(rng, 14)),
        ("NL", lambda: "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + _digits(rng, 10)),
        ("FR", lambda: _digits(rng, 23)),
    ))
    body = bban()
    numeric = "".join(str(int(ch, 36)) for ch in body + country + "00")
    check = 98 - int(numeric) % 97
    compact = f"{country}{check:02d}{body}"
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def phone(rng: random.Random) -> str:
    area = rng.choice(US_AREA_CODES)
    exchange = rng.choice([e for e in range(201, 1000) if e != 555 and e % 100 != 11])
    line = rng.randint(1000, 9999)
    style = rng.randrange(3)
    if style == 0:
        return f"({area}) {exchange}-{line}"
    if style == 1:
        return f"{area}-{exchange}-{line}"
    return f"+1 {area} {exchange} {line}"


def street_address(rng: random.Random) -> tuple[str, str]:
    """The street line (what is checked) and the full address (what is written)."""
    if rng.random() < 0.75:
        street = f"{rng.randint(2, 9899)} {rng.choice(US_STREETS)} {rng.choice(US_STREET_TYPES)}"
        city, state, zip_prefix = rng.choice(US_CITIES)
        return street, f"{street}, {city}, {state} {zip_prefix}{rng.randint(10, 99)}"
    name, postcode, city = rng.choice(EU_STREETS)
    street = f"{name} {rng.randint(1, 180)}"
    return street, f"{street}, {postcode} {city}"


def date_of_birth(rng: random.Random) -> str:
    year, month, day = rng.randint(1940, 2004), rng.randint(1, 12), rng.randint(1, 28)
    style = rng.randrange(3)
    if style == 0:
        return f"{day} {MONTHS[month - 1]} {year}"
    if style == 1:
        return f"{MONTHS[month - 1]} {day}, {year}"
    return f"{year}-{month:02d}-{day:02d}"


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


# ---------------------------------------------------------------------------------------------
# Documents


@dataclass
class _Draft:
    title: str
    sections: list[tuple[str, list[str]]]  # heading, paragraphs
    header: list[tuple[str, str]]  # label, value
    planted: dict[tuple[str, str], None]  # ordered set of (entity type, value)
    words: int = 0


def _person(rng: random.Random, used: set[str]) -> str:
    while True:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if name not in used:
            used.add(name)
            return name


def _draft(rng: random.Random, target_words: int) -> _Draft:
    title, headings = rng.choice(KINDS)
    used_names: set[str] = set()
    types = ["PERSON", *rng.sample(PLANTED_TYPES[1:], rng.randint(3, len(PLANTED_TYPES) - 1))]
    people = [_person(rng, used_names) for _ in range(rng.randint(1, 3))]
    subject = people[0]
    values: dict[str, Callable[[], str]] = {
        "EMAIL_ADDRESS": lambda: (subject.lower().replace(" ", rng.choice((".", "_", "")))
                                  + ("" if rng.random() < 0.6 else str(rng.randint(1, 99)))
                                  + "@" + rng.choice(EMAIL_DOMAINS)),
        "PHONE_NUMBER": lambda: phone(rng),
        "US_SSN": lambda: ssn(rng),
        "CREDIT_CARD": lambda: credit_card(rng),
        "IBAN_CODE": lambda: iban(rng),
        "DATE_OF_BIRTH": lambda: date_of_birth(rng),
    }
    draft = _Draft(title=title, sections=[], header=[], planted={})
    fields: dict[str, str] = {}
    for entity_type in types[1:]:
        if entity_type == "STREET_ADDRESS":
            street, full = street_address(rng)
            fields["address"] = full
            draft.planted[(entity_type, street)] = None
        else:
            value = values[entity_type]()
            fields[entity_type] = value
            draft.planted[(entity_type, value)] = None
    for person in people:
        draft.planted[("PERSON", person)] = None

    labels = {"EMAIL_ADDRESS": "Email", "PHONE_NUMBER": "Phone", "US_SSN": "SSN", "CREDIT_CARD": "Card number",
              "IBAN_CODE": "IBAN", "DATE_OF_BIRTH": "Date of birth", "address": "Address"}
    draft.header.append(("Name", subject))
    for key, value in fields.items():
        if rng.random() < 0.6:  # the rest appears only in the prose
            draft.header.append((labels[key], value))
    draft.words = sum(len(f"{label}: {value}".split()) for label, value in draft.header)

    # Each planted value appears at least once in the prose, some twice; filler fills the rest.
    mentions = [("PERSON", p) for p in people] + list(fields.items())
    mentions += rng.sample(mentions, k=len(mentions) // 2)
    rng.shuffle(mentions)

    def slot(name: str) -> str:
        return {
            "adj": lambda: rng.choice(ADJECTIVES), "product": lambda: rng.choice(PRODUCTS),
            "issue": lambda: rng.choice(ISSUES), "dept": lambda: rng.choice(DEPARTMENTS),
            "action": lambda: rng.choice(ACTIONS), "time": lambda: rng.choice(TIMES),
            "n": lambda: str(rng.randint(2, 40)), "person": lambda: rng.choice(people),
        }[name]()

    def sentence(template: str, **given: str) -> str:
        names = [part[1] for part in string.Formatter().parse(template) if part[1]]
        return template.format(**{name: given[name] if name in given else slot(name) for name in names})

    def mention(key: str, value: str) -> str:
        entity_type = "STREET_ADDRESS" if key == "address" else key
        return sentence(rng.choice(PII_SENTENCES[entity_type]), **{SLOTS[entity_type]: value})

    section_words = max(60, target_words // len(headings))
    for heading in headings:
        paragraphs: list[str] = []
        words = 0
        while words + 40 < section_words:
            sentences = []
            for _ in range(rng.randint(3, 7)):
                if mentions and rng.random() < 0.3:
                    sentences.append(mention(*mentions.pop()))
                else:
                    sentences.append(sentence(rng.choice(FILLER)))
            paragraph = " ".join(sentences)
            paragraphs.append(paragraph)
            words += len(paragraph.split())
        draft.sections.append((heading, paragraphs))
        draft.words += words
    # Mentions not placed yet go into a closing paragraph, so every planted value is present.
    if mentions:
        paragraph = " ".join(mention(key, value) for key, value in reversed(mentions))
        draft.sections[-1][1].append(paragraph)
        draft.words += len(paragraph.split())
    return draft


def _as_text(draft: _Draft) -> str:
    lines = [draft.title.upper(), ""]
    lines += [f"{label}: {value}" for label, value in draft.header]
    for heading, paragraphs in draft.sections:
        lines += ["", heading, ""]
        lines += [p + "\n" for p in paragraphs]
    return "\n".join(lines).rstrip() + "\n"


def _as_markdown(draft: _Draft) -> str:
    lines = [f"# {draft.title}", ""]
    lines += [f"- **{label}:** {value}" for label, value in draft.header]
    for heading, paragraphs in draft.sections:
        lines += ["", f"## {heading}", ""]
        lines += [p + "\n" for p in paragraphs]
    return "\n".join(lines).rstrip() + "\n"


def _write_pdf(draft: _Draft, path: Path) -> int:
    from xml.sax.saxutils import escape

    from reportlab import rl_config
    from reportlab.lib.pagesizes import LETTER
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    rl_config.invariant = 1  # no timestamps or random ids: the same seed gives the same bytes
    styles = getSampleStyleSheet()
    story = [Paragraph(escape(draft.title), styles["Title"])]
    story += [Paragraph(f"<b>{escape(label)}:</b> {escape(value)}", styles["Normal"])
              for label, value in draft.header]
    for heading, paragraphs in draft.sections:
        story += [Spacer(1, 8), Paragraph(escape(heading), styles["Heading2"])]
        story += [Paragraph(escape(p), styles["BodyText"]) for p in paragraphs]
    pages: list[int] = []
    document = SimpleDocTemplate(str(path), pagesize=LETTER, title=draft.title, author="docveil benchmark")
    document.build(story, onLaterPages=lambda canvas, _doc: pages.append(canvas.getPageNumber()),
                   onFirstPage=lambda canvas, _doc: pages.append(canvas.getPageNumber()))
    return len(pages)


def generate_corpus(folder: Path, count: int, seed: int, *, pdf_share: float = 0.25,
                    markdown_share: float = 0.25, min_words: int = 300,
                    max_words: int = 1500) -> list[CorpusDocument]:
    """Write ``count`` documents into ``folder`` and return what each one contains.

    Each document is drawn from its own generator seeded by ``(seed, index)``, so a corpus of
    200 is the first 200 documents of the corpus of 2,000 with the same seed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    out: list[CorpusDocument] = []
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        draft = _draft(rng, rng.randint(min_words, max_words))
        roll = rng.random()
        kind = "pdf" if roll < pdf_share else "md" if roll < pdf_share + markdown_share else "txt"
        path = folder / f"doc-{index:05d}.{kind}"
        if kind == "pdf":
            pages = _write_pdf(draft, path)
        else:
            path.write_text(_as_markdown(draft) if kind == "md" else _as_text(draft), encoding="utf-8")
            pages = 1
        planted = tuple(PlantedValue(t, v) for t, v in draft.planted)
        out.append(CorpusDocument(path=path, kind=kind, words=draft.words, pages=pages, planted=planted))
    return out

"""Generated business text for the search benchmark: chunks, documents, ACLs and held-out queries.

Text is built from topics (each with its own terms, events and measures) crossed with sentence
templates and entities (teams, sites, systems, suppliers, dates, amounts, pseudonym tokens as
docveil stores them), so the corpus has topical clusters with a lot of variation inside them,
the way real document collections do; uniform random vectors would make HNSW look worse than it
is. Queries use their own templates (questions and keyword strings), so none is a copy of a chunk.

Everything is derived from ``seed``: the same arguments give the same corpus, word for word,
which is what lets the benchmark cache the embeddings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Each topic: terms (things the text is about), events (what happened to them), measures.
TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "accounts payable": {
        "terms": ("supplier invoice", "purchase order", "credit note", "remittance advice", "payment run",
                  "three-way match", "vendor master record", "early payment discount", "duplicate invoice",
                  "invoice approval workflow", "goods receipt", "payment terms"),
        "events": ("was put on hold pending approval", "failed the three-way match", "was paid twice",
                   "was approved after a second review", "arrived without a purchase order reference",
                   "was disputed by the cost centre owner", "missed the weekly payment run",
                   "was reversed and reissued"),
        "measures": ("days payable outstanding", "invoice cycle time", "first-pass match rate",
                     "late payment penalties"),
    },
    "payroll": {
        "terms": ("monthly payroll", "overtime claim", "salary adjustment", "pension contribution",
                  "payslip", "tax code", "holiday pay", "shift allowance", "bonus payment", "sick pay",
                  "payroll cut-off", "net pay reconciliation"),
        "events": ("was calculated with the wrong tax code", "was submitted after the cut-off",
                   "was corrected in the following period", "was approved by the line manager",
                   "was missing from the payroll file", "caused an underpayment", "was recalculated manually",
                   "was flagged by the reconciliation report"),
        "measures": ("payroll error rate", "number of manual corrections", "overtime hours", "cost per payslip"),
    },
    "recruitment": {
        "terms": ("job requisition", "candidate shortlist", "interview panel", "offer letter", "reference check",
                  "background screening", "graduate programme", "hiring freeze", "agency fee", "job advert",
                  "assessment centre", "notice period"),
        "events": ("was reopened after the preferred candidate declined", "was approved by the budget holder",
                   "took longer than the agreed service level", "was put on hold during the hiring freeze",
                   "was shared with two external agencies", "was withdrawn after the reorganisation",
                   "received more applications than expected", "was delayed by the reference check"),
        "measures": ("time to hire", "offer acceptance rate", "cost per hire", "applications per vacancy"),
    },
    "IT service desk": {
        "terms": ("password reset", "laptop replacement", "VPN connection", "email outage", "printer queue",
                  "software licence request", "service desk ticket", "multi-factor enrolment", "shared drive access",
                  "monitor request", "remote desktop session", "mobile device setup"),
        "events": ("was escalated to the second-line team", "breached the four-hour resolution target",
                   "was resolved by a remote session", "was reopened by the user", "was logged under the wrong category",
                   "was closed without a response", "required a site visit", "was fixed by a configuration change"),
        "measures": ("first-contact resolution", "mean time to resolve", "ticket backlog", "user satisfaction score"),
    },
    "information security": {
        "terms": ("phishing email", "access review", "firewall rule", "vulnerability scan", "security patch",
                  "privileged account", "incident response plan", "encryption key rotation", "penetration test",
                  "data loss prevention alert", "security awareness training", "endpoint detection alert"),
        "events": ("was reported by several employees", "revealed an unpatched server", "was contained within an hour",
                   "exposed an overly broad permission", "was triaged as a false positive",
                   "led to a forced password change", "was postponed to the next maintenance window",
                   "was signed off by the security officer"),
        "measures": ("mean time to detect", "patch compliance", "click rate in phishing tests", "open critical findings"),
    },
    "warehouse operations": {
        "terms": ("pallet count", "picking route", "stock take", "loading bay", "forklift inspection",
                  "inbound delivery", "bin location", "cycle count", "returns area", "shelf labelling",
                  "cold storage zone", "dispatch schedule"),
        "events": ("showed a discrepancy against the system", "was rescheduled because of a staff shortage",
                   "was delayed by a blocked loading bay", "failed the safety inspection",
                   "was completed ahead of the deadline", "was moved to the night shift",
                   "required a recount of three aisles", "was handled by temporary staff"),
        "measures": ("picking accuracy", "dock-to-stock time", "inventory shrinkage", "orders shipped per hour"),
    },
    "freight and shipping": {
        "terms": ("container booking", "customs declaration", "bill of lading", "freight invoice", "carrier contract",
                  "delivery window", "proof of delivery", "temperature log", "shipment tracking", "fuel surcharge",
                  "transit damage claim", "port congestion"),
        "events": ("was held at customs for inspection", "missed the agreed delivery window",
                   "arrived with damaged packaging", "was rerouted through another port",
                   "was charged at the spot rate", "was rebooked with a second carrier",
                   "lacked the signed proof of delivery", "triggered a demurrage charge"),
        "measures": ("on-time delivery rate", "freight cost per kilogram", "claims ratio", "average transit time"),
    },
    "customer complaints": {
        "terms": ("billing complaint", "service outage complaint", "refund request", "escalation to the ombudsman",
                  "goodwill payment", "complaint acknowledgement letter", "root cause review", "call recording",
                  "complaint register", "final response letter", "customer callback", "compensation offer"),
        "events": ("was acknowledged within two working days", "was upheld after review",
                   "was escalated to a team leader", "was closed without the customer's agreement",
                   "led to a change in the script", "was referred to the ombudsman",
                   "was resolved with a partial refund", "exceeded the eight-week deadline"),
        "measures": ("complaints per thousand customers", "resolution time", "uphold rate", "repeat complaint rate"),
    },
    "insurance claims": {
        "terms": ("water damage claim", "motor claim", "loss adjuster report", "claim reserve", "excess payment",
                  "policy exclusion", "fraud referral", "repair estimate", "subrogation recovery",
                  "claim settlement letter", "windscreen claim", "contents valuation"),
        "events": ("was referred to the fraud team", "was settled below the reserve", "was declined under an exclusion",
                   "needed a second repair estimate", "was reopened after new evidence",
                   "was paid within the service level", "was reviewed by a senior handler",
                   "was recovered from the third party insurer"),
        "measures": ("claims cycle time", "loss ratio", "leakage estimate", "reopen rate"),
    },
    "clinical operations": {
        "terms": ("outpatient appointment", "discharge summary", "referral letter", "medication chart",
                  "ward handover", "theatre schedule", "infection control audit", "patient transport booking",
                  "waiting list", "bed occupancy report", "consent form", "triage assessment"),
        "events": ("was cancelled at short notice", "was missing a signature", "was moved to the next clinic",
                   "was reviewed by the ward manager", "exceeded the target waiting time",
                   "was sent to the wrong department", "was updated after the consultant review",
                   "was audited during the monthly check"),
        "measures": ("did-not-attend rate", "average length of stay", "waiting list size", "theatre utilisation"),
    },
    "facilities management": {
        "terms": ("fire alarm test", "lift maintenance", "heating failure", "cleaning contract", "desk booking",
                  "building access card", "air conditioning fault", "roof leak", "energy meter reading",
                  "waste collection", "car park allocation", "emergency lighting check"),
        "events": ("was logged with the maintenance contractor", "was repaired the same day",
                   "was postponed until spring", "affected the whole third floor",
                   "was not covered by the service contract", "needed a replacement part from the supplier",
                   "was inspected by the health and safety officer", "was reported again a week later"),
        "measures": ("energy consumption", "planned maintenance completion", "reactive jobs per month",
                     "desk occupancy"),
    },
    "contract management": {
        "terms": ("master services agreement", "renewal notice", "liability cap", "service level credit",
                  "termination clause", "change request", "price indexation", "non-disclosure agreement",
                  "data processing agreement", "contract variation", "performance bond", "exit plan"),
        "events": ("was renewed automatically without review", "was renegotiated after the price increase",
                   "was signed by both parties", "was sent to legal for review",
                   "was missing the latest schedule", "was extended by twelve months",
                   "triggered a service credit", "was terminated for convenience"),
        "measures": ("contract value under management", "renewals reviewed on time", "service credits claimed",
                     "savings achieved"),
    },
    "budget planning": {
        "terms": ("annual budget", "capital expenditure request", "quarterly forecast", "cost centre report",
                  "headcount plan", "variance analysis", "accrual", "budget transfer", "savings target",
                  "business case", "depreciation schedule", "spending freeze"),
        "events": ("was revised after the first quarter", "showed an overspend on travel",
                   "was approved by the finance committee", "was deferred to next year",
                   "was challenged by the regional director", "needed a supporting business case",
                   "was reduced by ten percent", "was consolidated with the group forecast"),
        "measures": ("forecast accuracy", "operating margin", "capital spend", "cost per employee"),
    },
    "software releases": {
        "terms": ("release candidate", "deployment pipeline", "regression test suite", "feature flag",
                  "database migration", "rollback plan", "hotfix", "code review", "staging environment",
                  "release notes", "load test", "dependency upgrade"),
        "events": ("was rolled back after a spike in errors", "passed all automated checks",
                   "was blocked by a failing test", "was deployed during the maintenance window",
                   "broke the reporting dashboard", "needed a manual approval step",
                   "was split into two smaller changes", "was delayed by a security review"),
        "measures": ("deployment frequency", "change failure rate", "lead time for changes", "test coverage"),
    },
    "data protection": {
        "terms": ("subject access request", "retention schedule", "data breach notification",
                  "privacy impact assessment", "consent record", "erasure request", "records of processing",
                  "international transfer", "data sharing agreement", "privacy notice", "pseudonymisation",
                  "legitimate interest assessment"),
        "events": ("was answered within the statutory month", "was reported to the regulator",
                   "was extended because of its complexity", "identified records kept too long",
                   "was signed off by the data protection officer", "needed redaction of third-party data",
                   "was logged in the breach register", "was reviewed after the system change"),
        "measures": ("requests answered on time", "open breach actions", "records past retention", "training completion"),
    },
    "sales pipeline": {
        "terms": ("sales opportunity", "pricing proposal", "discount approval", "tender response",
                  "account plan", "renewal forecast", "lost deal review", "product demonstration",
                  "framework agreement", "pipeline review", "commission statement", "customer reference"),
        "events": ("was lost to a cheaper competitor", "moved to the negotiation stage",
                   "needed approval for a deeper discount", "was submitted a day before the deadline",
                   "was won after a second presentation", "stalled because of the customer's budget",
                   "was reassigned to another account manager", "was shortlisted by the buyer"),
        "measures": ("win rate", "average deal size", "sales cycle length", "pipeline coverage"),
    },
    "manufacturing quality": {
        "terms": ("batch record", "non-conformance report", "calibration certificate", "first article inspection",
                  "production line stoppage", "supplier defect", "corrective action", "scrap rate report",
                  "torque specification", "quality hold", "process capability study", "line clearance"),
        "events": ("was traced back to a supplier defect", "stopped the line for two hours",
                   "was released after a retest", "was quarantined pending investigation",
                   "revealed an out-of-date calibration", "was closed after the corrective action",
                   "was repeated on the night shift", "was escalated to the plant manager"),
        "measures": ("defects per million", "overall equipment effectiveness", "scrap cost", "yield"),
    },
    "fleet management": {
        "terms": ("vehicle service", "fuel card", "mileage claim", "tyre replacement", "vehicle lease",
                  "driver licence check", "telematics report", "accident report", "MOT test", "parking fine",
                  "pool car booking", "electric vehicle charger"),
        "events": ("was overdue by three weeks", "showed unusual fuel purchases", "was booked at the nearest garage",
                   "was charged to the wrong cost centre", "was disputed with the leasing company",
                   "failed on the first attempt", "was paid by the driver and reclaimed",
                   "was flagged by the telematics system"),
        "measures": ("cost per mile", "fuel efficiency", "vehicle utilisation", "accidents per million miles"),
    },
    "training and development": {
        "terms": ("mandatory training", "leadership programme", "e-learning module", "apprenticeship",
                  "training budget", "skills matrix", "mentoring scheme", "certification exam",
                  "induction course", "performance review", "coaching session", "learning record"),
        "events": ("was completed by most of the team", "was rescheduled because of low attendance",
                   "was moved online", "was funded from the central budget",
                   "received poor feedback from participants", "was made compulsory for managers",
                   "was overdue for a third of staff", "was accredited by the professional body"),
        "measures": ("completion rate", "training hours per employee", "pass rate", "cost per learner"),
    },
    "procurement": {
        "terms": ("request for quotation", "supplier evaluation", "preferred supplier list", "purchase requisition",
                  "spend analysis", "supplier due diligence", "catalogue price", "blanket order",
                  "single source justification", "supplier onboarding", "sourcing event", "bid evaluation"),
        "events": ("attracted five compliant bids", "was awarded to the incumbent supplier",
                   "was delayed by missing insurance documents", "exceeded the delegated authority",
                   "was challenged by an unsuccessful bidder", "was approved under the emergency procedure",
                   "saved twelve percent against the previous contract", "needed a second round of clarification"),
        "measures": ("spend under contract", "supplier lead time", "purchase order cycle time", "savings rate"),
    },
    "customer onboarding": {
        "terms": ("identity verification", "welcome pack", "account opening form", "know-your-customer check",
                  "direct debit mandate", "credit check", "onboarding call", "proof of address",
                  "customer portal registration", "service activation", "eligibility check", "risk rating"),
        "events": ("was rejected because the document had expired", "was completed on the same day",
                   "needed a manual review", "stalled waiting for proof of address",
                   "was fast-tracked for a business customer", "failed the automated check",
                   "was abandoned halfway through", "was reassigned to the specialist team"),
        "measures": ("time to activate", "drop-out rate", "manual review rate", "onboarding cost"),
    },
    "energy and sustainability": {
        "terms": ("carbon footprint report", "solar panel installation", "energy audit", "emissions target",
                  "recycling rate", "heat pump trial", "sustainability report", "supplier emissions survey",
                  "water usage", "green electricity tariff", "travel emissions", "building insulation"),
        "events": ("showed a reduction against the baseline", "was delayed by planning permission",
                   "missed the interim target", "was verified by an external auditor",
                   "was extended to two more sites", "exceeded the expected savings",
                   "relied on estimated meter readings", "was presented to the board"),
        "measures": ("tonnes of carbon dioxide", "kilowatt hours", "share of renewable energy", "waste diverted from landfill"),
    },
    "legal matters": {
        "terms": ("employment tribunal claim", "litigation hold", "settlement agreement", "witness statement",
                  "regulatory inquiry", "legal privilege review", "disclosure bundle", "trademark filing",
                  "letter before action", "external counsel invoice", "court deadline", "mediation session"),
        "events": ("was settled before the hearing", "was extended by the court", "was reviewed by external counsel",
                   "was put on hold pending negotiations", "required disclosure of internal emails",
                   "was withdrawn by the claimant", "was escalated to the general counsel",
                   "missed the filing deadline"),
        "measures": ("legal spend", "open matters", "average matter duration", "settlement costs"),
    },
    "product support": {
        "terms": ("firmware update", "warranty claim", "spare part order", "user manual", "return merchandise authorisation",
                  "field service visit", "known issue", "diagnostic log", "replacement unit", "product recall notice",
                  "installation guide", "support forum post"),
        "events": ("fixed the overheating problem", "was rejected because the warranty had expired",
                   "was shipped with the wrong accessory", "needed an engineer on site",
                   "was documented in the knowledge base", "caused devices to restart repeatedly",
                   "was replaced free of charge", "was escalated to the product team"),
        "measures": ("return rate", "warranty cost", "mean time between failures", "first-time fix rate"),
    },
}

TEAMS = ("the finance team", "the regional operations group", "the shared service centre", "the audit committee",
         "the night shift", "the project board", "the support desk", "the compliance office",
         "the procurement panel", "the site leadership team", "the quality team", "the customer care unit",
         "the HR business partners", "the planning team", "the internal audit function", "the data office")
SITES = ("the north depot", "Plant 4", "the head office", "Distribution Centre 7", "the east warehouse",
         "the main campus", "Building C", "the riverside site", "the new logistics hub", "Unit 12",
         "the training centre", "the south annex", "the central laboratory", "the call centre")
SYSTEMS = ("the ERP system", "the ticketing tool", "the HR portal", "the claims platform", "the CRM",
           "the warehouse management system", "the document archive", "the expenses app",
           "the scheduling system", "the reporting dashboard", "the payment gateway", "the intranet")
SUPPLIERS = ("Northwind Traders", "Contoso Logistics", "Fabrikam Services", "Tailspin Supplies",
             "Litware Systems", "Adventure Works", "Proseware Ltd", "Wingtip Partners", "Lucerne Facilities",
             "Trey Research", "Alpine Components", "Blue Yonder Freight")
PERIODS = ("the first quarter", "the second quarter", "the third quarter", "the fourth quarter",
           "January", "March", "June", "September", "November", "the last financial year",
           "the previous month", "the peak season", "the summer holidays", "the year-end close")

SENTENCES = (
    "The {term} {event}.",
    "In {period}, the {term} at {site} {event}.",
    "{team} noted that the {term} {event}, which affected the {measure}.",
    "According to {system}, the {term} for {supplier} {event}.",
    "The {measure} moved from {n} to {m} over {period}.",
    "{person} reviewed the {term} and confirmed that it {event}.",
    "A follow-up on the {term} is scheduled with {team} before the end of {period}.",
    "The {term2} was checked as well, but no further issue was found.",
    "Because the {term} {event}, {team} asked for a review of the {term2}.",
    "The report lists {n} cases where the {term} {event}.",
    "{supplier} was asked to explain why the {term} {event}.",
    "The {measure} at {site} stayed within the agreed range during {period}.",
    "An action was raised for {person} to update the {term2} in {system}.",
    "It was agreed that the {term} should be tracked weekly until the {measure} improves.",
    "The total impact is estimated at {amount}, mostly related to the {term2}.",
    "Staff at {site} reported that the {term} {event} twice in {period}.",
    "{team} will present the findings on the {term} and the {term2} at the next meeting.",
    "No decision on the {term2} has been taken yet; {person} will report back.",
    "The audit trail in {system} shows when the {term} {event}.",
    "Compared with {period}, the {measure} improved by {n} percent.",
)

TITLES = ("Review of the {term} at {site}", "{team_title}: notes on the {term}", "Monthly report on the {measure}",
          "Incident summary: {term}", "Minutes: {term} and {term2}", "Action log for the {term}",
          "Briefing on the {measure} in {period}", "Case file: {term} ({supplier})")

QUERY_TEMPLATES = (
    "why {event_short} for the {term}",
    "what happened with the {term} at {site}",
    "{term} {measure}",
    "which reports mention that the {term} {event}?",
    "how did {team} handle the {term}",
    "{supplier} {term} problem",
    "show me notes about the {term} and the {term2}",
    "{measure} trend in {period}",
    "cases where the {term} {event}",
    "has anyone looked into the {term} in {system}?",
    "{term} issues {site} {period}",
    "summary of the {term2} review",
)

USERS_PER_TENANT = 20
ROLES = ("finance", "hr", "legal", "operations", "security")


@dataclass(frozen=True)
class BenchDocument:
    """One generated document: its chunks are ``chunk_start .. chunk_start + chunk_count``."""

    index: int
    tenant: str
    topic: str
    title: str
    owner: str
    acl_users: tuple[str, ...]
    acl_roles: tuple[str, ...]
    chunk_start: int
    chunk_count: int


@dataclass(frozen=True)
class BenchQuery:
    tenant: str
    user: str
    roles: tuple[str, ...]
    topic: str
    text: str


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    documents: list[BenchDocument]
    queries: list[BenchQuery]
    tenants: tuple[str, ...]


def tenant_names(count: int) -> tuple[str, ...]:
    return tuple(f"tenant-{i:02d}" for i in range(count))


def _token(rng: random.Random, label: str) -> str:
    """A pseudonym token in docveil's stored format (the text at rest never holds the name)."""
    return f"<{label}_{rng.getrandbits(40):010x}>"


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        topics = list(TOPICS)
        # Related topics: a chunk sometimes borrows a sentence from a neighbour, as real text does.
        self.neighbours = {t: rng.sample([o for o in topics if o != t], 3) for t in topics}
        self.people = [_token(rng, "PERSON") for _ in range(400)]

    def slots(self, topic: str) -> dict[str, str]:
        rng, vocab = self.rng, TOPICS[topic]
        term, term2 = rng.sample(vocab["terms"], 2)
        n = rng.randint(2, 60)
        return {"term": term, "term2": term2, "event": rng.choice(vocab["events"]),
                "measure": rng.choice(vocab["measures"]), "team": rng.choice(TEAMS), "site": rng.choice(SITES),
                "system": rng.choice(SYSTEMS), "supplier": rng.choice(SUPPLIERS), "period": rng.choice(PERIODS),
                "person": rng.choice(self.people), "n": str(n), "m": str(n + rng.randint(-n + 1, 40)),
                "amount": f"{rng.randint(2, 950) * 100:,} euros"}

    def sentence(self, topic: str) -> str:
        text = self.rng.choice(SENTENCES).format(**self.slots(topic))
        return text[0].upper() + text[1:]

    def chunk(self, topic: str) -> str:
        sentences = []
        for _ in range(self.rng.randint(3, 5)):
            source = topic if self.rng.random() < 0.85 else self.rng.choice(self.neighbours[topic])
            sentences.append(self.sentence(source))
        return " ".join(sentences)

    def title(self, topic: str) -> str:
        slots = self.slots(topic)
        slots["team_title"] = slots["team"][4:].capitalize() if slots["team"].startswith("the ") else slots["team"]
        text = self.rng.choice(TITLES).format(**slots)
        return text[0].upper() + text[1:]

    def query(self, topic: str) -> str:
        slots = self.slots(topic)
        event = slots["event"]
        slots["event_short"] = event.split(" ", 1)[1] if event.startswith("was ") else event
        return self.rng.choice(QUERY_TEMPLATES).format(**slots)


def _topic_weights(rng: random.Random) -> list[float]:
    # Each tenant is a different business: a few topics dominate, the rest appear now and then.
    weights = [rng.random() ** 3 for _ in TOPICS]
    for favourite in rng.sample(range(len(weights)), 4):
        weights[favourite] += 2.0
    return weights


def _acl(rng: random.Random, owner: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Most documents are tenant-wide; some are for one role, some only for their owner."""
    draw = rng.random()
    if draw < 0.75:
        return (), ("*",)
    if draw < 0.90:
        return (), (rng.choice(ROLES),)
    return (owner,), ()


def user_roles(user_index: int) -> tuple[str, ...]:
    """Roles of ``user-NN`` in every tenant: users hold zero, one or two roles."""
    count = user_index % 3
    return tuple(sorted({ROLES[(user_index + i) % len(ROLES)] for i in range(count)}))


def generate(chunks: int, tenants: int, queries: int, seed: int,
             chunks_per_document: int = 10) -> Corpus:
    """``chunks`` chunk texts in documents of about ``chunks_per_document``, spread evenly over
    ``tenants``, and ``queries`` held-out queries, each by one user of one tenant."""
    rng = random.Random(seed)
    writer = _Writer(rng)
    names = tenant_names(tenants)
    topics = list(TOPICS)
    weights = {tenant: _topic_weights(rng) for tenant in names}
    texts: list[str] = []
    documents: list[BenchDocument] = []
    while len(texts) < chunks:
        tenant = names[len(documents) % tenants]
        topic = rng.choices(topics, weights[tenant])[0]
        count = min(chunks - len(texts), rng.randint(chunks_per_document - 3, chunks_per_document + 3))
        owner = f"user-{rng.randrange(USERS_PER_TENANT):02d}"
        acl_users, acl_roles = _acl(rng, owner)
        documents.append(BenchDocument(len(documents), tenant, topic, writer.title(topic), owner, acl_users,
                                       acl_roles, len(texts), count))
        texts.extend(writer.chunk(topic) for _ in range(count))
    # Queries come from their own generator stream, so changing --queries leaves the corpus alone.
    query_rng = random.Random(seed * 7919 + 1)
    writer.rng = query_rng
    seen = set(texts)
    out: list[BenchQuery] = []
    while len(out) < queries:
        tenant = query_rng.choice(names)
        topic = query_rng.choices(topics, weights[tenant])[0]
        text = writer.query(topic)
        if text in seen:
            continue
        seen.add(text)
        user_index = query_rng.randrange(USERS_PER_TENANT)
        out.append(BenchQuery(tenant, f"user-{user_index:02d}", user_roles(user_index), topic, text))
    return Corpus(texts, documents, out, names)


def visible(document: BenchDocument, user: str, roles: tuple[str, ...]) -> bool:
    """The ACL rule docveil applies (``acl_users && {user} OR acl_roles && roles ∪ {*}``)."""
    return user in document.acl_users or bool(set(document.acl_roles) & (set(roles) | {"*"}))

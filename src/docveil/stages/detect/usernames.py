"""User names (``USERNAME``) in chat exports, mentions, logs and records.

A user name identifies a person as well as their name does ("marta.k", "s.okafor", "rkumar"),
and chat exports and logs are full of them, in lower case, where no name recognizer looks.
``UsernameRecognizer`` finds them where their place says what they are:

- the speaker of a chat line: after a time ("[10:42] marta.k: ...", "14:02 <dmitri_v> ...") or
  in angle brackets ("<chidi.o> ..."), in lower case, with a separator, in CamelCase or a given
  name (not "09:00 Standup:", "12:00:01 WARN:" or "<div>"); without a time, a handle made of a
  name ("marta.k: ...", "m.garcia: ...") or a speaker that opens two lines or more ("ahmed:
  lol"), so that the keys of a config file ("db_host: localhost") are no speakers;
- a mention: "@sam.okoro", "@rahul-verma" (not "@here", "@channel", "@all");
- a field of a record or a log line: ``user=s.okafor``, ``"user":"tkowalski"``, ``login:
  rkumar``, "Failed password for rkumar from 198.51.100.23", "account priya.natarajan locked",
  ``/users/marcus.chen/``, a home folder (``/home/lmoreau/``, ``C:\\Users\\jsmith\\``), the user of
  a ``sudo:``, ``su:`` or cron log line;
- a handle made of a name, anywhere ("cc: olga.petrenko", "Ping zoë.m"; see
  ``_given_name_handle``), unless it is a file name or a domain ("config.yaml", "example.com")
  or its parts are English words ("max.value", "spring.datasource").

Generic accounts (root, admin, guest, system…) are not personal and are left alone.
"""

from __future__ import annotations

from collections import Counter

import regex as re
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from docveil.stages.detect.given_names import GivenNames
from docveil.stages.detect.recognizers import NameAwareRecognizer

ENTITY = "USERNAME"
NAME = "UsernameRecognizer"
SCORE = 0.7  # the place says it is a user name
HANDLE_SCORE = 0.6  # a "first.last" handle found by its given name

_HANDLE = r"\p{L}[\p{L}\d]*(?:[._-][\p{L}\d]+){0,3}"
_LOWER_HANDLE = r"\p{Ll}[\p{Ll}\d]*(?:[._-][\p{Ll}\d]+){0,3}"
_TIME = r"\[?\d{1,2}:\d{2}(?::\d{2})?(?:[ \t]?[AaPp][Mm])?\]?"
_CHAT_TIMED = re.compile(rf"^[ \t]*{_TIME}[ \t]+(?:<(?P<handle>{_HANDLE})>|(?P<handle>{_HANDLE}):)[ \t]", re.M)
_CHAT_BRACKETED = re.compile(rf"^[ \t]*<(?P<handle>{_HANDLE})>[ \t]", re.M)
_CHAT_SPEAKER = re.compile(rf"^[ \t]*(?P<handle>{_LOWER_HANDLE}):[ \t]+\S", re.M)
_MENTION = re.compile(rf"(?<![\w.@/])@(?P<handle>{_HANDLE})(?![\w@]|\.\p{{L}})")
_FIELD = re.compile(
    r"(?i:\b(?:user|username|user_name|userid|user_id|login|uid|account|acct|owner|assignee|reporter|author"
    r"|created_by|updated_by|sender|recipient|actor|requester|requested_by|approver|approved_by|submitted_by))\b[\"']?[ \t]*[=:][ \t]*[\"']?"
    rf"(?P<handle>{_LOWER_HANDLE})\b(?![@.]\p{{L}})")
_SSH = re.compile(rf"\bfor[ \t]+(?:invalid[ \t]+user[ \t]+)?(?P<handle>{_LOWER_HANDLE})[ \t]+from[ \t]+[\d.:a-fA-F]+")
_ACCOUNT = re.compile(r"(?i:\b(?:account|user|login|member)[ \t]+)(?P<handle>\p{Ll}+[._]\p{Ll}[\p{Ll}\d._-]*)\b(?![@.]\p{L})")
# A home folder ("/home/lmoreau/", "C:\\Users\\jsmith\\"), a Unix log naming who acted ("sudo:
# lmoreau : TTY=pts/1", "su: (to root) lmoreau on pts/0", cron's "(deploy_jsmith) CMD").
_HOME_FOLDER = re.compile(
    rf"(?:(?<![\w.~])/(?:home|Users)/|(?<![\w])[A-Za-z]:\\(?:Users|Documents and Settings)\\)(?P<handle>{_HANDLE})"
    r"(?=[/\\\s\"':;,)\]>]|\.(?!\w)|$)")
_UNIX_LOG = re.compile(
    rf"\bsudo:[ \t]+(?P<handle>{_LOWER_HANDLE})[ \t]+:|\bsu:[ \t]+\(to[ \t]+\S+\)[ \t]+(?P<handle>{_LOWER_HANDLE})\b"
    rf"|\((?P<handle>{_LOWER_HANDLE})\)[ \t]+CMD\b")
_PROFILE_PATH = re.compile(
    rf"/(?:users?|profiles?|people|members?|accounts?|employees?|customers?)/(?P<handle>{_HANDLE})(?=[/?#\s\"']|$)")
_FIRST_LAST = re.compile(r"(?<![\w.@/:-])(?P<handle>\p{L}{2,}[._]\p{L}+(?:[._-]\p{L}+)?)(?![\w@/]|\.\p{L}|\()")

# Accounts that belong to no one, words that open a line like a speaker, and mention keywords.
GENERIC = frozenset({
    "root", "admin", "administrator", "system", "guest", "anonymous", "nobody", "null", "none", "unknown",
    "service", "daemon", "www-data", "postgres", "ubuntu", "ec2-user", "test", "user", "bot", "true", "false",
    "public", "default", "shared",
    "here", "channel", "everyone", "all", "team", "note", "notes", "todo", "fyi", "re", "fwd", "subject", "status",
    "update", "action", "answer", "question", "q", "a", "warning", "error", "info", "debug", "result", "results",
    "summary", "example", "output", "input", "tip", "step", "date", "time", "from", "to", "cc", "bcc",
})
_SEPARATED = re.compile(r"[._\d-]")
_CAMEL = re.compile(r"\p{Ll}\p{Lu}|^\p{Lu}\p{Lu}\p{Ll}")  # "KarenW", "ANowak"
_HTML_TAGS = frozenset({
    "html", "head", "body", "div", "span", "p", "a", "ul", "ol", "li", "table", "tr", "td", "th", "br", "hr",
    "img", "script", "style", "meta", "link", "title", "section", "header", "footer", "nav", "main", "article",
    "form", "input", "button", "label", "select", "option", "textarea", "pre", "code", "b", "i", "u", "em",
    "strong", "small", "h1", "h2", "h3", "h4", "h5", "h6", "svg", "path", "xml", "template", "iframe", "tbody",
    "thead", "blockquote", "figure", "caption", "dl", "dt", "dd",
})
# What ends a file name or a domain rather than a handle ("config.yaml", "example.com").
_SUFFIXES = frozenset({
    "com", "org", "net", "io", "dev", "app", "ai", "co", "uk", "de", "fr", "nl", "es", "it", "eu", "gov", "edu",
    "py", "js", "ts", "txt", "md", "pdf", "doc", "docx", "xls", "xlsx", "csv", "json", "yaml", "yml", "xml",
    "html", "htm", "png", "jpg", "jpeg", "gif", "zip", "gz", "tar", "log", "cfg", "ini", "sql", "sh", "exe",
    "conf", "config", "env", "lock", "toml", "properties", "bak", "tmp", "local", "prod", "test", "spec",
})


class UsernameRecognizer(NameAwareRecognizer):
    """``USERNAME`` where its place marks a user name; see the module docstring."""

    def __init__(self, given_names: GivenNames, supported_language: str = "en") -> None:
        super().__init__(ENTITY, NAME, given_names, supported_language)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        spans: dict[tuple[int, int], float] = {}
        for pattern in (_ACCOUNT, _PROFILE_PATH, _HOME_FOLDER, _UNIX_LOG):
            for match in pattern.finditer(text):
                self._add(spans, match, SCORE)
        # Places where a word could be something else: a handle must look like one.
        for pattern in (_MENTION, _FIELD, _SSH):
            for match in pattern.finditer(text):
                if self._handle_like(match.group("handle")):
                    self._add(spans, match, SCORE)
        # After a time, a speaker in capitals is an agenda item or a log level ("09:00 Standup:",
        # "12:00:01 WARN:"), and an HTML tag is no speaker ("<div>").
        for pattern in (_CHAT_TIMED, _CHAT_BRACKETED):
            for match in pattern.finditer(text):
                handle = match.group("handle")
                if ((handle[0].islower() or _SEPARATED.search(handle) or _CAMEL.search(handle)
                     or self.given_names.is_given_name(handle))
                        and handle.lower() not in _HTML_TAGS and self._handle_like(handle)):
                    self._add(spans, match, SCORE)
        # Without a time, "key: value" lines are as likely a config file ("db_host: localhost"):
        # a speaker opens two lines or more, or is a handle that opens with a given name.
        speakers = list(_CHAT_SPEAKER.finditer(text))
        counts = Counter(match.group("handle") for match in speakers)
        for match in speakers:
            handle = match.group("handle")
            if (counts[handle] >= 2 and self._handle_like(handle)) or (
                    _SEPARATED.search(handle) and self._given_name_handle(handle)):
                self._add(spans, match, SCORE)
        for match in _FIRST_LAST.finditer(text):
            if self._given_name_handle(match.group("handle")):
                self._add(spans, match, HANDLE_SCORE)
        # docveil's own tokens ("<PERSON_9a58ee8571> reviewed ...") look like chat speakers:
        # ``combine.detect_texts`` drops what any detector finds inside one.
        results = [self.finding(start, end, score) for (start, end), score in spans.items()]
        return EntityRecognizer.remove_duplicates(results)

    @staticmethod
    def _add(spans: dict[tuple[int, int], float], match: re.Match[str], score: float) -> None:
        handle = match.group("handle")
        if handle.lower() in GENERIC or handle.rsplit(".", 1)[-1].lower() in _SUFFIXES or handle.isdigit():
            return
        span = match.span("handle")
        spans[span] = max(score, spans.get(span, 0.0))

    def _handle_like(self, handle: str) -> bool:
        """A separator or a digit in it, or a given name, or a word that is not English ("rkumar",
        "ahmed"; not "finance" or "unassigned")."""
        if any(ch in "._-" or ch.isdigit() for ch in handle):
            return True
        return self.given_names.is_given_name(handle.capitalize()) or not self.given_names.is_english(handle.lower())

    def _given_name_handle(self, handle: str) -> bool:
        """A handle made of a person's name: "olga.petrenko", "zoë.m", "anna.maria.kowalska" (a
        given name that is no English word first), "will.k" (an English one before an initial),
        "m.garcia" (an initial before a word that is not English), "kowalski_t"."""
        parts = re.split(r"[._-]", handle)
        if not 2 <= len(parts) <= 3:
            return False
        first, second = parts[0], parts[1]
        english = self.given_names.is_english
        if self.given_names.is_given_name(first.capitalize()):
            return not english(first.lower()) or len(second) == 1
        if len(first) == 1:
            return len(second) >= 3 and not english(second.lower())
        return len(parts) == 2 and len(second) == 1 and len(first) >= 3 and not english(first.lower())

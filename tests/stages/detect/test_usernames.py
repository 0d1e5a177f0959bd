"""USERNAME: user names where their place marks them, in chats, mentions, logs and records."""

from __future__ import annotations

import pytest

from docveil.context import StageContext
from docveil.stages.combine import detect_texts


def usernames(text: str, context: StageContext) -> set[str]:
    return {text[f.start:f.end] for f in detect_texts([text], context)[0] if f.entity_type == "USERNAME"}


@pytest.mark.parametrize(("text", "names"), [
    ("[10:42] marta.k: did anyone restart the ingest job?\n[10:43] j.okafor: yes", ["marta.k", "j.okafor"]),
    ("14:02 <dmitri_v> who owns the billing service?", ["dmitri_v"]),
    ("<chidi.o> can someone approve my expense claim?", ["chidi.o"]),
    ("ahmed: lol\nahmed: ok I'll take the on-call shift", ["ahmed"]),  # a speaker of two lines
    ("Can you share the Q2 numbers with @pieter? Owner: @rahul-verma", ["pieter", "rahul-verma"]),
    ("2024-05-02T10:14:33Z INFO auth: login ok user=s.okafor ip=192.168.14.27", ["s.okafor"]),
    ('{"event":"password_reset","user":"tkowalski","ip":"10.1.1.1"}', ["tkowalski"]),
    ("WARN Failed password for rkumar from 198.51.100.23 port 52211 ssh2", ["rkumar"]),
    ("Customer account priya.natarajan locked after 5 failed attempts.", ["priya.natarajan"]),
    ("GET /api/users/marcus.chen/profile 200 12ms", ["marcus.chen"]),
    ("cc: olga.petrenko. Ping zoë.m or aisha_b for access.", ["olga.petrenko", "zoë.m", "aisha_b"]),
    ("[10:42] KarenW: pushed\n[09:12] ANowak: deploy finished", ["KarenW", "ANowak"]),  # CamelCase handles
    ("m.garcia: restarted the pod", ["m.garcia"]),  # an initial, then a surname
    ("Nov 3 10:01 web1 sudo: lmoreau : TTY=pts/1 ; PWD=/home/lmoreau ; USER=root", ["lmoreau"]),
    ("Nov 3 10:02 web1 su: (to root) tbakker on pts/0", ["tbakker"]),
    ("Nov 3 10:05 web1 CRON[4121]: (deploy_jsmith) CMD (/opt/backup.sh)", ["deploy_jsmith"]),
    (r"Saved to C:\Users\okwu\Documents and /Users/anna.b/Library", ["okwu", "anna.b"]),
    ('{"actor":"okwu.adaeze","action":"delete"}', ["okwu.adaeze"]),
    ("Files are in /home/lmoreau.", ["lmoreau"]),
])
def test_a_user_name_is_found(text: str, names: list[str], detect_context: StageContext) -> None:
    assert set(names) <= usernames(text, detect_context)


@pytest.mark.parametrize("text", [
    "note: the build is green\nnote: deploy tomorrow",  # an English word opening two lines
    "lena: thx",  # one line: no sign of a chat
    "Owner: finance\nAssignee: unassigned\nuser=root",  # English words and a generic account
    "See config.yaml, example.com and os.path.join; max.value and self.name; e.g. this; v1.2.3.",
    "@here @channel the release is out",
    "Email olga.petrenko@firma.pl today.",  # an email address, not a user name
    "<PERSON_9a58ee8571> reviewed the ledger.\n<EMAIL_ADDRESS_0123456789> was told.",  # docveil's tokens
    "09:00 Standup: room 4\n10:00 agenda: budget\n12:00:01 WARN: disk almost full",  # an agenda, a log
    "db_host: localhost\nlog_level: info\nserver.port: 8080\nspring.datasource.url: jdbc:x\nSet karma.conf",
    "<div> hello\n<span> world",
    "PWD=/home/root ; cd /home/ubuntu/app; C:\\Users\\Public\\x; sudo: root : TTY=pts/1",  # generic accounts
])
def test_no_user_name_where_there_is_none(text: str, detect_context: StageContext) -> None:
    assert not usernames(text, detect_context)

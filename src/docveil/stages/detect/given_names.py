"""Given names of every locale Faker knows: the evidence that a run of proper nouns is a person.

spaCy's small model labels many names it has not seen as organisations ("Ulrich Stavenhagen"
is an ORG to it), and misses a name whose surname went to the next line. A run that starts with
a given name is read as a person whatever label the model gave it (see
``ProperNounSpacyRecognizer``). The names come from Faker's person providers (MIT), about 30,000
across its 80-odd locales; they load in a tenth of a second.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Iterable

_PROVIDER_LISTS = ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary")
# A name as it is written in running text: a capital, then letters (an apostrophe or hyphen may
# join two parts). Entries in other scripts than Latin are kept; spaCy tags them too.
_WRITTEN_NAME = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")


@functools.cache
def faker_given_names() -> frozenset[str]:
    """Every given name in Faker's person providers, as written (capitalised); loaded once."""
    import faker.providers.person as person_providers

    names: set[str] = set()
    for module_info in pkgutil.iter_modules(person_providers.__path__):
        module = importlib.import_module(f"{person_providers.__name__}.{module_info.name}")
        provider = getattr(module, "Provider", None)
        for attribute in _PROVIDER_LISTS:
            value = vars(provider).get(attribute) if provider is not None else None
            if isinstance(value, (tuple, list, set, frozenset, dict)):
                names.update(_written(value))
    return frozenset(names)


def _written(values: Iterable[object]) -> Iterable[str]:
    for value in values:
        if isinstance(value, str) and value[:1].isupper() and _WRITTEN_NAME.fullmatch(value):
            yield value

"""Reading a prompt for what its answer depends on: numbers, units, dates, negation, names, the kind of question,
what it counts, whether it asks for another item than before, operators and file names, what the embedder's
tokenizer drops or cannot represent, symbols, and where each content word stands. Sentence embeddings are nearly
blind to all of these ("Convert 72 °F to °C" and "Convert 72 °C to °F" score 0.99), so the hit verifier compares
them explicitly."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.cache.verifier.brands import brands
from gateway.cache.verifier.glyphs import numerals, symbols
from gateway.cache.verifier.inflection import stem
from gateway.cache.verifier.lexicons import Lexicon, lexicon, singular, unelided
from gateway.cache.verifier.scripts import mixed
from gateway.cache.verifier.symbols import glued, operators
from gateway.cache.verifier.text import hidden, marked, normal
from gateway.cache.verifier.tokens import unknown, vocabulary
from gateway.cache.verifier.tongues import tongues
from gateway.cache.verifier.words import CLOCK, STOPWORDS, UNITS
from gateway.language import language_of

# Words (with inner apostrophes and hyphens), numbers with their sign, separators and suffixes (-4, 1,000.5, 25th,
# 6s, 22.04; not the minus of "5-3"), a degree sign with its scale, and any other single non-space character:
# punctuation takes part in word order.
_TOKEN = re.compile(r"°\s?[A-Za-z]\b|(?:(?<![\w)\]])[-−])?\d+(?:[.,:/]\d+)*[A-Za-z]*|[^\W\d_]+(?:['’\-][^\W\d_]+)*\w*"
                    r"|[^\w\s]")
_CONTRACTION = re.compile(r"(?:n['’]t|['’](?:s|re|ve|ll|d|m))$")
_CONTRACTED_STEMS = {"ca": "can", "wo": "will", "sha": "shall"}  # what is left of can't, won't, shan't
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_DIGIT = re.compile(r"\d")
# One name for the two countries most often written several ways ("US president" = "president of the USA").
_ALIASES = (
    (re.compile(r"\b(?:U\.S\.A\.?|U\.S\.?|USA|US|United States of America|United States"
                r"|(?<!North )(?<!South )(?<!Latin )(?<!Central )America)(?![\w.])"), "USA"),
    (re.compile(r"\b(?:U\.K\.?|UK|United Kingdom|Great Britain|Britain)(?![\w.])"), "UK"),
)


@dataclass(frozen=True)
class Reading:
    """One prompt, read for what its answer depends on."""

    words: tuple[str, ...]  # lowercased singular tokens in order, a name of several words as one ("new york")
    numbers: frozenset[str]  # normalised: "10" for "ten", "#1" for "first" and "1st", "9pm", "6s", "h2s"
    units: frozenset[str]  # one name per unit: "fahrenheit" for "°F"
    dates: frozenset[str]  # months, weekdays, "today"...
    names: frozenset[str]  # words written as names ("Paris" mid-sentence, "iPhone", "JSON"), singular
    negated: bool
    kind: str | None  # the kind of question ("why", "amount", "yesno"...), None for a statement or a request
    vocabulary: frozenset[str]  # every single word, singular
    anchors: dict[str, int]  # content words (and names) that occur once -> their position in `words`
    roles: tuple[tuple[str, str], ...]  # ("count", what "how many" counts), ("per", what it is counted per)
    others: frozenset[str]  # what it asks another of: "another joke" -> "joke", "what else" -> "what"
    operators: frozenset[str]  # "==", "->", "+=" (`symbols`)
    glued: frozenset[str]  # file and other names spelt with symbols: "invoice.pdf", ".ts", "c++"
    text: str  # as read: Unicode NFC, fractions and Roman numerals spelt as numbers (`glyphs`)
    hidden: frozenset[str]  # words holding characters the embedder's tokenizer drops (`text`)
    marked: frozenset[tuple[str, str]]  # words with accents or other marks: ("ano", "año")
    mixed: frozenset[str]  # words spelt in two scripts: "nоt" with a Cyrillic "о" (`scripts`)
    unknown: tuple[str, ...]  # words the tokenizer turns into [UNK], sorted (`tokens`)
    symbols: tuple[tuple[str, int], ...]  # symbols outside ASCII no other rule reads, counted (`glyphs`)
    lexicon: Lexicon  # the words of its language (`lexicons`)
    sources: frozenset[str]  # what something comes from: "Berlin" in "von Berlin nach Hamburg"
    targets: frozenset[str]  # where it goes: "Hamburg"
    toward: frozenset[str]  # where it goes, said only so: "naar" (Dutch), not "in"
    stems: frozenset[str]  # its words and their hyphenated parts without inflections, where "von" is read
    brands: frozenset[str]  # products, services and shops, in any case: "whatsapp", "bol.com" (`brands`)
    tongues: dict[str, str]  # words naming a language or a country -> which: "española" -> "es" (`tongues`)
    into: frozenset[str]  # the languages it asks for: "es" in "the English word 'X' in Spanish"


def _tokens(text: str, lex: Lexicon) -> tuple[list[str], list[bool]]:
    """Lowercased tokens (contractions split: "can't" -> "can", "not"), and which are written as names."""
    for pattern, name in _ALIASES:
        text = pattern.sub(name, text)
    words: list[str] = []
    capital: list[bool] = []  # a capital first letter where no sentence starts
    inner: list[bool] = []  # iPhone, GitHub, JSON, PostgreSQL: a name wherever it stands
    sentence_start = True
    for token in _TOKEN.findall(text):
        lower = token.lower()
        if not lower[0].isalnum() and lower[0] != "°":
            words.append(lower)
            capital.append(False)
            inner.append(False)
            # Spanish opens a question or an exclamation with "¿" or "¡": the word after starts a sentence.
            sentence_start = lower in ".?!:;¿¡" or (sentence_start and lower in "\"'“‘(«")
            continue
        if "'" in lower or "’" in lower:
            stem = _CONTRACTION.sub("", lower) or lower
            stem = _CONTRACTED_STEMS.get(stem, stem)
        else:
            stem = lower.replace(" ", "")  # "° F"
        nameable = token[0].isalpha() and stem not in lex.stopwords and stem not in UNITS
        words.append(stem)
        # Where every noun is capitalised, a capital makes a name only of a word the embedder's English vocabulary
        # holds whole ("Berlin", "Einstein", "Java"), not of "Flug" or "Kaffee".
        capital.append(nameable and token[0].isupper() and not sentence_start
                       and (not lex.capital_nouns or lower in vocabulary()))
        inner.append(nameable and token[1:] != token[1:].lower())
        if lower.endswith(("n't", "n’t")):
            words.append("not")
            capital.append(False)
            inner.append(False)
        sentence_start = False
    # In Title Case Text a capital says nothing, so there only inner capitals make names.
    capitals = sum(capital)
    title_case = capitals >= 3 and capitals > 0.6 * sum(word.isalpha() and word not in lex.stopwords
                                                        for word in words)
    return words, [own or (first and not title_case) for own, first in zip(inner, capital, strict=True)]


def _joined(words: list[str], names: list[bool]) -> list[str]:
    """Words in order, a name of several words as one, so that "New York" moves as a unit."""
    joined: list[str] = []
    for i, word in enumerate(words):
        if i > 0 and names[i] and names[i - 1]:
            joined[-1] += " " + word
        else:
            joined.append(word)
    return joined


_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+")  # "1.000.000" where a comma marks decimals


def _number(word: str, lex: Lexicon) -> str | None:
    if word in lex.number_words:
        return lex.number_words[word]
    if word in lex.ordinal_words:
        return lex.ordinal_words[word]
    if not _DIGIT.search(word):
        return None
    ordinal = _ORDINAL.match(word)
    if ordinal:
        return "#" + ordinal.group(1)
    if lex.decimal_comma and ("," in word or _THOUSANDS.fullmatch(word.lstrip("-−"))):
        word = word.replace(".", "").replace(",", ".")  # "1,5" = 1.5, "1.000,5" = 1000.5
    plain = word.replace(",", "").replace("−", "-")
    return plain if plain.removeprefix("-").replace(".", "").isdigit() else word


def _numbers_and_units(words: list[str], plain: list[str], lex: Lexicon) -> tuple[set[str], set[str]]:
    numbers: dict[int, str] = {}
    units: set[str] = set()
    for i, word in enumerate(words):
        if i - 1 in numbers and word in lex.fractions:  # "dois terços" = "2/3", before "quartos" is an ordinal
            numbers[i - 1] += "/" + lex.fractions[word]
            continue
        number = _number(word, lex)
        if number is not None:  # "1903 -1967" is a range, not a negative year:
            numbers[i] = number[1:] if number.startswith("-") and i - 1 in numbers else number
            continue
        after_number = i - 1 in numbers
        if word in CLOCK and after_number:
            numbers[i - 1] += word  # "9 pm" is not "9 am"
            continue
        unit = UNITS.get(word) or UNITS.get(plain[i])
        # A one-letter unit ("m", "g") is one only after a number; else it is a letter.
        if unit is not None and (after_number or not (len(word) == 1 and word.isalpha())):
            units.add(unit)
        elif plain[i] in lex.time_units and after_number:
            units.add(plain[i])
    return set(numbers.values()), units


def _dates(words: list[str], names: set[str], lex: Lexicon) -> set[str]:
    # "may" is a month only when written as a name or next to a number; else it is the verb.
    return {word for i, word in enumerate(words) if word in lex.dates and (
        word != "may" or word in names or any(_number(near, lex) for near in words[max(0, i - 1):i + 2]))}


def _kind(words: list[str], lex: Lexicon) -> str | None:
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else None
        if word == lex.how and following in lex.how_much:
            return "amount"
        if lex.why is not None and (word, following) == lex.why:
            return "why"
        if word in lex.kinds:
            return lex.kinds[word]
    return "yesno" if words and words[0] in lex.auxiliaries else None


def _anchors(words: list[str], stopwords: frozenset[str]) -> dict[str, int]:
    position: dict[str, int] = {}
    repeated: set[str] = set()
    for i, word in enumerate(words):
        if (word[0].isalnum() or word in UNITS) and word not in stopwords:
            if word in position:
                repeated.add(word)
            position[word] = i
    return {word: i for word, i in position.items() if word not in repeated}


def _roles(words: list[str], plain: list[str]) -> tuple[tuple[str, str], ...]:
    """What a question counts and per what: "how many cups (are in a gallon)", "(calories) per gram"."""
    roles: list[tuple[str, str]] = []
    if "how" not in words and "per" not in words:
        return ()
    for i, word in enumerate(words):
        if word == "per":
            role, at = "per", i + 1
        elif word == "how" and words[i + 1:i + 2] in (["many"], ["much"]):
            role, at = "count", i + 2
        else:
            continue
        if at < len(words) and words[at][0].isalpha() and words[at] not in STOPWORDS:
            roles.append((role, plain[at]))
    return tuple(roles)


_MARKERS = frozenset({"another", "other", "else", "different", "more"})
_FEW = frozenset({"one", "some", "few", "any"})  # "one more", "a few more"
_ANYONE = frozenset({"people", "person", "folk", "guy", "user"})  # "what other people think": what others think
_ASKS_ANOTHER_AFTER = frozenset({"^", "what", "which", "some", "any", "me", "us"})  # "(give me) other X"
_NO_ITEM = STOPWORDS - {"one", "ones", "way"}  # "another one", "another way"; not "another is"


def _others(words: list[str], plain: list[str]) -> frozenset[str]:
    """What a prompt asks another of, besides what came before: "another joke", "one more fact", "a different
    recipe", "some other names" -> the word after ("" at the end); "what else", "something different" -> the
    word before. "each other", "one another", "other than", "others", "other people" are no such request, nor
    "an alternative" ("alternative medicine" is a kind)."""
    found: set[str] = set()
    if _MARKERS.isdisjoint(words):
        return frozenset()
    for i, word in enumerate(words):
        before, after = (words[i - 1] if i else "^"), (words[i + 1] if i + 1 < len(words) else "$")
        if word == "else" or (word == "different" and before in ("something", "anything")):
            if before[0].isalpha() and before != "or":
                found.add(plain[i - 1])
        elif ((word == "another" and before != "one") or (word == "other" and before in _ASKS_ANOTHER_AFTER)
              or (word == "different" and before in ("a", "an")) or (word == "more" and before in _FEW)):
            if not after[0].isalnum():
                found.add("")
            elif after not in _NO_ITEM and plain[i + 1] not in _ANYONE:
                found.add(plain[i + 1])
    return frozenset(found)


def _after(words: list[str], plain: list[str], markers: frozenset[str], lex: Lexicon) -> frozenset[str]:
    """The first content word after each marker, past articles and possessives: "do Brasil" -> "brasil"."""
    if markers.isdisjoint(words):
        return frozenset()
    found = set()
    for i, word in enumerate(words):
        if word in markers:
            at = i + 1
            while at < len(words) and words[at] in lex.weak:
                at += 1
            if at < len(words) and words[at][0].isalnum() and words[at] not in lex.stopwords:
                found.add(plain[at])
    return frozenset(found)


def read(text: str) -> Reading:
    # The language its semantic scope was keyed with, told from the text as sent: told after normalising here, a
    # prompt keyed Portuguese could be read with English words, its "não" no negation (both prompts of a comparison
    # are read in one language only if both are told the way their scope was).
    language = language_of(text)
    text = numerals(normal(text))
    lex = lexicon(language)
    text = unelided(language, text)
    words, is_name = _tokens(text, lex)
    plain = [singular(word) for word in words]
    names = {word for word, name in zip(plain, is_name, strict=True) if name}
    numbers, units = _numbers_and_units(words, plain, lex)
    joined = _joined(plain, is_name)
    parts = frozenset(plain).union(*(map(singular, word.split("-")) for word in plain if "-" in word))
    targets = _after(words, plain, lex.targets, lex)
    return Reading(
        words=tuple(joined),
        numbers=frozenset(numbers),
        units=frozenset(units),
        dates=frozenset(_dates(words, names, lex)),
        names=frozenset(names),
        negated=not lex.negations.isdisjoint(words),
        kind=_kind(words, lex),
        vocabulary=frozenset(plain),
        anchors=_anchors(joined, lex.stopwords),
        roles=_roles(words, plain),
        others=_others(words, plain),
        operators=operators(text),
        glued=glued(text),
        text=text,
        hidden=hidden(text),
        marked=marked(text),
        mixed=mixed(text),
        unknown=unknown(text),
        symbols=symbols(text),
        lexicon=lex,
        sources=_after(words, plain, lex.sources, lex), targets=targets, toward=_after(words, plain, lex.toward, lex),
        stems=frozenset(stem(word, lex.endings) for word in parts) if lex.sources else frozenset(),
        brands=brands(text),
        tongues=(named := tongues(text, language)),
        into=frozenset(named[word] for word in targets if word in named),
    )

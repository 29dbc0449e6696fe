"""The hit verifier: a semantic candidate is served only when its cached prompt asks what the query asks.

The embedder scores look-alikes that ask something else as near-identical: another number, date, unit or name,
a negation, an opposite word, another kind of question, another operator or file name, a request for another
item than before, the same words in other roles ("Convert 72 °F to °C" vs "Convert 72 °C to °F": cosine 0.99),
characters its tokenizer drops (a zero-width space, an accent) or cannot represent (an emoji, a script its
vocabulary lacks: the same [UNK] for all), or a symbol ("≤" vs "≥", "→" vs "←"). Each rule in `RULES` rejects one
such difference. All are lexical, so a verdict costs tens of microseconds; what they cannot see (a synonym that is not
one, a lowercase name no list holds, sarcasm) is left to the distance threshold and to a small fitted score over
what the prompts do not share (`score`), asked only when no rule objects."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from itertools import pairwise

from gateway.cache.verifier.inflection import stem
from gateway.cache.verifier.lexicons import Lexicon, singular
from gateway.cache.verifier.opposites import opposed
from gateway.cache.verifier.reading import Reading, read
from gateway.cache.verifier.score import Trees, features
from gateway.cache.verifier.symbols import language_dropped, swapped
from gateway.cache.verifier.text import accent_dropped
from gateway.cache.verifier.tokens import vocabulary
from gateway.cache.verifier.words import COMPATIBLE_KINDS

# The local embedder reads a prompt's first 256 word pieces (~1,300 characters of prose): past that, two prompts
# may differ in ways no vector shows, so the verifier reads a margin further and requires the rest to be the same.
READ_CHARS = 2048
_LIST_SPAN = 4  # words between two swapped ones; a longer span holds a relation, not a list
_PHRASE_MOVE_CUTS = 3  # moving one phrase elsewhere cuts the order of the shared words in at most 3 places


@lru_cache(maxsize=1024)  # a query is compared with up to SEMANTIC_CANDIDATES prompts, popular prompts often
def _reading(text: str) -> Reading:
    return read(text)


def _numbers(a: Reading, b: Reading) -> bool:
    return a.numbers != b.numbers


def _units(a: Reading, b: Reading) -> bool:
    return a.units != b.units


def _dates(a: Reading, b: Reading) -> bool:
    return a.dates != b.dates


def _negation(a: Reading, b: Reading) -> bool:
    return a.negated != b.negated


def _question(a: Reading, b: Reading) -> bool:
    """Two kinds of question asking for different answers ("when" vs "why"); "what" and requests match any."""
    return (a.kind not in (None, "what") and b.kind not in (None, "what") and a.kind != b.kind
            and frozenset({a.kind, b.kind}) not in COMPATIBLE_KINDS)


def _known(name: str, mine: Reading, theirs: Reading) -> bool:
    """Whether a name of mine is in their prompt too: as a word and, where names inflect, in or as the parts of a
    compound ("Docker-Container" vs "Container in Docker"), as the head of a German compound ("Pass" in
    "Reisepass"), or as the same language or country ("España" vs "española")."""
    if name in theirs.vocabulary or not theirs.lexicon.names_inflect:
        return name in theirs.vocabulary
    compounds = [word.split("-") for word in theirs.vocabulary if "-" in word]
    split = name.split("-")
    if len(split) > 1 and any(parts != split and sorted(parts) == sorted(split) for parts in compounds):
        return False  # the same parts in another order: "Anglo-Egyptian" vs "Egyptian-Anglo"
    if len(split) > 1 and all(part in theirs.vocabulary or any(part in map(singular, c) for c in compounds)
                              for part in map(singular, split)):
        return True
    if any(name in map(singular, compound) for compound in compounds):
        return True
    if theirs.lexicon.capital_nouns and any(word.endswith(name) for word in theirs.vocabulary):
        return True
    return name in mine.tongues and mine.tongues[name] in theirs.tongues.values()


def _names(a: Reading, b: Reading) -> bool:
    """A name written in one prompt and absent from the other (in any case): "Austria" vs "Australia"."""
    return any(not _known(name, a, b) for name in a.names) or any(not _known(name, b, a) for name in b.names)


def _brands(a: Reading, b: Reading) -> bool:
    """One product or service in place of another, written in lowercase: "on a samsung" vs "on an iphone"."""
    if a.brands == b.brands:
        return False
    return (any(brand.replace("-", " ") not in b.text.lower() for brand in a.brands - b.brands)
            and any(brand.replace("-", " ") not in a.text.lower() for brand in b.brands - a.brands))


def _tongues(a: Reading, b: Reading) -> bool:
    """One language or country in place of another, as lowercase as most languages write them: "en francés" vs
    "en alemán". One only named by one prompt is left to the distance ("Pix" vs "Pix in Brazil")."""
    mine, theirs = set(a.tongues.values()), set(b.tongues.values())
    return bool(mine - theirs) and bool(theirs - mine)


def _opposites(a: Reading, b: Reading) -> bool:
    """A word only one prompt has whose opposite only the other has: "turn on" vs "turn off"."""
    return opposed(a, b)


def _inverse(a: Reading, b: Reading) -> bool:
    """The same two things, counted the other way round: "how many cups in a gallon" vs "how many gallons in a
    cup", "calories per gram" vs "grams per calorie"."""
    if not a.roles or not b.roles:
        return False
    theirs = dict(b.roles)
    return any(theirs.get(role, word) != word and word in b.vocabulary and theirs[role] in a.vocabulary
               for role, word in a.roles)


def _another(a: Reading, b: Reading) -> bool:
    """One prompt asks for another of something the other asks for: "a joke" vs "another joke" (the cached
    answer is the very one the asker wants a replacement for)."""
    if a.others == b.others:
        return False
    return any(item not in b.others and (not item or item in b.vocabulary) for item in a.others) or any(
        item not in a.others and (not item or item in a.vocabulary) for item in b.others)


def _direction(a: Reading, b: Reading) -> bool:
    """Where one prompt comes from is where the other goes: "von Berlin nach Hamburg" vs "von Hamburg nach
    Berlin". Both must say both: alone, "de" and "du" more often mean "of" ("avec du CSS" vs "en CSS")."""
    return bool(a.sources and a.targets and b.sources and b.targets) and not (
        a.sources.isdisjoint(b.targets) and a.targets.isdisjoint(b.sources))


def _translation(a: Reading, b: Reading) -> bool:
    """Asked into another language: "the English word 'gift' in German" vs "the German word 'Gift' in English"
    (the same words: only what follows "in", "al", "auf", "para o" tells the direction)."""
    return bool(a.into) and bool(b.into) and a.into != b.into


def _traded(a: Reading, b: Reading) -> bool:
    """What one prompt says after "from" ("to") the other says elsewhere, and the other way round: "van
    hoofdletters kleine letters" vs "van kleine letters hoofdletters", "Word-document naar Google Doc" vs "Google
    Doc naar Word-document", inflected or not ("von der gesetzlichen in die private" vs "von der privaten")."""
    endings = a.lexicon.endings
    for mine, theirs in ((a.sources, b.sources), (a.toward, b.toward)):
        mine_, theirs_ = {stem(w, endings) for w in mine}, {stem(w, endings) for w in theirs}
        if mine_ - theirs_ and theirs_ - mine_ and b.stems.issuperset(mine_ - theirs_) and a.stems.issuperset(
                theirs_ - mine_):
            return True
    return False


def _operators(a: Reading, b: Reading) -> bool:
    return swapped(a.operators, b.operators)


def _files(a: Reading, b: Reading) -> bool:
    """Another file, extension or symbol-spelt name ("invoice.pdf" vs "invoice.pdf.exe", ".js" vs ".ts", "C" vs
    "C++")."""
    if a.glued == b.glued:
        return False
    return (swapped(a.glued, b.glued) or language_dropped(a.glued, b.vocabulary, b.glued)
            or language_dropped(b.glued, a.vocabulary, a.glued))


def _invisible(a: Reading, b: Reading) -> bool:
    return a.hidden != b.hidden


def _accents(a: Reading, b: Reading) -> bool:
    return accent_dropped(a.marked, b.text) or accent_dropped(b.marked, a.text)


def _look_alike(a: Reading, b: Reading) -> bool:
    return a.mixed != b.mixed


def _unknown(a: Reading, b: Reading) -> bool:
    """Words the embedder reads as the same [UNK]: "reply with ✅" vs "reply with ❌" (distance 0)."""
    return a.unknown != b.unknown


def _symbols(a: Reading, b: Reading) -> bool:
    return a.symbols != b.symbols


def _context(words: tuple[str, ...], i: int) -> tuple[str, str]:
    return (words[i - 1] if i > 0 else "^", words[i + 1] if i + 1 < len(words) else "$")


def _took_place(one: tuple[str, str], other: tuple[str, str], weak: frozenset[str]) -> bool:
    """Whether a word with context `one` stands where a word with context `other` stood."""
    return any(mine == theirs and mine not in weak for mine, theirs in zip(one, other, strict=True))


def _listed(words: tuple[str, ...], i: int, j: int, lex: Lexicon) -> bool:
    """Whether the words at i and j are joined as a plain list or pair: "X and Y", "X or the Y". A noun both
    share may stand between them ("natural products and herbal products")."""
    low, high = min(i, j), max(i, j)
    span = words[low + 1:high]
    head = words[low + 1] if high + 1 < len(words) and words[low + 1] == words[high + 1] else None
    return (len(span) <= _LIST_SPAN and any(word in lex.connectors for word in span)
            and all(word in lex.connectors or word in lex.determiners or word == head for word in span))


def _swapped(a: Reading, b: Reading) -> bool:
    """Two shared words that traded places, each now standing where the other stood, other than in a list:
    "from A to B" vs "from B to A", "X better than Y" vs "Y better than X", "A bought B" vs "B bought A"."""
    lex = a.lexicon
    moved = {word: (i, b.anchors[word]) for word, i in a.anchors.items()
             if word in b.anchors and _context(a.words, i) != _context(b.words, b.anchors[word])}
    # Index the moved words by their neighbours in `b`, so each word of `a` meets only plausible partners.
    beside: dict[tuple[int, str], list[str]] = {}
    for word, (_, j) in moved.items():
        for side, neighbour in enumerate(_context(b.words, j)):
            if neighbour not in lex.weak:
                beside.setdefault((side, neighbour), []).append(word)
    for ax, bx in moved.values():
        x_context = _context(a.words, ax)
        for y in {y for side in (0, 1) for y in beside.get((side, x_context[side]), ())}:
            ay, by = moved[y]
            if (ax < ay) != (bx < by) and _took_place(_context(a.words, ay), _context(b.words, bx), lex.weak) and not (
                    _listed(a.words, ax, ay, lex) and _listed(b.words, bx, by, lex)):
                return True
    return False


def _reordered(a: Reading, b: Reading) -> bool:
    """Shared words in an order that moving one phrase elsewhere cannot explain. Moving a phrase ("in Python, how
    do I X" = "how do I X in Python") cuts the order of the shared words in at most three places; roles traded
    between words cut it in more ("A beat B before losing to C" vs "C beat A before losing to B")."""
    shared = sorted((i, b.anchors[word]) for word, i in a.anchors.items() if word in b.anchors)
    rank = {position: n for n, position in enumerate(sorted(theirs for _, theirs in shared))}
    order = [-1, *(rank[theirs] for _, theirs in shared), len(shared)]
    return sum(after != before + 1 for before, after in pairwise(order)) > _PHRASE_MOVE_CUTS


RULES: tuple[tuple[str, Callable[[Reading, Reading], bool]], ...] = (
    ("invisible", _invisible), ("accent", _accents), ("look-alike", _look_alike), ("unknown", _unknown),
    ("symbol", _symbols),
    ("number", _numbers), ("unit", _units), ("date", _dates),
    ("negation", _negation), ("question", _question), ("name", _names), ("name", _brands), ("name", _tongues),
    ("file", _files), ("operator", _operators),
    ("opposite", _opposites), ("another", _another), ("inverse", _inverse),
    ("order", _swapped), ("order", _reordered), ("direction", _direction), ("direction", _translation),
    ("direction", _traded),
)


def _unread_tails_differ(query: str, cached: str) -> bool:
    """Whether the prompts differ anywhere past the first READ_CHARS characters of either (where the embedder
    and the rules do not look): their longest common suffix must cover everything after that."""
    if len(query) <= READ_CHARS and len(cached) <= READ_CHARS:
        return False
    low, high = 0, min(len(query), len(cached))  # binary search on the suffix length: C-speed slice compares
    while low < high:
        middle = (low + high + 1) // 2
        if query[len(query) - middle:] == cached[len(cached) - middle:]:
            low = middle
        else:
            high = middle - 1
    return max(len(query), len(cached)) - low > READ_CHARS


def difference(query: str, cached: str) -> str | None:
    """The first difference that changes the answer, by rule name, or None when the prompts ask the same."""
    if _unread_tails_differ(query, cached):
        return "tail"
    a, b = _reading(query[:READ_CHARS]), _reading(cached[:READ_CHARS])
    for name, differs in RULES:
        if differs(a, b):
            return name
    return None


class HitVerifier:
    """`gateway.cache.policy.Verifier`: rejects a candidate whose prompt differs from the query in what changes
    the answer (see `RULES`), then one that the fitted score (`score`) finds unlikely to ask the same.

    The score was fit on the local embedder's distances, up to its reach: with another embedder (`scored=False`),
    or beyond the reach (a threshold loosened on purpose), only the rules judge."""

    def __init__(self, trees: Trees | None = None, *, scored: bool = True) -> None:
        self.trees = trees or _shipped_trees() if scored else None
        vocabulary()  # read now, not on the first semantic candidate

    def objection(self, query: str, cached: str, distance: float) -> str | None:
        """The rule against serving `cached` for `query`, "score" when only the score is, None to serve it."""
        rule = difference(query, cached)
        if rule is not None or self.trees is None or distance > self.trees.reach:
            return rule
        row = features(_reading(query[:READ_CHARS]), _reading(cached[:READ_CHARS]), distance)
        return None if self.trees.score(row) >= self.trees.threshold else "score"

    def accepts(self, query: str, cached: str, distance: float) -> bool:
        return self.objection(query, cached, distance) is None


@cache
def _shipped_trees() -> Trees:
    return Trees()

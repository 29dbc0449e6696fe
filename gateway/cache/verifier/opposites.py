"""Opposites for the hit verifier: a lexicon of antonyms with their inflections ("warm"/"cold", "warmest"/
"coldest", "pros"/"cons", "edible"/"poisonous"), and those made with an affix (`affixes`).

An antonym swapped for its word barely moves a sentence vector ("the warmest month" vs "the coldest month": cosine
0.95), so a word only one prompt has whose opposite only the other has is an objection. The lexicon lists plain
forms by part of speech, and `forms` adds their inflections, comparatives and superlatives among them; words built
with an opposing affix need no entry (see `_AFFIXES`)."""

from __future__ import annotations

from gateway.cache.verifier.affixes import affixes_opposed
from gateway.cache.verifier.reading import Reading, singular


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((one, other) for one, _, other in (pair.partition("/") for pair in text.split()))


ADJECTIVES = _pairs("""
good/bad good/evil good/poor well/badly well/poorly many/few more/less more/fewer most/least
most/fewest high/low tall/short long/short big/small big/little large/small huge/tiny great/small wide/narrow
broad/narrow thick/thin deep/shallow heavy/light fat/thin fat/skinny fat/lean hot/cold warm/cold warm/cool
hot/cool hot/iced hot/mild fast/slow quick/slow rapid/slow early/late easy/hard easy/difficult simple/complex
simple/complicated hard/soft firm/soft cheap/expensive cheap/costly rich/poor wealthy/poor strong/weak
powerful/weak young/old new/old new/used modern/ancient happy/sad glad/sad right/wrong correct/wrong true/false
yes/no yes/nope yeah/no
real/fake genuine/fake natural/artificial natural/synthetic positive/negative optimistic/pessimistic
active/passive alive/dead live/dead clean/dirty dry/wet loud/quiet loud/soft noisy/quiet loud/silent
bright/dark bright/dim light/dark full/empty open/closed open/shut safe/dangerous safe/risky safe/harmful
safe/toxic edible/poisonous edible/toxic healthy/sick healthy/harmful clever/stupid smart/dumb smart/stupid
wise/foolish beautiful/ugly pretty/ugly polite/rude kind/cruel nice/mean nice/nasty friendly/hostile
brave/cowardly calm/nervous relaxed/stressed relaxed/tense sweet/sour sweet/bitter sweet/savory sweet/salty
mild/spicy mild/severe raw/cooked fresh/stale fresh/rotten fresh/frozen tight/loose sharp/dull sharp/blunt
smooth/rough straight/curly straight/crooked straight/gay near/far close/far close/distant inner/outer
upper/lower front/back front/rear major/minor primary/secondary maximum/minimum max/min junior/senior
superior/inferior internal/external interior/exterior domestic/foreign domestic/international domestic/wild
wild/tame local/global local/remote local/foreign native/foreign native/invasive urban/rural public/private
public/secret common/rare frequent/rare general/specific abstract/concrete absolute/relative
theoretical/practical physical/mental physical/digital digital/analog present/absent past/present past/future
present/future permanent/temporary constant/variable static/dynamic fixed/variable even/odd single/married
single/double single/multiple single/multi sync/async serial/parallel sequential/parallel horizontal/vertical
clockwise/counterclockwise clockwise/anticlockwise northern/southern eastern/western left/right top/bottom
male/female masculine/feminine acidic/alkaline acidic/basic acid/alkaline hungry/full awake/asleep sober/drunk
busy/free busy/idle free/paid optional/required optional/mandatory optional/compulsory voluntary/compulsory
mandatory/voluntary formal/casual strict/lenient strict/loose liberal/conservative progressive/conservative
religious/secular guilty/innocent honest/corrupt famous/obscure first/last initial/final previous/next
last/next former/latter former/current ascending/descending lazy/eager wired/wireless solid/liquid liquid/gas
solid/hollow singular/plural real/imaginary deep/surface shallow/deep dense/sparse plus/minus leading/trailing
bullish/bearish herbivorous/carnivorous sunny/cloudy sunny/rainy windy/calm moist/dry
nocturnal/diurnal sleepy/awake venomous/harmless deep/high humid/dry peaceful/aggressive calm/aggressive generous/stingy
generous/selfish successful/failed healthy/toxic tired/rested tired/energetic prime/composite manual/automatic
online/offline
""")
VERBS = _pairs("""
like/hate love/hate enjoy/hate buy/sell rent/buy rent/own give/take give/receive send/receive lend/borrow
win/lose gain/lose find/lose keep/lose save/lose remember/forget learn/forget accept/reject accept/refuse
accept/decline allow/forbid allow/prohibit allow/prevent allow/deny allow/block allow/ban permit/forbid
permit/prohibit permit/ban ban/legalize open/close open/shut start/stop start/end start/finish begin/end
begin/finish arrive/depart arrive/leave come/go enter/exit enter/leave push/pull push/pop attack/defend
advance/retreat rise/fall rise/sink float/sink swim/sink raise/lower lift/lower increase/reduce increase/lower
boost/reduce boost/lower expand/shrink expand/contract expand/collapse grow/shrink widen/narrow
lengthen/shorten tighten/loosen strengthen/weaken lighten/darken add/remove add/subtract add/delete
multiply/divide insert/delete insert/remove create/destroy create/delete build/destroy build/demolish
construct/destroy save/spend save/waste earn/spend save/delete keep/delete keep/remove keep/discard
include/omit hide/show hide/reveal conceal/reveal show/conceal appear/vanish freeze/thaw freeze/melt heat/cool
warm/cool wake/sleep live/die marry/divorce hire/fire employ/dismiss pass/fail succeed/fail confirm/deny
admit/deny approve/reject praise/criticize praise/blame reward/punish join/leave join/quit attach/detach
ascend/descend teach/learn speak/listen talk/listen read/write fill/empty fill/drain charge/drain
zip/unzip tie/untie redo/undo set/unset pin/unpin sit/stand laugh/cry smile/frown lead/follow
deposit/withdraw attract/repel absorb/reflect absorb/emit absorb/release arrest/release capture/release
catch/release catch/throw catch/miss hit/miss bless/curse cause/prevent cause/cure collect/distribute
combine/separate merge/split join/split unite/divide help/hurt help/harm help/hinder protect/attack
protect/harm protect/expose support/oppose speed/slow evaporate/condense delete/restore delete/recover
backup/restore commit/rollback append/prepend break/continue inhale/exhale sink/float wax/wane boil/freeze
melt/boil dim/brighten
""")
NOUNS = _pairs("""
advantage/drawback benefit/drawback benefit/disadvantage benefit/harm benefit/risk benefit/cost pro/con
strength/weakness asset/liability profit/loss credit/debit income/expense income/expenditure revenue/expense
supply/demand bull/bear deposit/withdrawal borrower/lender debtor/creditor buyer/seller landlord/tenant
host/guest winner/loser victory/defeat success/failure war/peace friend/enemy ally/enemy hero/villain
master/slave leader/follower teacher/student teacher/pupil doctor/patient parent/child adult/child
predator/prey majority/minority question/answer problem/solution cause/effect beginning/end birth/death
life/death heaven/hell day/night dawn/dusk sunrise/sunset morning/evening morning/night summer/winter
spring/autumn spring/fall heat/cold light/darkness black/white ceiling/floor entrance/exit entry/exit
head/tail client/server sender/receiver sender/recipient source/destination source/target origin/destination
departure/arrival reader/writer producer/consumer publisher/subscriber getter/setter ancestor/descendant
predecessor/successor prefix/suffix header/footer numerator/denominator multiplication/division
addition/subtraction row/column width/height length/width latitude/longitude margin/padding stack/queue
stack/heap request/response gain/loss growth/decline boom/bust boom/recession surplus/deficit attack/defense
offense/defense offence/defence attacker/defender weekday/weekend optimist/pessimist acceptance/rejection
man/woman men/women boy/girl husband/wife father/mother dad/mom dad/mum son/daughter brother/sister
uncle/aunt nephew/niece king/queen prince/princess actor/actress waiter/waitress grandfather/grandmother
grandson/granddaughter grandpa/grandma boyfriend/girlfriend gentleman/lady sir/madam
groom/bride vowel/consonant staging/production herbivore/carnivore
""")
# Uninflected words: particles, prepositions, adverbs, pronouns.
WORDS = _pairs("""
on/off in/out up/down over/under above/below before/after inside/outside forward/backward
ahead/behind always/rarely always/sometimes often/rarely often/seldom frequently/rarely
usually/rarely for/against pro/anti since/until into/out he/she his/her him/her himself/herself north/south
east/west
""")

_IRREGULAR = {
    "give": "gave given", "take": "took taken", "win": "won", "lose": "lost", "buy": "bought", "sell": "sold",
    "begin": "began begun", "fall": "fell fallen", "rise": "rose risen", "send": "sent", "lend": "lent",
    "come": "came", "go": "went gone goes", "find": "found", "forget": "forgot forgotten", "teach": "taught",
    "learn": "learnt", "hide": "hid hidden", "show": "shown", "freeze": "froze frozen", "wake": "woke woken",
    "leave": "left", "throw": "threw thrown", "catch": "caught", "speak": "spoke spoken",
    "write": "wrote written", "build": "built", "break": "broke broken", "sit": "sat", "stand": "stood",
    "sink": "sank sunk", "swim": "swam swum", "keep": "kept", "spend": "spent", "lead": "led", "do": "did done",
    "undo": "undid undone", "withdraw": "withdrew withdrawn", "grow": "grew grown", "shrink": "shrank shrunk",
    "forbid": "forbade forbidden", "sleep": "slept", "hit": "hit", "set": "set", "shut": "shut", "split": "split",
    "man": "men", "woman": "women", "child": "children", "gentleman": "gentlemen",
}
# Comparative and superlative (and the adverbs that share them) that no suffix makes.
_DEGREES = {"good": ("better", "best"), "well": ("better", "best"), "bad": ("worse", "worst"),
            "badly": ("worse", "worst"), "many": ("more", "most"), "much": ("more", "most"),
            "far": ("farther further", "farthest furthest"), "old": ("elder", "eldest")}
_VOWELS = frozenset("aeiou")


def _stems(word: str) -> set[str]:
    """What a suffix starting with a vowel attaches to: "hop" -> "hopp" (hopping), "hope" -> "hop" (hoping),
    "easy" -> "easi" (easier). Both the doubled and the plain stem are kept (one of them is not a word)."""
    stems = {word}
    if word.endswith("e"):
        stems.add(word[:-1])
    elif word.endswith("y") and len(word) > 2 and word[-2] not in _VOWELS:
        stems.add(word[:-1] + "i")
    elif len(word) >= 3 and word[-1] not in _VOWELS | {"w", "x", "y"} and word[-2] in _VOWELS and (
            word[-3] not in _VOWELS):
        stems.add(word + word[-1])
    return stems


def _plural(word: str) -> set[str]:
    """Also a verb's third person: "con" -> "cons", "box" -> "boxes", "deny" -> "denies"."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return {word, word + "es"}
    return {word, word + "s", *(stem + "es" for stem in _stems(word) if stem.endswith("i"))}


def _degrees(word: str) -> tuple[set[str], set[str]]:
    """The comparatives and the superlatives of an adjective: "warm" -> ({"warmer"}, {"warmest"})."""
    if word in _DEGREES:
        more, most = _DEGREES[word]
        return set(more.split()), set(most.split())
    stems = _stems(word)
    return {stem + ("r" if stem.endswith("e") else "er") for stem in stems}, {
        stem + ("st" if stem.endswith("e") else "est") for stem in stems}


def forms(word: str, kind: str) -> frozenset[str]:
    """A word and its inflections for its part of speech ("adjective", "verb", "noun" or "word"), as the reader
    spells them (singular). A few non-words among them do no harm in a lookup."""
    found = {word, *_IRREGULAR.get(word, "").split()}
    if kind == "adjective":
        more, most = _degrees(word)
        found |= more | most | {stem + "ly" for stem in _stems(word)} | {word + "ly", word + "ally"}
    elif kind == "verb":
        found |= _plural(word) | {stem + ending for stem in _stems(word) for ending in ("ed", "ing")}
        found |= {word + "d"} if word.endswith("e") else set()
    elif kind == "noun":
        found |= _plural(word)
    return frozenset(singular(form) for form in found)


_LEXICON = (("adjective", ADJECTIVES), ("verb", VERBS), ("noun", NOUNS), ("word", WORDS))


def _opposite_table() -> dict[str, frozenset[str]]:
    """Each form of a lexicon word -> the forms of its opposites."""
    table: dict[str, frozenset[str]] = {}
    for kind, pairs in _LEXICON:
        for one, other in pairs:
            for a, b in ((one, other), (other, one)):
                for form in forms(a, kind):
                    table[form] = table.get(form, frozenset()) | forms(b, kind)
    return table


def _kin_table() -> dict[str, frozenset[str]]:
    """Each form of a lexicon word -> every form of that word ("actresses" -> "actress", "actresses"...)."""
    table: dict[str, frozenset[str]] = {}
    for kind, pairs in _LEXICON:
        for word in {word for pair in pairs for word in pair}:
            kin = forms(word, kind)
            for form in kin:
                table[form] = table.get(form, frozenset()) | kin
    return table


OPPOSITE = _opposite_table()
KIN = _kin_table()
_PLACED = frozenset(form for pair in WORDS for word in pair for form in forms(word, "word"))


def _beside(words: tuple[str, ...], word: str) -> set[tuple[int, str]]:
    return {(side, words[i + step]) for i, at in enumerate(words) if at == word
            for side, step in ((0, -1), (1, 1)) if 0 <= i + step < len(words)}


def opposed(a: Reading, b: Reading) -> bool:
    """Whether a word only `a` has is the opposite of a word only `b` has, by the lexicon or by an affix, also as
    one part of a hyphenated word ("long-term" vs "short-term"). A particle or preposition must stand where its
    opposite stood ("log in" vs "log out"), since phrasal verbs put them everywhere ("figure out", "log in")."""
    only_a, only_b = a.vocabulary - b.vocabulary, b.vocabulary - a.vocabulary
    if a.lexicon.opposites:  # another language than English: its antonyms, without affixes
        table, kin = a.lexicon.opposites, a.lexicon.kin
        return any(kin[word].isdisjoint(b.vocabulary) and kin[other].isdisjoint(a.vocabulary)
                   for word in only_a for other in table.get(word, frozenset()) & only_b)
    for word in only_a:
        # Each side must lack the other's word in every form: "actors and actresses" vs "actresses" is no swap.
        theirs = {other for other in OPPOSITE.get(word, frozenset()) & only_b
                  if KIN[word].isdisjoint(b.vocabulary) and KIN[other].isdisjoint(a.vocabulary)}
        if theirs and (word not in _PLACED or any(_beside(a.words, word) & _beside(b.words, other)
                                                   for other in theirs)):
            return True
    return affixes_opposed(only_a, only_b) or _compounds_opposed(only_a, only_b)


def _compounds_opposed(only_a: frozenset[str], only_b: frozenset[str]) -> bool:
    split_b = [word.split("-") for word in only_b if "-" in word]
    if not split_b:
        return False
    for word in only_a:
        if "-" not in word:
            continue
        parts = word.split("-")
        for other in split_b:
            if len(other) == len(parts) and all(
                    mine == theirs or theirs in OPPOSITE.get(mine, ()) for mine, theirs in zip(parts, other,
                                                                                                strict=True)):
                return True
    return False

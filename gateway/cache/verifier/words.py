"""The hit verifier's lexicon: closed classes of English words whose difference changes what a prompt asks."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


NEGATIONS = frozenset(_words("""
not no never cannot without nor none nobody nothing neither nowhere dont doesnt didnt cant couldnt shouldnt wont
wouldnt isnt arent wasnt werent havent hasnt hadnt
"""))

# "one" is left out: it is far more often a pronoun ("how does one ...") than a count.
NUMBER_WORDS = {word: str(value) for value, word in enumerate(_words("""
zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
eighteen nineteen twenty""")) if word != "_"} | {
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000", "dozen": "12",
}
ORDINAL_WORDS = {word: f"#{value}" for value, word in enumerate(
    _words("_ first second third fourth fifth sixth seventh eighth ninth tenth")) if word != "_"}
CLOCK = frozenset({"am", "pm"})

DATES = frozenset(_words("""
january february march april may june july august september october november december jan feb mar apr jun jul
aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday yesterday today tomorrow tonight
"""))

# Each unit under one name, so "°F" and "Fahrenheit", "lb" and "pound" agree.
_UNIT_NAMES = {
    "celsius": "°c centigrade", "fahrenheit": "°f", "kelvin": "°k", "kilometer": "km kilometre kms",
    "mile": "mi", "meter": "metre m", "centimeter": "cm centimetre", "millimeter": "mm millimetre",
    "foot": "feet ft", "inch": "inche", "yard": "yd", "kilogram": "kg kgs kilo", "pound": "lb lbs £ gbp",
    "gram": "g gm", "ounce": "oz", "ton": "tonne", "liter": "litre l", "milliliter": "ml millilitre",
    "gallon": "gal", "quart": "qt", "pint": "pt", "cup": "", "tablespoon": "tbsp", "teaspoon": "tsp",
    "gigabyte": "gb", "megabyte": "mb", "kilobyte": "kb", "terabyte": "tb", "byte": "", "gigahertz": "ghz",
    "megahertz": "mhz", "hertz": "hz", "watt": "w", "kilowatt": "kw", "volt": "v", "amp": "ampere",
    "mph": "", "kph": "kmh", "calorie": "kcal cal calory", "joule": "j", "dollar": "usd $ buck", "euro": "eur €",
    "rupee": "inr rs ₹", "yen": "jpy ¥", "yuan": "cny rmb", "bitcoin": "btc", "percent": "% percentage",
}
UNITS = {alias: name for name, aliases in _UNIT_NAMES.items() for alias in (name, *aliases.split())}
# Time units count only after a number ("3 days" vs "3 weeks"): alone they are idiom ("what year", "one day").
TIME_UNITS = frozenset(_words("second minute hour day week month year decade century"))

# Kinds of question. "what", "which" and a plain "how" are asked interchangeably ("how do I" = "what is the
# way to"), and "what" can ask for any specific kind ("what makes the sky blue" = "why is the sky blue"); a
# yes/no question is usually answered with its reasons ("is X bad?" ~ "why is X bad?"). Any other two kinds ask
# for different answers: "when did it end" vs "why did it end", "who invented it" vs "when was it invented".
HOW_MUCH = frozenset(_words("many much long often old far"))
WH_KINDS = {"what": "what", "which": "what", "how": "what", "why": "why", "when": "when", "where": "where",
            "who": "who", "whom": "who", "whose": "who"}
COMPATIBLE_KINDS = frozenset({frozenset({"yesno", "why"})})
AUXILIARIES = frozenset(_words("is are was were do does did can could should would will shall may might must has "
                               "have had am"))

# Function words and fillers: never names, and never content whose place in the word order matters.
STOPWORDS = frozenset(_words("""
a an the this that these those some any each every all both either of in on at to for from by with about as into
onto upon than then so and or but if because while whether is are was were be been being am do does did doing
done have has had having can could should would will shall may might must i me my mine we us our you your he him
his she her it its they them their there here what which who whom whose when where why how please tell explain
give show describe let know want need get make way really very just also even still ever own such same other
another one ones s t vs versus
"""))

# Neighbours too common to show that a word took another's place ("the X" is everywhere).
WEAK_NEIGHBOURS = frozenset({"^", "$", "a", "an", "the", "my", "your", "his", "her", "its", "our", "their",
                             "this", "that", "some", "any", ",", ".", "?", "!", ":", ";", "'", '"'})

# Words that join two things without ordering them: "X and Y", "X or Y", "X vs Y", "X, Y".
CONNECTORS = frozenset({"and", "or", "vs", "versus", "&", ",", "/", "between"})
DETERMINERS = frozenset({"a", "an", "the"})

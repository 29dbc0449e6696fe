"""The hit verifier against look-alikes a sentence embedding scores as near-identical: opposites (comparatives,
superlatives and affixed words among them), one quantity counted per the other, operators, file names, a
request for another item than before, what the embedder's tokenizer drops (invisible characters, accents) or
cannot represent (emoji, scripts and symbols its vocabulary lacks: one [UNK] for all), symbols and number
characters. Each look-alike is rejected both ways; each paraphrase beside it still passes both ways (end to end, where
the embedder cannot see the difference: integration/test_look_alikes_served.py)."""

from __future__ import annotations

import pytest

from gateway.cache.verifier.glyphs import numerals, symbols
from gateway.cache.verifier.rules import HitVerifier, difference
from gateway.cache.verifier.symbols import glued, operators
from gateway.cache.verifier.tokens import unknown
from gateway.embedding.local import LocalEmbedder

REJECTED = [
    # antonyms, in every degree
    ("Which month is the hottest in Cairo?", "Which month is the coolest in Cairo?", "opposite"),
    ("Is Mars larger than Venus?", "Is Mars smaller than Venus?", "opposite"),
    ("What are the pros of working from home?", "What are the cons of working from home?", "opposite"),
    ("Which wild mushrooms are edible?", "Which wild mushrooms are poisonous?", "opposite"),
    # "no" is a negation, but with another negation on both sides only the opposite tells them apart
    ("Don't explain, just reply with yes.", "Don't explain, just reply with no.", "opposite"),
    ("What is the least visited country in Europe?", "What is the most visited country in Europe?", "opposite"),
    ("How do I make my coffee stronger?", "How do I make my coffee weaker?", "opposite"),
    ("What time is sunrise in Oslo?", "What time is sunset in Oslo?", "opposite"),
    ("Should I stretch before running?", "Should I stretch after running?", "opposite"),
    ("How do I log in to Slack?", "How do I log out of Slack?", "opposite"),
    # opposites made with an affix, also inside a hyphenated word
    ("How do I mount a USB drive on Linux?", "How do I unmount a USB drive on Linux?", "opposite"),
    ("Is it legal to fly a drone at night?", "Is it illegal to fly a drone at night?", "opposite"),
    ("What causes an overactive bladder?", "What causes an underactive bladder?", "opposite"),
    ("What is the upside of buying a house?", "What is the downside of buying a house?", "opposite"),
    ("Is a careful driver a safe driver?", "Is a careless driver a safe driver?", "opposite"),
    ("How do I encode a URL in JavaScript?", "How do I decode a URL in JavaScript?", "opposite"),
    ("What is a long-term loan?", "What is a short-term loan?", "opposite"),
    # one quantity counted per the other
    ("How many tablespoons are in a cup?", "How many cups are in a tablespoon?", "inverse"),
    ("How many students per teacher is normal?", "How many teachers per student is normal?", "inverse"),
    # operators and signs
    ("What does == do in JavaScript?", "What does === do in JavaScript?", "operator"),
    ("What does a <= b return in Python?", "What does a < b return in Python?", "operator"),
    ("When should I use && in a shell script?", "When should I use || in a shell script?", "operator"),
    ("What does x += 2 do?", "What does x -= 2 do?", "operator"),
    ("What does => mean in JavaScript?", "What does -> mean in JavaScript?", "operator"),
    ("What is 12 * 3?", "What is 12 + 3?", "operator"),
    ("What is 12 - 3?", "What is 12 + 3?", "operator"),
    ("What is the square root of -9?", "What is the square root of 9?", "number"),
    # file names, extensions and names spelt with symbols
    ("Is it safe to open receipt.pdf?", "Is it safe to open receipt.pdf.exe?", "file"),
    ("How do I import a .js file in Node?", "How do I import a .ts file in Node?", "file"),
    ("How do I extract backup.tar.gz?", "How do I extract backup.tar?", "file"),
    ("Is C hard to learn?", "Is C++ hard to learn?", "file"),
    ("What is a .gitignore file?", "What is a .gitattributes file?", "file"),
    # another item than before
    ("Tell me a riddle", "Tell me another riddle", "another"),
    ("Suggest a name for my dog", "Suggest a different name for my dog", "another"),
    ("Give me a tip for studying", "Give me one more tip for studying", "another"),
    ("What can I add to a smoothie?", "What else can I add to a smoothie?", "another"),
    ("What languages are spoken in Spain?", "What other languages are spoken in Spain?", "another"),
    ("Tell me one.", "Tell me another.", "another"),
    ("Is there a way to unlock my phone?", "Is there another way to unlock my phone?", "another"),
    # what the embedder's tokenizer drops: format and control characters, accents
    ("Is my password hunter2 strong?", "Is my password hun\u200bter2 strong?", "invisible"),
    ("Delete report\u202etxt.exe", "Delete reporttxt.exe", "invisible"),
    ("Is user\x00admin valid?", "Is useradmin valid?", "invisible"),
    ("Is user\x1fadmin valid?", "Is useradmin valid?", "invisible"),
    ("Is user\x0badmin valid?", "Is useradmin valid?", "invisible"),
    ("\ufeffWhat is the admin password?", "What is the admin password?", "invisible"),
    ("What does año mean?", "What does ano mean?", "accent"),
    ("How do I pronounce résumé?", "How do I pronounce resume?", "accent"),
    ("Who is José Martí?", "Who is Jose Marti?", "accent"),
    # letters of another script that look Latin (Cyrillic "о", "і", Greek "ο"): distance 0.05, no rule read "nоt"
    ("Which foods are healthy for dogs?", "Which foods are n\u043et healthy for dogs?", "look-alike"),
    ("Is it safe to eat raw eggs?", "Is it n\u043et safe to eat raw eggs?", "look-alike"),
    ("Warum ist der Himmel blau?", "Warum ist der Himmel n\u0456cht blau?", "look-alike"),
    ("Is the admin account locked?", "Is the \u03bfld admin account locked?", "look-alike"),
    # what the tokenizer cannot represent: each such word is the same [UNK] (all at distance 0)
    ("Reply with 👍 if you agree", "Reply with 👎 if you agree", "unknown"),
    ("What does the 🙃 emoji mean?", "What does the 🤔 emoji mean?", "unknown"),
    ("Which is sweeter, 🍎 or 🍌?", "Which is sweeter, 🍇 or 🍌?", "unknown"),
    ("Explain ✔ in this checklist", "Explain ✘ in this checklist", "unknown"),
    ("How do I pronounce ትግርኛ?", "How do I pronounce አማርኛ?", "unknown"),  # Ethiopic
    ("What does ສະບາຍດີ mean?", "What does ຂອບໃຈ mean?", "unknown"),  # Lao
    ("Translate 你好吗 into English", "Translate 谢谢你 into English", "unknown"),  # simplified Chinese
    ("What is 20 ℃ in kelvin?", "What is 20 ℉ in kelvin?", "unknown"),
    ("Is the token " + "k" * 120 + " valid?", "Is the token " + "k" * 119 + "j valid?", "unknown"),  # > 100 letters
    # symbols the embedder barely sees, and how often they occur
    ("What is the derivative of x²?", "What is the derivative of x³?", "symbol"),
    ("Does A → B mean B follows?", "Does A ← B mean B follows?", "symbol"),
    ("Is a ★★★★ hotel expensive?", "Is a ★★ hotel expensive?", "symbol"),
    ("Which suit is ♠ in bridge?", "Which suit is ♥ in bridge?", "symbol"),
    ("Is 10⁻³ small?", "Is 10³ small?", "symbol"),
    ("Is H₂O polar?", "Is H₂O₂ polar?", "symbol"),
    ("Is a ≯ b here?", "Is a > b here?", "symbol"),  # the tokenizer strips the stroke: distance 0
    # comparison and arithmetic signs are operators, spelt as in ASCII
    ("Is 7 ≤ 9?", "Is 7 ≥ 9?", "operator"),
    ("Is 4 ≤ 5?", "Is 4 < 5?", "operator"),
    ("Does x ≠ y in this proof?", "Does x = y in this proof?", "operator"),  # distance 0, like "≯"
    ("What is 6 × 3?", "What is 6 ÷ 3?", "operator"),
    # fractions and Roman numerals are numbers
    ("Add ¾ cup of flour", "Add ⅓ cup of flour", "number"),
    ("Add ½ cup of flour", "Add 1/4 cup of flour", "number"),
    ("Who was Pope Pius Ⅻ?", "Who was Pope Pius Ⅺ?", "number"),
    ("Summarise act ⅲ of Hamlet", "Summarise act ⅱ of Hamlet", "number"),
]

PARAPHRASES = [
    ("Which month is the hottest in Cairo?", "What is the hottest month in Cairo?"),
    ("What are the pros and cons of working from home?",
     "What are the advantages and disadvantages of working from home?"),
    ("Who are the best actors and actresses in India?", "Who is the best actress in India?"),
    ("How do I figure out my IP address?", "How can I find my IP address in a terminal?"),
    ("How do I log in to Slack?", "How can I sign in to Slack?"),
    ("How many tablespoons are in a cup?", "How many tablespoons does a cup hold?"),
    ("What does == do in JavaScript?", "What is the == operator in JavaScript?"),
    ("What is 2+2?", "What is 2 plus 2?"),
    ("What is 10 - 4?", "What is 10 minus 4?"),
    ("Hmm... what is a closure?", "What is a closure?!"),
    ("How do I open a .pdf file?", "How can I open PDF files?"),
    ("What is Node.js?", "What's Node.js?"),
    ("Tell me a riddle", "Tell me a riddle, please"),
    ("How do I stop caring what other people think?", "How do I stop caring what people think?"),
    ("How do teams in a company help each other?", "How do teams in a company help one another?"),
    ("Is my password hunter2 strong?", "IS MY PASSWORD HUNTER2 STRONG?"),
    ("Is pass\u200bword a good password?", "Is pass\u200bword a strong password?"),
    ("What does año mean?", "what does AÑO mean?"),
    ("What does año mean?", "What does an\u0303o mean?"),  # the same letter, composed or not
    ("Summarise:\r\n\tthe report", "Summarise:\n  the report"),
    ("Summarise the report", "Summarise\u00a0the report"),
    ("What does año mean in English?", "What is the English meaning of año?"),
    ("What does мир mean in English?", "What is the English meaning of мир?"),  # one script a word
    ("How do I say 食べる in English?", "How is 食べる said in English?"),  # kanji and kana: one word both sides
    # symbols spelt another way that other rules read as the same
    ("What is 2 + 2?", "What is 2+2?"),
    ("Is 7 ≤ 9?", "Is 7 <= 9?"),
    ("Does x ≠ y here?", "Does x != y here?"),
    ("What is 6 × 3?", "What is 6 * 3?"),
    ("Is 100 °F a fever?", "Is 100 Fahrenheit a fever?"),
    ("Is 30 °C hot?", "Is 30 degrees Celsius hot?"),
    ("Is $5 enough for lunch?", "Is 5 dollars enough for lunch?"),
    ("Is £10 a fair price?", "Is 10 pounds a fair price?"),
    ("How much is €20 in ¥?", "How much is 20 euros in yen?"),
    ("Add ¾ cup of flour", "Add 3/4 cup of flour"),
    ("Add 1½ cups of milk", "Add 1 1/2 cups of milk"),
    ("Summarise chapter Ⅸ", "Summarise chapter 9"),
    # the same emoji, symbols and unknown words, reworded around them
    ("How do I reset my router? 🙏", "How can I reset my router? 🙏"),
    ("🎉 Congrats! How do I write a thank-you note?", "🎉 Congrats! How should I write a thank-you note?"),
    ("I ❤️ pizza: what toppings go with it?", "What toppings go with pizza? I ❤️ it"),
    ("Is a ★★★★ hotel expensive?", "Are ★★★★ hotels expensive?"),
    ("What does → mean in logic?", "What is the meaning of → in logic?"),
    ("How do I say አማርኛ in English?", "How is አማርኛ said in English?"),
    ("What is a closure in JavaScript?", "Explain closures in JavaScript"),  # no symbol at all
]


@pytest.mark.parametrize(("one", "other", "rule"), REJECTED)
def test_a_look_alike_is_rejected_both_ways(one: str, other: str, rule: str) -> None:
    assert difference(one, other) == rule
    assert difference(other, one) == rule
    assert not HitVerifier().accepts(other, one, 0.0)


@pytest.mark.parametrize(("one", "other"), PARAPHRASES)
def test_a_paraphrase_still_passes_both_ways(one: str, other: str) -> None:
    assert difference(one, other) is None
    assert difference(other, one) is None


def test_operators_are_read_as_runs_and_prose_punctuation_is_not_one() -> None:
    assert operators("if a !== b && c <= d: x -= 1") == {"!==", "&&", "<=", "-="}
    assert operators("Why?! Really... so, what: a dash - here -- and there.") == set()
    assert operators("What is 2+2=?") == {"+", "="}  # a question mark is not part of the operator
    assert operators("from 1854 -- 1932, or 5-3") == {"-"}  # a minus and a range are one operator
    assert operators("i++ and --j, a ?? b, A::B") == {"++", "--", "??", "::"}


def test_signs_outside_ascii_are_read_as_the_operators_they_spell() -> None:
    assert operators("a ≤ b, c ≥ d, e ≠ f, 6 × 3, 6 ÷ 3") == {"<=", ">=", "!=", "*", "÷"}


def test_fractions_and_roman_numerals_are_spelt_as_numbers() -> None:
    assert numerals("Add 1½ cups, ¾ tsp and 1⁄3 cup for chapter Ⅳ or ⅻ") == (
        "Add 1 1/2  cups,  3/4  tsp and 1/3 cup for chapter  4  or  12 ")
    assert numerals("No numerals here: x² and ①") == "No numerals here: x² and ①"


def test_symbols_are_counted_unless_another_rule_reads_them() -> None:
    assert symbols("x² ★★ → 72 °F, €5 and ₹9, a ≤ b, 6 × 3 − 1") == (("²", 1), ("→", 1), ("★", 2))
    assert symbols("Plain text, accents (café), dashes – and “quotes”…") == ()


UNREPRESENTABLE = [
    "Reply with ✅ or ok👍 or ሰላም, please",  # emoji, glued or alone, and a script the vocabulary lacks
    "汉字 and 中文",  # each ideograph is a word of its own, and some are unknown
    "Is a≯b or a‗b?",  # cut where the folded text has punctuation; an unknown punctuation mark is [UNK]
    "An id: " + "x" * 101 + " and " + "y" * 100,  # only the word past 100 characters is [UNK]
    "Plain words, café, Ελληνικά, русский, 日本語, x² and →",  # none
    "Hidden​✅ and private✅",  # what the tokenizer drops is not part of the word
]


@pytest.mark.parametrize("text", UNREPRESENTABLE)
def test_unknown_words_are_the_tokenizers_unknown_pieces(text: str) -> None:
    tokenizer = LocalEmbedder.load_tokenizer()
    pieces = tokenizer.encode(text, add_special_tokens=False).tokens
    assert len(unknown(text)) == pieces.count("[UNK]")


def test_unknown_words_are_folded_as_the_tokenizer_reads_them() -> None:
    assert unknown("Reply with OK👍, ሰላም or 汉字") == ("ok👍", "ሰላም", "字", "汉")  # sorted
    assert unknown("x" * 100) == () and unknown("X" * 101) == ("x" * 101,)


def test_file_names_are_read_whole_and_lowercased() -> None:
    assert glued("Open Invoice.PDF.exe, then .ts files and C++.") == {"invoice.pdf.exe", ".ts", "c++"}
    assert glued("The end. A sentence, 3.5 and 2+2.") == set()

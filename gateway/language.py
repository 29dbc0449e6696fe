"""Which language a prompt is written in, offline and in microseconds: an answer in another language than the
question's is a wrong answer, so a cached answer is served only for a prompt in the same language.

The script decides first, where most letters are not Latin: kana is Japanese, Han without kana Chinese, Hangul
Korean, and any other script is named by its own (Cyrillic, Arabic...). Latin text is read for the function words
(and the verbs a request starts with) of English, German, French, Spanish, Portuguese, Italian and Dutch (questions
are full of them: "what is the", "wie ist der", "qual é o"), helped by letters only some of them use ("ñ", "ã",
"ß"). A word several of them share counts for each, split among them. Latin text with none of those words, or where
a second language comes near the first, is `None`: undetermined, so it is matched only as an exact repeat (see
`gateway.wire.canonical.request_key`)."""

from __future__ import annotations

import re
import unicodedata

LANGUAGES = ("en", "de", "fr", "es", "pt", "it", "nl")  # what Latin text is read as
_FUNCTION_WORDS = {
    "en": """convert translate write explain tell give list summarize summarise describe show find calculate create
        generate define compare name help please the a an is are was were be been being do does did what how why who
        whom where when which can could should would will shall may might must i you my your me we us our it its
        this that these those of to in on for with from by about at as and or but not no if so there their they them
        he she his her him have has had than then into out up just like best way get make use good much many more
        most any some all after before over under why people time should know difference between does mean add also
        always anything ask bad become better book buy city college company cost costs country day days english even
        ever everything false feel first food happen happens keep language last learn life long look meaning money
        need never new number often old one only pay person possible prime really right say school see sell someone
        something still student thing things think three too true try two usually very want water word words work
        working works world wrong year years yet""",
    "de": """erkläre erklär schreibe schreib gib nenne übersetze bitte berechne der die das den dem des ein eine
        einen einem einer ist sind war waren wird werden wurde wie was warum wer wo wann welche welcher welches
        welchen kann können kannst soll sollte muss ich du mein meine meinen mich mir wir sie es und oder aber nicht
        kein keine keinen keiner nie mit für von zu auf aus bei nach über unter im am zum zur man gibt auch noch
        sich ob wieviel viel viele wieviele beim vom dass sehr gut besten beste machen mache lange bekommt heißt
        bedeutet zwischen unterschied gibt""",
    "fr": """eu été fait lieu chose temps comme explique écris donne traduis calcule a à le la les l un une des du
        de est sont était être que qui quoi quel quelle quels quelles comment pourquoi où quand combien peut peux
        puis faut je tu mon ma mes me nous vous il elle ils elles et ou mais ne pas n jamais avec pour dans sur par
        au aux ce cette ces c qu d y plus sans entre se on très bien faire meilleur meilleure avoir entre différence
        signifie veut dire""",
    "es": """explica escribe dame traduce calcula de a el la los las un una unos unas es son era fue ser está están
        estar qué que quién quiénes cuál cuáles cómo dónde cuándo cuánto cuántos cuánta cuántas puedo puede puedes
        se me mi mis yo tú usted nosotros y o pero no nunca con para en del al lo le les hay hacer hago más sin
        entre su sus muy mejor tengo tiene debo necesito cuesta diferencia significa""",
    "pt": """explique escreva traduza calcule de o a os as um uma uns umas é são era foi ser está estão estar que
        quem qual quais como porque onde quando quanto quantos quanta quantas posso pode podem se me meu minha eu
        você vocês nós e ou mas não nunca com para em do da dos das no na nos nas ao aos pelo pela há fazer faz mais
        sem entre seu sua muito melhor tenho tem devo preciso custa diferença significa""",
    "it": """spiega scrivi dammi traduci calcola a il lo la i gli le un uno una è sono era fu essere che chi cosa
        quale quali come perché dove quando quanto quanti quanta quante posso può puoi si mi mio mia io tu noi e o
        ma non mai con per in di da del della dello dei degli delle al allo alla ai nel nello nella nei sul sulla ci
        più senza tra fra suo sua molto meglio migliore fare devo serve bisogno costa differenza significa""",
    "nl": """leg schrijf geef vertaal bereken de het een is zijn was waren wordt worden werd wat hoe waarom wie waar
        wanneer welke welk kan kun kunnen moet moeten ik je jij mijn me mij we wij ze en of maar niet geen nooit met
        voor van in op aan bij naar uit over er om te dat die dit deze hoeveel veel ook nog heel goed beste maken
        heeft hebben lang verschil betekent""",
}
# Letters only some of the languages write.
_LETTERS = {"ñ": ("es",), "¿": ("es",), "¡": ("es",), "ã": ("pt",), "õ": ("pt",), "ç": ("fr", "pt"),
            "ß": ("de",), "ä": ("de",), "ö": ("de",), "ü": ("de",), "œ": ("fr",), "û": ("fr",), "î": ("fr",),
            "ê": ("fr", "pt"), "â": ("fr", "pt"), "ô": ("fr", "pt"), "è": ("fr", "it"), "ù": ("fr", "it"),
            "ò": ("it",), "ì": ("it",), "ë": ("nl", "fr"), "ĳ": ("nl",)}
_LETTER_WEIGHT = 0.5  # a letter is weaker evidence than a word: names and loanwords carry them across languages
READ_CHARS = 2048  # as much as the hit verifier reads
_NEAR = 0.75  # a runner-up with more than this share of the leader's evidence: mixed, or too close to tell
_ENOUGH = 0.5  # evidence a language needs: one word its own, or two it shares ("is" and "a" in "Is X a Y?")


def _weights() -> dict[str, tuple[tuple[str, float], ...]]:
    speakers: dict[str, list[str]] = {}
    for language, words in _FUNCTION_WORDS.items():
        for word in set(words.split()):
            speakers.setdefault(word, []).append(language)
    return {word: tuple((language, 1.0 / len(languages)) for language in languages)
            for word, languages in speakers.items()}


_WEIGHTS = _weights()
_WORD = re.compile(r"[^\W\d_]+")  # elisions split: "l'eau" -> "l", "eau"; "don't" -> "don", "t"
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
_OTHER_LETTER = re.compile(r"[^\W\d_A-Za-z\u00c0-\u024f]")  # past Latin Extended-B: Greek, Cyrillic, Han...
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")


def function_words(language: str) -> frozenset[str]:
    """The words a Latin-script language is recognised by (empty for another)."""
    return frozenset(_FUNCTION_WORDS.get(language, "").split())


def _script(text: str) -> str | None:
    """The language or script a text's letters name when most are not Latin, None when most are ("What does
    谢谢 mean?" is English: the verifier compares the words its embedder cannot read)."""
    if len(_OTHER_LETTER.findall(text)) <= len(_LATIN_LETTER.findall(text)):
        return None
    if _KANA.search(text):
        return "ja"
    if _HAN.search(text):
        return "zh"
    if _HANGUL.search(text):
        return "ko"
    first = _OTHER_LETTER.search(text)
    return unicodedata.name(first.group(), "other").split()[0].lower() if first else None


def language_of(text: str) -> str | None:
    """"en", "de", "fr", "es", "pt", "it", "nl", "zh", "ja", "ko", another script's name ("cyrillic"), or None
    when the language cannot be told (no function word of any of them, or two of them nearly as likely). Reads
    the first READ_CHARS characters: a prompt's cost is bounded, whatever its length."""
    # Composed (NFC): a combining accent would split a word in two ("na\u0303o" read as "na" and "o").
    text = unicodedata.normalize("NFC", text[:READ_CHARS])
    script = None if text.isascii() else _script(text)
    if script is not None:
        return script
    lowered = text.lower()
    score = dict.fromkeys(LANGUAGES, 0.0)
    for word in _WORD.findall(lowered):
        for language, weight in _WEIGHTS.get(word, ()):
            score[language] += weight
    if not text.isascii():
        for letter, languages in _LETTERS.items():
            if letter in lowered:
                for language in languages:
                    score[language] += _LETTER_WEIGHT / len(languages)
    first, second = sorted(score.values(), reverse=True)[:2]
    if first < _ENOUGH or second > _NEAR * first:
        return None
    return max(score, key=score.__getitem__)

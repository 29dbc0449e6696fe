"""The hit verifier's closed word classes per language: English's (`words`) and German, French, Spanish,
Portuguese, Italian and Dutch ones. Both prompts of a comparison are in one language (it is part of the semantic
scope), so each is read with that language's words: "no" negates in Spanish and is "in the" in Portuguese."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from gateway.cache.verifier import words as english
from gateway.cache.verifier.fractions import denominators
from gateway.cache.verifier.inflection import ENDINGS
from gateway.language import function_words


@dataclass(frozen=True)
class Lexicon:
    """What one language's words say to the reader (`reading`) and the rules."""

    negations: frozenset[str]
    number_words: dict[str, str]  # "zwei" -> "2"
    ordinal_words: dict[str, str]  # "zweite" -> "#2"
    dates: frozenset[str]
    stopwords: frozenset[str]  # never names, never content words whose place matters
    kinds: dict[str, str]  # question word -> kind of question ("warum" -> "why", "wieviel" -> "amount")
    how_much: frozenset[str]  # what after `how` asks an amount: "long" in "how long", "lange" in "wie lange"
    how: str  # the word that asks an amount before one of `how_much`
    auxiliaries: frozenset[str]  # a yes/no question starts with one (English only)
    decimal_comma: bool  # "1,5" is one and a half, "1.000" a thousand
    capital_nouns: bool  # every noun is capitalised (German): a capital alone makes no name
    weak: frozenset[str]  # neighbours too common to show one word took another's place ("the X", "der X")
    connectors: frozenset[str]  # words that join two things without ordering them ("and", "und", "et")
    determiners: frozenset[str]  # articles, which may stand in a list ("X and the Y")
    why: tuple[str, str] | None = None  # two words that ask why: Spanish "por qué", Portuguese "por que"
    # Words before where something comes from, and before where it goes ("von X nach Y"): English word order is
    # read by the order rules, whose neighbours these languages' articles and contractions ("do", "al") shift.
    sources: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    toward: frozenset[str] = frozenset()  # the targets that say nothing else ("naar", not "in": also where)
    # Each form of an antonym -> the forms of its opposites, and -> every form of itself (English's are in
    # `opposites`, with its affixes and inflections).
    opposites: dict[str, frozenset[str]] = field(default_factory=dict)
    kin: dict[str, frozenset[str]] = field(default_factory=dict)
    time_units: frozenset[str] = english.TIME_UNITS
    endings: tuple[str, ...] = ()  # inflections `stem` cuts: "gesetzlichen" and "gesetzliche" are one word
    names_inflect: bool = False  # a name is also a lowercase adjective ("española"), or in a "Docker-Container"
    fractions: dict[str, str] = field(default_factory=dict)  # "terços" -> "3": "dois terços" = "2/3"


def singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _w(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _counted(text: str, prefix: str = "") -> dict[str, str]:
    """Words for 0, 2, 3... in order (the word for one is an article too: "ein", "un", "um", "een" count nothing),
    each slot "/"-separated spellings; "_" skips a value."""
    table = {}
    for value, spellings in enumerate(text.split()):
        for word in spellings.split("/"):
            if word != "_":
                table[word] = f"{prefix}{value}"
    return table


_TENS = {"de": "zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig hundert tausend million milliarde",
         "fr": "vingt trente quarante cinquante soixante soixante-dix quatre-vingt quatre-vingt-dix cent mille "
               "million milliard",
         "es": "veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa cien mil millón",
         "pt": "vinte trinta quarenta cinquenta sessenta setenta oitenta noventa cem mil milhão bilhão",
         "it": "venti trenta quaranta cinquanta sessanta settanta ottanta novanta cento mille milione miliardo",
         "nl": "twintig dertig veertig vijftig zestig zeventig tachtig negentig honderd duizend miljoen miljard"}
_TEN_VALUES = ("20", "30", "40", "50", "60", "70", "80", "90", "100", "1000", "1000000", "1000000000")
_SMALL = {
    "de": "null _ zwei/zwo drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn "
          "sechzehn siebzehn achtzehn neunzehn",
    "fr": "zéro _ deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept "
          "dix-huit dix-neuf",
    "es": "cero _ dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis "
          "diecisiete dieciocho diecinueve",
    "pt": "zero _ dois/duas três quatro cinco seis sete oito nove dez onze doze treze catorze/quatorze quinze "
          "dezesseis/dezasseis dezessete/dezassete dezoito dezenove/dezanove",
    "it": "zero _ due tre quattro cinque sei sette otto nove dieci undici dodici tredici quattordici quindici "
          "sedici diciassette diciotto diciannove",
    "nl": "nul _ twee drie vier vijf zes zeven acht negen tien elf twaalf dertien veertien vijftien zestien "
          "zeventien achttien negentien",
}
_ORDINALS = {
    "de": "_ erste/erster/ersten/erstes zweite/zweiter/zweiten dritte/dritter/dritten vierte/vierten fünfte/fünften "
          "sechste/sechsten siebte/siebten achte/achten neunte/neunten zehnte/zehnten",
    "fr": "_ premier/première/premiers/premières deuxième troisième quatrième cinquième sixième "
          "septième huitième neuvième dixième",
    "es": "_ primero/primera/primer _ tercero/tercera/tercer cuarto/cuarta quinto/quinta sexto/sexta "
          "séptimo/séptima octavo/octava noveno/novena décimo/décima",
    "pt": "_ primeiro/primeira _ terceiro/terceira quarto/quarta quinto/quinta sexto/sexta "
          "sétimo/sétima oitavo/oitava nono/nona décimo/décima",
    "it": "_ primo/prima _ terzo/terza quarto/quarta quinto/quinta sesto/sesta settimo/settima "
          "ottavo/ottava nono/nona decimo/decima",
    "nl": "_ eerste tweede derde vierde vijfde zesde zevende achtste negende tiende",
}
# The second is left out where it is also a unit of time or "according to" ("segundo", "secondo", "seconde").
_TWENTIETH = {"de": "zwanzigste/zwanzigsten", "fr": "vingtième", "es": "vigésimo/vigésima", "pt": "vigésimo/vigésima",
              "it": "ventesimo/ventesima", "nl": "twintigste"}
# Units of time, which count only after a number ("3 Tage" vs "3 Wochen"), as English's `TIME_UNITS`.
_TIME_UNITS = {
    "de": "sekunde minute stunde tag tage tagen woche wochen monat monate monaten jahr jahre jahren",
    "fr": "seconde minute heure jour semaine mois an ans année",
    "es": "segundo minuto hora día días semana mes meses año años",
    "pt": "segundo minuto hora dia semana mês meses ano",
    "it": "secondo secondi minuto minuti ora ore giorno giorni settimana settimane mese mesi anno anni",
    "nl": "seconde minuut minuten uur dag dagen week weken maand maanden jaar jaren",
}
_DOZEN = {"de": "dutzend", "fr": "douzaine", "es": "docena", "pt": "dúzia", "it": "dozzina", "nl": "dozijn"}
_DATES = {
    "de": "januar jänner februar märz april mai juni juli august september oktober november dezember montag "
          "dienstag mittwoch donnerstag freitag samstag sonntag gestern heute morgen übermorgen vorgestern",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre lundi mardi "
          "mercredi jeudi vendredi samedi dimanche hier aujourd demain",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre "
          "lunes martes miércoles jueves viernes sábado domingo ayer hoy mañana",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro segunda-feira "
          "terça-feira quarta-feira quinta-feira sexta-feira sábado domingo ontem hoje amanhã",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre lunedì "
          "martedì mercoledì giovedì venerdì sabato domenica ieri oggi domani",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december maandag "
          "dinsdag woensdag donderdag vrijdag zaterdag zondag gisteren vandaag morgen overmorgen",
}
_NEGATIONS = {
    "de": "nicht kein keine keinen keinem keiner keines nie niemals nichts niemand ohne weder",
    "fr": "ne n pas jamais rien aucun aucune sans ni guère non",
    "es": "no nunca jamás nada nadie ningún ninguno ninguna sin ni tampoco",
    "pt": "não nao nunca jamais nada ninguém nenhum nenhuma sem nem",
    "it": "non mai niente nulla nessuno nessuna nessun senza né",
    "nl": "niet geen nooit niets niemand zonder noch",
}
_KINDS = {
    "de": {"what": "was welche welcher welches welchen welchem wie", "why": "warum wieso weshalb weswegen",
           "when": "wann", "where": "wo wohin woher", "who": "wer wem wen wessen",
           "amount": "wieviel wieviele"},
    "fr": {"what": "que quoi quel quelle quels quelles comment qu", "why": "pourquoi", "when": "quand",
           "where": "où", "who": "qui", "amount": "combien"},
    "es": {"what": "qué cuál cuáles cómo", "why": "porqué", "when": "cuándo", "where": "dónde adónde",
           "who": "quién quiénes", "amount": "cuánto cuántos cuánta cuántas"},
    "pt": {"what": "qual quais como", "why": "porquê", "when": "quando", "where": "onde aonde", "who": "quem",
           "amount": "quanto quantos quanta quantas"},
    "it": {"what": "che cosa quale quali come", "why": "perché perchè", "when": "quando", "where": "dove",
           "who": "chi", "amount": "quanto quanti quanta quante"},
    "nl": {"what": "wat welke welk hoe", "why": "waarom", "when": "wanneer", "where": "waar waarheen",
           "who": "wie", "amount": "hoeveel"},
}
_HOW = {"de": ("wie", "viel viele lange oft alt weit"), "fr": ("", ""), "es": ("", ""), "pt": ("", ""),
        "it": ("", ""), "nl": ("hoe", "lang vaak oud ver")}
_WHY = {"es": ("por", "qué"), "pt": ("por", "que")}
_ARTICLES = {
    "de": "der die das den dem des ein eine einen einem einer eines",
    "fr": "le la les l un une des du",
    "es": "el la los las un una unos unas",
    "pt": "o a os as um uma uns umas",
    "it": "il lo la i gli le l un uno una",
    "nl": "de het een",
}
_POSSESSIVES = {
    "de": "mein meine meinen meinem dein deine sein seine ihr ihre unser unsere dieser diese dieses",
    "fr": "mon ma mes ton ta tes son sa ses notre votre leur leurs ce cet cette ces",
    "es": "mi mis tu tus su sus nuestro nuestra este esta estos estas ese esa",
    "pt": "meu minha meus minhas seu sua seus suas nosso nossa este esta esse essa",
    "it": "mio mia miei mie tuo tua suo sua nostro nostra questo questa",
    "nl": "mijn jouw je zijn haar ons onze hun dit dat deze die",
}
_CONNECTORS = {"de": "und oder zwischen", "fr": "et ou entre", "es": "y e o u entre", "pt": "e ou entre",
               "it": "e ed o oppure tra fra", "nl": "en of tussen"}
_DIRECTIONS = {
    "de": ("von vom aus", "nach zu zum zur in ins auf"),
    "fr": ("de du des d depuis", "à au aux vers en"),
    "es": ("de del desde", "a al hacia en"),
    "pt": ("de do da dos das desde", "para a ao à em no na"),
    "it": ("da dal dalla dallo dai dagli", "a al alla allo ai agli in nel nella verso"),
    "nl": ("van vanaf uit", "naar tot in"),
}
_TOWARD = {"de": "nach", "fr": "vers", "es": "hacia", "pt": "para", "it": "verso", "nl": "naar"}
_ANTONYMS = {
    "de": """gut/schlecht warm/kalt heiß/kalt groß/klein lang/kurz schnell/langsam teuer/billig teuer/günstig
        alt/jung alt/neu leicht/schwer hoch/niedrig früh/spät gesund/ungesund sicher/gefährlich voll/leer
        hell/dunkel stark/schwach reich/arm richtig/falsch dick/dünn nass/trocken süß/sauer erlaubt/verboten
        mehr/weniger einschalten/ausschalten kaufen/verkaufen kaufe/verkaufe öffnen/schließen öffne/schließe
        gewinnen/verlieren gewinnt/verliert vorteile/nachteile vorteil/nachteil erhöhen/senken legal/illegal
        beste/schlechteste besser/schlechter vorher/nachher zunehmen/abnehmen einzahlen/abheben""",
    "fr": """bon/mauvais chaud/froid grand/petit long/court rapide/lent cher/économique jeune/vieux nouveau/vieux
        facile/difficile haut/bas tôt/tard sain/malsain sûr/dangereux plein/vide clair/sombre fort/faible
        riche/pauvre vrai/faux épais/mince mouillé/sec sucré/salé permis/interdit plus/moins allumer/éteindre
        acheter/vendre ouvrir/fermer gagner/perdre avantages/inconvénients avantage/inconvénient augmenter/diminuer
        allume/éteint achète/vend ouvre/ferme gagne/perd légal/illégal meilleur/pire mieux/pire avant/après
        monter/descendre grossir/maigrir""",
    "es": """bueno/malo caliente/frío calor/frío grande/pequeño largo/corto rápido/lento caro/barato joven/viejo
        nuevo/viejo fácil/difícil alto/bajo temprano/tarde saludable/perjudicial seguro/peligroso lleno/vacío
        claro/oscuro fuerte/débil rico/pobre verdadero/falso gordo/delgado mojado/seco dulce/salado
        permitido/prohibido más/menos encender/apagar enciende/apaga enciendo/apago comprar/vender compro/vendo
        abrir/cerrar abre/cierra ganar/perder gana/pierde ventajas/desventajas ventaja/desventaja subir/bajar
        aumentar/disminuir legal/ilegal mejor/peor antes/después engordar/adelgazar""",
    "pt": """bom/mau bom/ruim quente/frio grande/pequeno longo/curto rápido/lento caro/barato jovem/velho novo/velho
        fácil/difícil alto/baixo cedo/tarde saudável/prejudicial seguro/perigoso cheio/vazio claro/escuro
        forte/fraco rico/pobre verdadeiro/falso gordo/magro molhado/seco doce/salgado permitido/proibido mais/menos
        ligar/desligar ligo/desligo comprar/vender compro/vendo abrir/fechar abre/fecha ganhar/perder ganha/perde
        vantagens/desvantagens vantagem/desvantagem subir/descer aumentar/diminuir legal/ilegal melhor/pior
        antes/depois engordar/emagrecer""",
    "it": """buono/cattivo caldo/freddo grande/piccolo lungo/corto veloce/lento rapido/lento caro/economico
        giovane/vecchio nuovo/vecchio facile/difficile alto/basso presto/tardi sano/dannoso sicuro/pericoloso
        pieno/vuoto chiaro/scuro forte/debole ricco/povero vero/falso grasso/magro bagnato/asciutto dolce/salato
        permesso/vietato più/meno accendere/spegnere accende/spegne accendo/spengo comprare/vendere compro/vendo
        aprire/chiudere apre/chiude vincere/perdere vince/perde vantaggi/svantaggi vantaggio/svantaggio
        salire/scendere aumentare/diminuire legale/illegale migliore/peggiore meglio/peggio prima/dopo
        ingrassare/dimagrire""",
    "nl": """goed/slecht warm/koud heet/koud groot/klein lang/kort snel/langzaam duur/goedkoop jong/oud nieuw/oud
        makkelijk/moeilijk hoog/laag vroeg/laat gezond/ongezond veilig/gevaarlijk vol/leeg licht/donker sterk/zwak
        rijk/arm dik/dun nat/droog zoet/zuur toegestaan/verboden meer/minder aanzetten/uitzetten kopen/verkopen
        koop/verkoop openen/sluiten open/sluit winnen/verliezen win/verlies voordelen/nadelen voordeel/nadeel
        verhogen/verlagen legaal/illegaal beste/slechtste beter/slechter""",
}
# Endings that inflect an adjective (gender, number; German and Dutch degrees too): "warm" -> "warme", "wärmer"
# is left out (an umlaut), "caro" -> "cara", "caros". Non-words among them do no harm in a lookup.
_ENDINGS = {"de": ("", "e", "en", "er", "es", "em", "ere", "eren", "ste", "sten"),
            "fr": ("", "e", "s", "es"), "es": ("", "s", "es"), "pt": ("", "s", "es"), "it": ("",),
            "nl": ("", "e", "er", "ere", "st", "ste")}
_SWAPPED_ENDINGS = {"es": ("o", ("a", "os", "as")), "pt": ("o", ("a", "os", "as")), "it": ("o", ("a", "i", "e"))}


def _forms(word: str, language: str) -> frozenset[str]:
    found = {word + ending for ending in _ENDINGS[language]}  # as the reader spells them: singular
    if language == "it" and word.endswith("e"):
        found.add(word[:-1] + "i")
    swap = _SWAPPED_ENDINGS.get(language)
    if swap and word.endswith(swap[0]):
        found |= {word[:-1] + ending for ending in swap[1]}
    return frozenset(map(singular, found))


def _antonyms(language: str) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    opposites: dict[str, frozenset[str]] = {}
    kin: dict[str, frozenset[str]] = {}
    for one, _, other in (pair.partition("/") for pair in _ANTONYMS[language].split()):
        mine, theirs = _forms(one, language), _forms(other, language)
        for forms, against in ((mine, theirs), (theirs, mine)):
            for form in forms:
                opposites[form] = opposites.get(form, frozenset()) | against
                kin[form] = kin.get(form, frozenset()) | forms
    return opposites, kin


_PUNCTUATION = frozenset({"^", "$", ",", ".", "?", "!", ":", ";", "'", '"', "¿", "¡", "«", "»"})

ENGLISH = Lexicon(english.NEGATIONS, english.NUMBER_WORDS, english.ORDINAL_WORDS, english.DATES,
                  english.STOPWORDS, dict(english.WH_KINDS), english.HOW_MUCH, "how", english.AUXILIARIES,
                  decimal_comma=False, capital_nouns=False, weak=english.WEAK_NEIGHBOURS,
                  connectors=english.CONNECTORS, determiners=english.DETERMINERS, fractions=denominators("en"))


@cache
def lexicon(language: str | None) -> Lexicon:
    """The words to read a prompt in `language` with; English's for any language without its own."""
    if language not in _SMALL:
        return ENGLISH
    tens = dict(zip(_TENS[language].split(), _TEN_VALUES, strict=False))
    numbers = _counted(_SMALL[language]) | tens | {_DOZEN[language]: "12"}
    how, how_much = _HOW[language]
    opposites, kin = _antonyms(language)
    return Lexicon(
        negations=_w(_NEGATIONS[language]), number_words=numbers,
        ordinal_words=_counted(_ORDINALS[language], "#") | dict.fromkeys(_TWENTIETH[language].split("/"), "#20"),
        dates=_w(_DATES[language]), time_units=frozenset(map(singular, _TIME_UNITS[language].split())),
        stopwords=function_words(language) - _w(_NEGATIONS[language]),
        kinds={word: kind for kind, spellings in _KINDS[language].items() for word in spellings.split()},
        how_much=_w(how_much), how=how, auxiliaries=frozenset(), decimal_comma=True,
        capital_nouns=language == "de", weak=_PUNCTUATION | _w(_ARTICLES[language]) | _w(_POSSESSIVES[language]),
        connectors=_w(_CONNECTORS[language]) | {",", "/", "&"}, determiners=_w(_ARTICLES[language]),
        why=_WHY.get(language), sources=_w(_DIRECTIONS[language][0]), targets=_w(_DIRECTIONS[language][1]),
        toward=_w(_TOWARD[language]), opposites=opposites, kin=kin, endings=ENDINGS[language], names_inflect=True,
        fractions=denominators(language))


_ELISION = re.compile(r"\b(\w{1,5})['’](?=\w)")  # "l'eau", "qu'est", "dell'anno": the article, then the word


def unelided(language: str | None, text: str) -> str:
    """French and Italian elisions cut apart, so "n'est" reads "n est" and "l'opera" as "opera"."""
    return _ELISION.sub(r"\1 ", text) if language in ("fr", "it") else text

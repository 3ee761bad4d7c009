"""The free-text screen: what a patient writes that names a red flag, in their languages.

Pure and apart from `rules` (which reads it to escalate an answer) because it is a table of
words in three languages a clinician and a translator review on their own: the chest,
breathing and bleeding (`RED_FLAG_WORDS`), weakness, a drooping face or trouble speaking
(`WEAKNESS_WORDS`), a headache, sight or dizziness (`HEAD_WORDS`), and a fever or feeling very
unwell (`FEVER_WORDS`). A crude screen by design that would rather call too often than too
late: a person reads every word either way.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from safety.clinics.rules import search_key


#: What a patient writes that names a red flag (the chest, breathing, bleeding), in each
#: language a patient writes in, accents and case aside: words that start with a stem, whole
#: words, and phrases. Such writing is read the same day, not within two
#: working days: "chest pain since last night" once waited for a review. Clinic policy: a
#: crude screen that would rather call too often than too late; a person reads every word
#: either way. Stems match at the start of a word only ("Manchester" is not the chest).
@dataclass(frozen=True)
class RedFlagWords:
    """One language's words for a red flag: stems (a word starting so), whole words, phrases,
    and phrases that name something else with those words ("une faible douleur", a mild
    pain), read as if they were not there."""

    stems: tuple[str, ...]
    words: frozenset[str] = frozenset()
    phrases: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()


RED_FLAG_WORDS = {
    # Breathing in everyday words too ("winded on the stairs", "it hurts when I inhale"): a
    # clinical review found them waiting two working days. "Rib" and "winded" are whole words
    # ("ribbon", "window" are not the chest).
    "en": RedFlagWords(
        ("chest", "breath", "bleed", "bled", "blood", "lung", "pneumo", "thora", "haemorr")
        + ("hemorr", "suffocat", "inhal", "exhal", "wheez", "gasp", "dyspn", "cough"),
        words=frozenset({"rib", "ribs", "winded"}),
        phrases=("short of air", "get air", "get any air", "catch my air"),
    ),
    "fr_CA": RedFlagWords(
        ("poitrine", "respir", "inspir", "essouffl", "souffl", "saign", "poumon")
        + ("hemorrag", "etouff", "oppress", "thora", "dyspn", "touss", "toux"),
        # "sang" is blood (a whole word, so not "Sangeeta"); "côtes" the ribs (not "à côté").
        words=frozenset({"sang", "cotes"}),
        phrases=("souffle court", "manque d'air", "manque d air", "pas d'air", "pas d air"),
    ),
    "es": RedFlagWords(
        ("pecho", "respir", "sangr", "ahog", "torax", "torac", "pulmon", "asfix", "hemorrag")
        + ("neumo", "alient", "disne", "sofoc", "costill", "jadea", "tosiend", "toser"),
        # "Fatiga" is breathlessness in much of Latin America (and tiredness elsewhere: a
        # call too many rather than one too few); a cough in whole words ("tostada" is toast).
        words=frozenset(
            {"fatiga", "tos", "toso", "tosi", "tose", "toses", "tosen", "tosio", "tosia"}
            | {"tosiste", "tosimos"}
        ),
        phrases=(
            "falta el aire",
            "falta de aire",
            "falta aire",
            "tomar aire",
            "sin aire",
            "jalar aire",
            "agarrar aire",
        ),
    ),
}


def _spelt_both_ways(*phrases: str) -> tuple[str, ...]:
    """Each phrase as typed with its apostrophe and without ("can't", "cant")."""
    return tuple(dict.fromkeys(p for phrase in phrases for p in (phrase, phrase.replace("'", ""))))


#: What a patient writes that names weakness, a drooping face or trouble speaking: a stroke,
#: or a bleed on the spinal cord after needling near the neck, shows so. "My face is drooping
#: and I can't get my words out" once waited two working days (a clinical review). Read the
#: same day, as weakness that came on slowly is; the advice says to call at once if it was
#: sudden. A crude screen again, that would rather call too often.
WEAKNESS_WORDS = {
    # A review tried the ways patients write it ("arm went limp", "smile is lopsided", "I cant
    # talk properly") and the first lists missed them. "Limp" alone is not here: a needled leg
    # often limps; nor "can't move" alone: a stiff neck after needling is common.
    "en": RedFlagWords(
        ("weak", "droop", "slurr", "paraly", "speech", "lopsided", "crooked"),
        words=frozenset({"slur", "stroke"}),
        phrases=_spelt_both_ways(
            "can't speak", "cannot speak", "can not speak", "couldn't speak", "can't talk"
        )
        + _spelt_both_ways("cannot talk", "can not talk", "couldn't talk", "went limp")
        + _spelt_both_ways("can't lift my arm", "can't lift my leg", "can't move my arm")
        + _spelt_both_ways("can't move my leg", "can't move one side")
        + _spelt_both_ways("words won't come", "can't get my words", "can't get the words")
        + ("trouble speaking", "hard to speak", "my words out", "the words out")
        + ("words come out", "no strength in my", "lost the strength"),
    ),
    # "Faible" is weak, and also mild: "une faible douleur" is a mild pain, read as such.
    "fr_CA": RedFlagWords(
        ("faibl", "paralys", "affaiss"),
        words=frozenset({"avc", "croche", "croches"}),
        phrases=("mal a parler", "difficulte a parler", "misere a parler", "peux pas parler")
        + ("peux plus parler", "peux pu parler", "arrive pas a parler", "arrive plus a parler")
        + ("visage tombe", "visage qui tombe", "face tombe", "face qui tombe", "bouche tordue")
        + ("bras faible", "jambe faible", "main faible", "bras est faible", "jambe est faible")
        + ("main est faible", "cote faible", "pas de force", "plus de force"),
        unless=("faible douleur", "douleur faible", "douleur est faible", "faiblement"),
    ),
    "es": RedFlagWords(
        ("debil", "paraliz", "paralis"),
        words=frozenset({"acv", "derrame", "chueca", "chueco"}),
        phrases=("dificultad para hablar", "no puedo hablar", "me cuesta hablar", "cara caida")
        + ("me cuesta trabajo hablar", "no me salen las palabras", "traba la lengua")
        + ("boca torcida", "se me cae la cara", "se me cayo la cara", "no tengo fuerza"),
    ),
}
#: What a patient writes that names a headache, their sight or dizziness: a stroke at the back
#: of the brain can show so (NHS: its other symptoms), and after needling near the neck the
#: vertebral arteries lead there. "Worst headache of my life and seeing double" waited two
#: working days at the 48-hour check (a clinical review). Read the same day, whatever was
#: needled; the advice says to call at once if it came on suddenly. A headache is common and
#: mostly harmless, so this calls often: a person reads every word either way.
HEAD_WORDS = {
    "en": RedFlagWords(
        ("headach", "migrain", "dizz", "vertig", "blurr", "unsteady", "vision", "sight"),
        words=frozenset({"blur", "balance", "spinning"}),
        phrases=("double vision", "seeing double", "see double", "lost my balance")
        + ("keep my balance", "walk straight"),
    ),
    "fr_CA": RedFlagWords(
        ("migrain", "etourd", "vertig", "embrouill", "equilibr"),
        words=frozenset({"vision", "vue"}),
        phrases=("mal de tete", "mal a la tete", "vois double", "vision double", "vois embrouille")
        + ("tete qui tourne", "tete me tourne", "vois plus", "vois pu"),
    ),
    "es": RedFlagWords(
        ("jaqueca", "migran", "mareo", "marea", "vertig", "borros", "equilibr"),
        words=frozenset({"vista", "vision"}),
        phrases=("dolor de cabeza", "veo doble", "vision doble", "da vueltas", "dan vueltas")
        + ("se me nubla",),
    ),
}
#: What a patient writes that names a fever, shivering or feeling very unwell: an infection
#: after needling, a deep one too, can show so before any site looks red, and sepsis starts
#: so (NHS: sepsis). "Fever of 39 and chills since last night, I feel very unwell" waited two
#: working days (a user review). Read the same day; the advice lists the signs to call the
#: emergency number for. "Temperature" is a whole word; "hot" alone is not here (a warm site
#: is asked about on its own); "chill" catches "chilly" too: a call too many, not one too few.
FEVER_WORDS = {
    "en": RedFlagWords(
        ("fever", "shiver", "rigor", "chill"),
        words=frozenset({"temperature", "temp", "shaking"}),
        phrases=("very unwell", "very ill", "really unwell", "really ill", "feel awful")
        + ("feel terrible", "hot and cold"),
    ),
    "fr_CA": RedFlagWords(
        ("fievr", "frisson", "grelott"),
        words=frozenset({"temperature"}),
        phrases=("tres malade", "vraiment malade", "sens tres mal", "sens vraiment mal")
        + ("chaud et froid",),
    ),
    "es": RedFlagWords(
        ("fiebr", "febril", "escalofri", "calentur", "tirit"),
        words=frozenset({"temperatura"}),
        phrases=("muy mal", "muy enferm", "fatal", "calor y frio"),
    ),
}
_WORD = re.compile(r"[^\W\d_]+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def mentions_red_flag(
    text: str,
    languages: Collection[str] | None = None,
    *,
    screen: Mapping[str, RedFlagWords] = RED_FLAG_WORDS,
) -> bool:
    """Whether free text names the chest, breathing or bleeding (or what another `screen`
    names): in English and the patient's languages (their own and the page's; every language
    when none is known), accents and case aside. Only theirs, so an English "I sang" is not
    French blood."""
    # A phone types the apostrophe curly ("manque d’air"); the phrases are written straight.
    written = search_key(text.translate(_APOSTROPHES))
    for code, said in screen.items():
        if languages is not None and code != "en" and code not in languages:
            continue
        folded = written
        for other_sense in said.unless:
            folded = folded.replace(other_sense, " ")
        words = _WORD.findall(folded)
        if (
            any(word.startswith(said.stems) for word in words)
            or any(word in said.words for word in words)
            or any(phrase in folded for phrase in said.phrases)
        ):
            return True
    return False


def mentions_head(text: str, languages: Collection[str] | None = None) -> bool:
    """Whether free text names a headache, sight or dizziness (HEAD_WORDS), read as
    `mentions_red_flag` reads the chest."""
    return mentions_red_flag(text, languages, screen=HEAD_WORDS)


def mentions_fever(text: str, languages: Collection[str] | None = None) -> bool:
    """Whether free text names a fever, shivering or feeling very unwell (FEVER_WORDS), read
    as `mentions_red_flag` reads the chest."""
    return mentions_red_flag(text, languages, screen=FEVER_WORDS)


def mentions_weakness(text: str, languages: Collection[str] | None = None) -> bool:
    """Whether free text names weakness, a drooping face or trouble speaking (WEAKNESS_WORDS),
    read as `mentions_red_flag` reads the chest."""
    return mentions_red_flag(text, languages, screen=WEAKNESS_WORDS)

"""The embedded default corpus: a seeded generator of English sentences with gold UD syntax.

Sentences are grown as dependency trees (each ``Node`` knows its relation to its parent and
its left and right dependents, in order), then read off left to right, so every tree is
single-rooted and projective by construction. Word choice is Zipf-skewed; several words are
content in one place and function in another ("have", "do", "will", "that") and many are
noun/verb-ambiguous ("run", "watch", "book").
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from attn_project.data.conllu import Sentence, write_conllu
from attn_project.data.files import atomic_write_text
from attn_project.errors import ConfigError

T = TypeVar("T")

GENERATOR_VERSION = 2  # part of the corpus folder's name: bump whenever the sentences change
# 2: no repeated words in the word lists (a repeat changed that word's Zipf weight)
SHORTEST_SENTENCE = 3  # tokens ("Dogs run ."): a smaller data.max_len could never be satisfied
MAX_TRIES_PER_SENTENCE = 50  # generate() gives up (instead of looping forever) past this

# ── lexicon ──────────────────────────────────────────────────────────────────────────────
AMBIGUOUS = "run watch book play walk call visit plan answer change help work love cook dance drink " \
            "fish paint ride dream guide test record list sign train"
NOUNS = (AMBIGUOUS + " man woman child person dog cat bird horse teacher student doctor farmer "
         "king queen friend family city house garden park river road car boat letter story "
         "song picture window door table chair room school office shop market bank hospital "
         "village forest mountain island bridge street kitchen library museum church hotel "
         "computer phone bottle cup box bag key map ticket paper report question problem idea "
         "game film show meal bread apple cake coffee tea water milk soup money gift "
         "flower tree stone sun moon star rain snow wind lake sea beach field farm hill wall "
         "floor roof lamp clock radio camera painting poem message lesson meeting party holiday "
         "journey army company government will team player singer writer driver artist "
         "neighbour parent baby girl boy lawyer nurse pilot soldier police").split()
IRREGULAR_PLURALS = {"man": "men", "woman": "women", "child": "children", "person": "people",
                     "police": "police", "fish": "fish"}
VerbForms = tuple[str, str | None, str | None]  # (base, past, participle); None = regular
TRANSITIVE: list[VerbForms] = [("see", "saw", "seen"), ("take", "took", "taken"), ("give", "gave", "given"),
              ("write", "wrote", "written"), ("read", "read", "read"), ("eat", "ate", "eaten"),
              ("find", "found", "found"), ("make", "made", "made"), ("buy", "bought", "bought"),
              ("bring", "brought", "brought"), ("build", "built", "built"),
              ("catch", "caught", "caught"), ("hold", "held", "held"), ("keep", "kept", "kept"),
              ("leave", "left", "left"), ("lose", "lost", "lost"), ("meet", "met", "met"),
              ("sell", "sold", "sold"), ("send", "sent", "sent"), ("teach", "taught", "taught"),
              ("have", "had", "had"), ("do", "did", "done"), ("break", "broke", "broken"),
              ("choose", "chose", "chosen"), ("draw", "drew", "drawn"), ("drive", "drove", "driven"),
              ("forget", "forgot", "forgotten"), ("hide", "hid", "hidden"), ("steal", "stole", "stolen")]
TRANSITIVE += [(w, None, None) for w in (
    "watch book play call visit plan answer change help love cook paint record test sign like want "
    "need open close clean carry fix follow push pull wash climb enjoy describe "
    "discover explain finish invite join kick move order print protect reach repair save share "
    "start study taste touch use").split()]
INTRANSITIVE: list[VerbForms] = [
                ("sleep", "slept", "slept"), ("sing", "sang", "sung"), ("swim", "swam", "swum"),
                ("fall", "fell", "fallen"), ("sit", "sat", "sat"), ("stand", "stood", "stood"),
                ("go", "went", "gone"), ("come", "came", "come"), ("run", "ran", "run"),
                ("fly", "flew", "flown"), ("grow", "grew", "grown")]
INTRANSITIVE += [(w, None, None) for w in (
    "walk work dance dream arrive laugh smile wait cry jump listen live travel rest shout "
    "agree appear disappear").split()]
COMPLEMENT = [("say", "said", "said"), ("think", "thought", "thought"), ("know", "knew", "known"),
              ("hear", "heard", "heard"), ("forget", "forgot", "forgotten")] + [
    (w, None, None) for w in "believe hope notice claim explain remember learn decide".split()]
CONTROL = [(w, None, None) for w in "want need like hope try decide plan love".split()]
ADJECTIVES = ("old young big small new good bad long short tall happy sad red blue green black "
              "white dark bright quiet loud cold hot warm cheap expensive beautiful strange "
              "famous tired hungry busy empty full heavy light clean dirty rich poor kind "
              "angry brave clever simple difficult easy early late important large little "
              "modern nice open quick slow soft strong sweet wet wild wooden yellow").split()
ADVERBS_MANNER = "quickly slowly carefully quietly happily badly well loudly suddenly easily".split()
ADVERBS_TIME = "today yesterday now soon again here there later tonight".split()
ADVERBS_FREQ = "often never always sometimes usually also really just still already".split()
INTENSIFIERS = "very too so quite rather".split()
NAMES = ("Alice Bob Maria John Emma David Sarah Peter Anna James Laura Tom Lucy Mark Nina Paul "
         "Kate Omar Mei Carlos London Paris Tokyo Berlin Rome Cairo Lima Oslo").split()
NUMBERS = "two three four five six seven ten twelve twenty hundred".split()
PREPOSITIONS = "in on at with from near behind under for about after before through across " \
               "over into of".split()
DETS_SG = ["the", "a", "this", "that", "every", "each", "no", "another"]
DETS_PL = ["the", "these", "those", "some", "many", "no", "all"]
POSSESSIVES = ["my", "your", "his", "her", "our", "their", "its"]
MODALS = ["will", "can", "could", "would", "should", "must", "may", "might"]
SUBORDINATORS = ["because", "when", "if", "while", "although", "before", "after"]
PRON_SUBJ = {"I": ("sg", 1), "you": ("pl", 2), "he": ("sg", 3), "she": ("sg", 3),
             "it": ("sg", 3), "we": ("pl", 1), "they": ("pl", 3)}
PRON_OBJ = ["me", "you", "him", "her", "it", "us", "them"]

VOWELS = "aeiou"

# ── how often each construction appears: the chance at each place it could ───────────────
PRONOUN_NP = 0.15  # a noun phrase is a pronoun
NAME_NP = 0.10  # … or a proper name (else a common noun phrase)
PLURAL = 0.3
POSSESSIVE = 0.12  # "my dog" instead of a determiner
NUMERAL = 0.25  # a plural noun phrase with a numeral ("three dogs")
DET_WITH_NUMERAL = 0.5  # … and a determiner before it ("the three dogs")
PLURAL_DET = 0.7  # a plural noun phrase with a determiner ("the dogs" vs "dogs")
ADJECTIVE = 0.3  # each of up to two adjectives
INTENSIFIER = 0.15  # "very old"
NOUN_PP = 0.15  # "the man in the park"
RELATIVE_CLAUSE = 0.08
NP_COORDINATION = 0.06  # "the dog and the cat"
SUBJECT_RELATIVE = 0.5  # "that saw the dog" (else "that the dog saw")
PERFECT_HAD = 0.4  # "had seen" instead of "has/have seen"
NEGATED_DID = 0.5  # "did not" instead of "does/do not"
FREQUENCY_ADVERB = 0.1  # "often sees"
VERB_PP = 0.3  # "saw the dog in the park"
PASSIVE_AGENT = 0.4  # "was seen by the man"
MANNER_OR_TIME_ADVERB = 0.12
CLAUSE_KINDS = {"transitive": 40, "intransitive": 18, "copula": 14, "passive": 10, "complement": 10,
                "control": 8}  # relative weights
THAT_COMPLEMENTIZER = 0.7  # "said that the man left" (else "said the man left")
COPULA_ADJECTIVE = 0.7  # "is old" (else "is a teacher")
COPULA_INTENSIFIER = 0.25
YES_NO_QUESTION = 0.08
WH_QUESTION = 0.06
ADVERBIAL_CLAUSE = 0.08  # "…, because the dog slept"
CLAUSE_COORDINATION = 0.06
WHO_QUESTION = 0.5  # "Who saw the dog ?" (else "What did the man see ?")


def check_unique(**lists: Sequence[str | VerbForms]) -> None:
    """A repeated word would silently change its weight: ``pick`` weights by list position."""
    for name, words in lists.items():
        keys = [w if isinstance(w, str) else w[0] for w in words]
        repeated = sorted({w for w in keys if keys.count(w) > 1})
        assert not repeated, f"{name} lists {repeated} more than once"


check_unique(NOUNS=NOUNS, TRANSITIVE=TRANSITIVE, INTRANSITIVE=INTRANSITIVE, COMPLEMENT=COMPLEMENT,
             CONTROL=CONTROL, ADJECTIVES=ADJECTIVES, ADVERBS=ADVERBS_MANNER + ADVERBS_TIME + ADVERBS_FREQ,
             NAMES=NAMES, NUMBERS=NUMBERS, PREPOSITIONS=PREPOSITIONS)
DOUBLING = {"run", "sit", "swim", "stop", "plan", "shop", "begin", "drop", "jog", "hug", "win"}


def plural(noun: str) -> str:
    if noun in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def third_singular(verb: str) -> str:
    special = {"have": "has", "do": "does", "go": "goes", "fish": "fishes"}
    return special.get(verb) or plural(verb)


def regular_past(verb: str) -> str:
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in VOWELS:
        return verb[:-1] + "ied"
    if verb in DOUBLING:
        return verb + verb[-1] + "ed"
    return verb + "ed"


def gerund(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith("ee") and verb != "be":
        return verb[:-1] + "ing"
    if verb in DOUBLING:
        return verb + verb[-1] + "ing"
    return verb + "ing"


@dataclass(frozen=True)
class Verb:
    base: str
    past: str
    participle: str

    @classmethod
    def of(cls, entry: tuple[str, str | None, str | None]) -> Verb:
        base, past, participle = entry
        return cls(base, past or regular_past(base), participle or past or regular_past(base))


# ── trees ────────────────────────────────────────────────────────────────────────────────
@dataclass
class Node:
    form: str
    upos: str
    deprel: str = "root"
    left: list[Node] = field(default_factory=list)
    right: list[Node] = field(default_factory=list)

    def add_left(self, node: Node, deprel: str) -> Node:
        node.deprel = deprel
        self.left.append(node)
        return node

    def add_right(self, node: Node, deprel: str) -> Node:
        node.deprel = deprel
        self.right.append(node)
        return node

    def linear(self) -> list[Node]:
        return [n for c in self.left for n in c.linear()] + [self] + \
               [n for c in self.right for n in c.linear()]


def to_sentence(root: Node) -> Sentence:
    """Read a tree off left to right into a Sentence with 0-based heads (root = -1)."""
    order = root.linear()
    index = {id(node): i for i, node in enumerate(order)}
    heads = [-1] * len(order)
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node.left + node.right:
            heads[index[id(child)]] = index[id(node)]
            stack.append(child)
    tokens = [n.form for n in order]
    for i in range(len(tokens) - 1):  # a → an before a vowel
        if tokens[i].lower() == "a" and tokens[i + 1][0].lower() in VOWELS:
            tokens[i] = tokens[i][:-1] + "an" if tokens[i] == "a" else "An"
    tokens[0] = tokens[0][0].upper() + tokens[0][1:]
    return Sentence(tokens, [n.upos for n in order], heads, [n.deprel for n in order])


@dataclass
class Subject:
    node: Node
    number: str  # "sg" | "pl"
    person: int = 3


class Grammar:
    """Grows random sentences; every choice goes through one seeded ``random.Random``."""

    def __init__(self, seed: int = 0, zipf: float = 1.0):
        self.rng = random.Random(seed)
        self.zipf = zipf
        self.cum_weights: dict[int, list[float]] = {}

    # choice helpers
    def pick(self, words: Sequence[T]) -> T:
        """A Zipf-skewed choice: the k-th item of ``words`` has weight 1 / k**zipf."""
        key = id(words)
        if key not in self.cum_weights:
            self.cum_weights[key] = list(itertools.accumulate(
                1.0 / (k + 1) ** self.zipf for k in range(len(words))))
        return self.rng.choices(words, cum_weights=self.cum_weights[key])[0]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # noun phrases
    def noun_phrase(self, depth: int = 0, case: str = "subj", allow_pronoun: bool = True) -> Subject:
        r = self.rng.random()
        if allow_pronoun and r < PRONOUN_NP:
            if case == "subj":
                form = self.rng.choice(list(PRON_SUBJ))
                number, person = PRON_SUBJ[form]
                return Subject(Node(form, "PRON"), number, person)
            return Subject(Node(self.rng.choice(PRON_OBJ), "PRON"), "sg")
        if r < PRONOUN_NP + NAME_NP:
            return Subject(Node(self.pick(NAMES), "PROPN"), "sg")
        return self.common_noun_phrase(depth)

    def common_noun_phrase(self, depth: int) -> Subject:
        number = "pl" if self.chance(PLURAL) else "sg"
        noun_word = self.pick(NOUNS)
        head = Node(plural(noun_word) if number == "pl" else noun_word, "NOUN")
        modifiers: list[tuple[Node, str]] = []
        if self.chance(POSSESSIVE):
            modifiers.append((Node(self.rng.choice(POSSESSIVES), "PRON"), "nmod:poss"))
        elif number == "pl" and self.chance(NUMERAL):
            if self.chance(DET_WITH_NUMERAL):
                modifiers.append((Node(self.rng.choice(["the", "these", "those", "all"]), "DET"), "det"))
            modifiers.append((Node(self.pick(NUMBERS), "NUM"), "nummod"))
        elif number == "sg" or self.chance(PLURAL_DET):
            modifiers.append((Node(self.pick(DETS_SG if number == "sg" else DETS_PL), "DET"), "det"))
        for _ in range(2):
            if not self.chance(ADJECTIVE):
                break
            adjective = Node(self.pick(ADJECTIVES), "ADJ")
            if self.chance(INTENSIFIER):
                adjective.add_left(Node(self.rng.choice(INTENSIFIERS), "ADV"), "advmod")
            modifiers.append((adjective, "amod"))
        for node, rel in modifiers:
            head.add_left(node, rel)
        if depth < 2 and self.chance(NOUN_PP):
            head.add_right(self.prepositional(depth + 1), "nmod")
        if depth < 2 and self.chance(RELATIVE_CLAUSE):
            head.add_right(self.relative_clause(number, depth + 1), "acl:relcl")
        if depth < 2 and self.chance(NP_COORDINATION):
            other = self.noun_phrase(depth + 1, case="obj", allow_pronoun=False)
            other.node.left.insert(0, Node(self.rng.choice(["and", "or"]), "CCONJ", "cc"))
            head.add_right(other.node, "conj")
            number = "pl"
        return Subject(head, number)

    def prepositional(self, depth: int) -> Node:
        """An NP with its preposition attached as ``case``; the caller sets nmod/obl."""
        np = self.noun_phrase(depth, case="obj")
        np.node.left.insert(0, Node(self.pick(PREPOSITIONS), "ADP", "case"))
        return np.node

    def relative_clause(self, number: str, depth: int) -> Node:
        verb = Verb.of(self.pick(TRANSITIVE))
        relative = Node(self.rng.choice(["that", "who", "which"]), "PRON")
        if self.chance(SUBJECT_RELATIVE):  # subject relative: "that saw the dog"
            head = self.finite_verb(verb, Subject(relative, number), transitive=True, depth=depth)
            head.left.insert(0, head.left.pop(head.left.index(relative)))
        else:  # object relative: "that the dog saw"
            subject = self.noun_phrase(depth, case="subj")
            head = self.finite_verb(verb, subject, transitive=False, depth=depth)
            head.left.insert(0, relative)
            relative.deprel = "obj"
        return head

    # clauses
    def finite_verb(self, verb: Verb, subject: Subject, transitive: bool, depth: int,
                    passive: bool = False) -> Node:
        """A verb with subject, auxiliaries and (if transitive) an object; returns the verb node."""
        tense = self.rng.choice(["past", "present", "modal", "perfect", "progressive", "negated"])
        if passive:
            tense = self.rng.choice(["past", "present", "modal"])
        auxiliaries: list[tuple[Node, str]] = []
        if passive:
            if tense == "modal":
                auxiliaries = [(Node(self.pick(MODALS), "AUX"), "aux"), (Node("be", "AUX"), "aux:pass")]
            else:
                auxiliaries = [(Node(self.be(subject, tense), "AUX"), "aux:pass")]
            form = verb.participle
        elif tense == "past":
            form = verb.past
        elif tense == "present":
            form = self.present(verb.base, subject)
        elif tense == "modal":
            auxiliaries, form = [(Node(self.pick(MODALS), "AUX"), "aux")], verb.base
        elif tense == "perfect":
            have = "has" if subject.number == "sg" and subject.person == 3 else "have"
            if self.chance(PERFECT_HAD):
                have = "had"
            auxiliaries, form = [(Node(have, "AUX"), "aux")], verb.participle
        elif tense == "progressive":
            auxiliaries = [(Node(self.be(subject, self.rng.choice(["past", "present"])), "AUX"), "aux")]
            form = gerund(verb.base)
        else:  # negated: "did not see", "does not see"
            do = "did" if self.chance(NEGATED_DID) else self.present("do", subject)
            auxiliaries = [(Node(do, "AUX"), "aux"), (Node("not", "PART"), "advmod")]
            form = verb.base
        head = Node(form, "VERB")
        head.add_left(subject.node, "nsubj:pass" if passive else "nsubj")
        for node, rel in auxiliaries:
            head.add_left(node, rel)
        if self.chance(FREQUENCY_ADVERB):
            head.add_left(Node(self.pick(ADVERBS_FREQ), "ADV"), "advmod")
        if transitive and not passive:
            head.add_right(self.noun_phrase(depth, case="obj").node, "obj")
        if depth < 2 and self.chance(VERB_PP):
            head.add_right(self.prepositional(depth + 1), "obl")
        if passive and self.chance(PASSIVE_AGENT):
            agent = self.noun_phrase(depth + 1, case="obj")
            agent.node.left.insert(0, Node("by", "ADP", "case"))
            head.add_right(agent.node, "obl")
        if self.chance(MANNER_OR_TIME_ADVERB):
            head.add_right(Node(self.pick(ADVERBS_MANNER + ADVERBS_TIME), "ADV"), "advmod")
        return head

    def be(self, subject: Subject, tense: str) -> str:
        if tense == "past":
            return "was" if subject.number == "sg" and subject.person != 2 else "were"
        if subject.person == 1 and subject.number == "sg":
            return "am"
        return "is" if subject.number == "sg" and subject.person == 3 else "are"

    def present(self, base: str, subject: Subject) -> str:
        return third_singular(base) if subject.number == "sg" and subject.person == 3 else base

    def clause(self, depth: int = 0) -> Node:
        kind = self.rng.choices(list(CLAUSE_KINDS), weights=list(CLAUSE_KINDS.values()))[0]
        subject = self.noun_phrase(depth, case="subj")
        if kind == "copula":
            return self.copula(subject)
        if kind == "passive":
            return self.finite_verb(Verb.of(self.pick(TRANSITIVE)), subject, True, depth, passive=True)
        if kind == "intransitive":
            return self.finite_verb(Verb.of(self.pick(INTRANSITIVE)), subject, False, depth)
        if kind == "transitive":
            return self.finite_verb(Verb.of(self.pick(TRANSITIVE)), subject, True, depth)
        if kind == "control":  # "wants to see the dog"
            head = self.finite_verb(Verb.of(self.pick(CONTROL)), subject, False, depth + 1)
            complement = Node(Verb.of(self.pick(TRANSITIVE)).base, "VERB")
            complement.add_left(Node("to", "PART"), "mark")
            complement.add_right(self.noun_phrase(depth + 1, case="obj").node, "obj")
            head.right.insert(0, complement)
            complement.deprel = "xcomp"
            return head
        head = self.finite_verb(Verb.of(self.pick(COMPLEMENT)), subject, False, depth + 1)
        if depth < 2:  # "said that the man left"
            inner = self.clause(depth + 1)
            if self.chance(THAT_COMPLEMENTIZER):
                inner.left.insert(0, Node("that", "SCONJ", "mark"))
            head.right.insert(0, inner)
            inner.deprel = "ccomp"
        return head

    def copula(self, subject: Subject) -> Node:
        tense = self.rng.choice(["past", "present"])
        if self.chance(COPULA_ADJECTIVE):
            head = Node(self.pick(ADJECTIVES), "ADJ")
            if self.chance(COPULA_INTENSIFIER):
                head.add_left(Node(self.rng.choice(INTENSIFIERS), "ADV"), "advmod")
        else:
            head = self.common_noun_phrase(depth=2).node
        head.left.insert(0, Node(self.be(subject, tense), "AUX", "cop"))
        head.left.insert(0, subject.node)
        subject.node.deprel = "nsubj"
        return head

    def sentence(self) -> Sentence:
        r = self.rng.random()
        if r < YES_NO_QUESTION:
            return to_sentence(self.yes_no_question())
        if r < YES_NO_QUESTION + WH_QUESTION:
            return to_sentence(self.wh_question())
        root = self.clause()
        if self.chance(ADVERBIAL_CLAUSE):
            extra = self.clause(depth=1)
            extra.left.insert(0, Node(self.rng.choice(SUBORDINATORS), "SCONJ", "mark"))
            root.add_right(extra, "advcl")
        elif self.chance(CLAUSE_COORDINATION):
            extra = self.clause(depth=1)
            extra.left.insert(0, Node(self.rng.choice(["and", "but", "or"]), "CCONJ", "cc"))
            root.add_right(extra, "conj")
        root.add_right(Node(".", "PUNCT"), "punct")
        return to_sentence(root)

    def yes_no_question(self) -> Node:
        """"Did the children watch the game ?" — the auxiliary goes before the subject."""
        subject = self.noun_phrase(1, case="subj")
        aux = self.rng.choice(["did", self.present("do", subject), self.pick(MODALS)])
        verb = Verb.of(self.pick(TRANSITIVE))
        head = Node(verb.base, "VERB")
        head.add_left(Node(aux, "AUX"), "aux")
        head.add_left(subject.node, "nsubj")
        head.add_right(self.noun_phrase(1, case="obj").node, "obj")
        head.add_right(Node("?", "PUNCT"), "punct")
        return head

    def wh_question(self) -> Node:
        """"What did the man see ?" or "Who saw the dog ?"."""
        verb = Verb.of(self.pick(TRANSITIVE))
        if self.chance(WHO_QUESTION):
            head = Node(verb.past, "VERB")
            head.add_left(Node("who", "PRON"), "nsubj")
            head.add_right(self.noun_phrase(1, case="obj").node, "obj")
        else:
            subject = self.noun_phrase(1, case="subj")
            head = Node(verb.base, "VERB")
            head.add_left(Node("what", "PRON"), "obj")
            head.add_left(Node(self.rng.choice(["did", "will", "can"]), "AUX"), "aux")
            head.add_left(subject.node, "nsubj")
        head.add_right(Node("?", "PUNCT"), "punct")
        return head


def generate(n: int, seed: int = 0, max_len: int | None = None,
             exclude: set[str] | frozenset = frozenset()) -> list[Sentence]:
    """``n`` sentences from a grammar seeded with ``seed`` (same seed → same sentences)."""
    check_max_len(max_len)
    grammar, sentences = Grammar(seed), list[Sentence]()
    for attempt in itertools.count(1):
        if len(sentences) == n:
            return sentences
        if attempt > MAX_TRIES_PER_SENTENCE * n + 10_000:  # too few distinct sentences fit
            raise ConfigError(f"data.max_len={max_len}: only {len(sentences)} distinct sentences of at "
                              f"most {max_len} tokens found in {attempt - 1} tries, {n} needed; "
                              f"raise data.max_len or lower data.sizes")
        sentence = grammar.sentence()
        if (max_len is None or len(sentence) <= max_len) and " ".join(sentence.tokens) not in exclude:
            sentences.append(sentence)
    raise AssertionError("unreachable")


def check_max_len(max_len: int | None) -> None:
    if max_len is not None and max_len < SHORTEST_SENTENCE:
        raise ConfigError(f"data.max_len={max_len}: the default corpus has no sentence shorter than "
                          f"{SHORTEST_SENTENCE} tokens; use data.max_len >= {SHORTEST_SENTENCE}")


def write_corpus(folder: str | Path, sizes: dict[str, int], seed: int = 0,
                 max_len: int | None = None) -> dict:
    """Write ``default-ud-{split}.conllu`` for each split (each split its own seed stream).

    Files are written to a temporary name and renamed, so parallel jobs never see half a file.
    """
    folder = Path(folder)
    paths = {split: folder / f"default-ud-{split}.conllu" for split in sizes}
    if all(path.exists() for path in paths.values()):
        return paths
    seen: set[str] = set()  # dev/test sentences never repeat a train sentence
    for offset, (split, n) in enumerate(sizes.items()):
        sentences = generate(n, seed=seed * 1000 + offset, max_len=max_len, exclude=seen)
        seen.update(" ".join(s.tokens) for s in sentences)
        atomic_write_text(paths[split], write_conllu(sentences, f"default-{split}"))
    return paths

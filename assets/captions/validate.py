"""Cleaning and validation of LLM-written class captions.

`clean_caption` turns a raw completion into one caption; `validate_caption` says why a caption
must not be used (or None when it may). Term matching is on normalized text (lower case, hyphens
as spaces, British spellings folded), compared by word stems (plurals folded, and the derived forms and compounds of
assets/captions/lexicon.py), with the lexicon's paraphrases ("the heart is enlarged") counting as
terms; where terms of two classes overlap ("no tumor" holds "tumor") the longest match wins. A term
after a negation ("no", "without", "negative for", "free of") in the same clause is a negated
mention: punctuation, a conjunction or preposition that starts a new phrase ("and", "but", "with",
"showing") or a comma that starts one (", and a stone") ends the scope, while a bare list goes on
("no glioma, meningioma or pituitary tumor"). A sibling that is a normal class ("normal", "no
finding") is named only by words about the whole study ("normal chest radiograph"), not about one
part ("a normal heart size", "clear lungs"). A caption of a multi-label
combination must name each of its findings un-negated.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from assets.captions.lexicon import COMPOUND_PREFIXES, DERIVED, paraphrases
from assets.sources.catalog import ClassInfo

MIN_WORDS = 5
MAX_WORDS = 60
DUPLICATE_OVERLAP = 0.8  # Jaccard of content-word sets at or above which captions are near-duplicates
NEGATION_WINDOW = 8  # words before a term that a negation cue may sit in

_STOPWORDS = frozenset("a an the of in on at to and or with without for from by as is are was be this that "
                       "its it which showing shows".split())
# Words any caption may share with a worked example: openers, views, modality names, stop words.
_GENERIC = _STOPWORDS | frozenset(
    "axial coronal sagittal transverse longitudinal frontal lateral left right chest abdomen abdominal brain "
    "image images photograph section slice scan view ct mri mr x ray radiograph ultrasound fundus colour color "
    "h e stained histopathology histology consistent keeping typical diagnostic suggesting suggestive "
    "demonstrating seen there small large multiple single t1 t2 weighted flair".split())
_MODALITY_WORDS = {
    "xray": r"x ray|radiograph\w*|chest film",
    "ct": r"ct|computed tomograph\w*|cta",
    "mri": r"mri|mr|magnetic resonance|flair|t1 weighted|t2 weighted|diffusion weighted|dwi",
    "ultrasound": r"ultrasound|ultrasonograph\w*|sonograph\w*|sonogram|doppler|echograph\w*",
    "pathology": r"h ?& ?e|h and e|histopatholog\w*|histolog\w*|stained|staining|biopsy|micrograph",
    "fundus": r"fundus|retinal photograph|fundoscop\w*|ophthalmoscop\w*",
}
# Words naming another kind of image than the source's (an X-ray caption must not say "MRI").
_FOREIGN_MODALITY = {
    m: re.compile(r"(?<![a-z0-9])(?:" + "|".join(w for o, w in _MODALITY_WORDS.items() if o != m) + r")(?![a-z0-9])")
    for m in _MODALITY_WORDS
}
_SPELLING = (("tumour", "tumor"), ("oedema", "edema"), ("haem", "hem"), ("colour", "color"),
             ("oesophag", "esophag"), ("ischaem", "ischem"), ("anaem", "anem"), ("paediatr", "pediatr"),
             ("foetal", "fetal"), ("centre", "center"))
_NEGATION_CUES = frozenset({"no", "not", "without", "absent", "absence", "negative", "free", "nor",
                            "neither", "excluded", "excludes", "exclude", "rule", "ruled", "rules", "non"})
_CLAUSE_BREAK = re.compile(r"[.;:!?]|,(?=\s*(?:and|but|with|a|an|the|showing|shows|which|there)\b)|"
                           r"\b(?:but|however|although|whereas|while|and|with|showing|shows|which|apart|except)\b")
# Words that make a normal-class term speak of the whole study ("normal chest radiograph", "normal brain").
_STUDY_WORDS = frozenset("study chest radiograph film scan ct mri image examination exam fundus ultrasound "
                         "sonogram findings appearance x ray photograph brain".split())
_META_START = re.compile(
    r"^\W*(?:sure|certainly|of course|okay|ok|here\b|here's|below\b|the following\b|i\b|i'm|i am|as an ai|caption\b|answer\b|"
    r"note\b|example\b|user\b|assistant\b|system\b|write\b|describe\b|the caption\b|this caption\b)\b",
    re.IGNORECASE)
# Markup is brackets, "#", "**" or a *starred span*; a lone star ("T2*-weighted") is not.
_META_ANY = re.compile(r"caption:|\bcaptions\b|<\|[a-z_]+\|>|\bas an ai\b|\bi cannot\b|\bi can't\b|\bsorry\b|"
                       r"[\[\]{}#]|\*\*|(?<!\w)\*\w[^*]*\*|https?://", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-•*]|\(?[a-z]\))\s")
# Fragments of the request text (assets/captions/prompts.py); a caption holding one echoes the prompt.
_PROMPT_ECHO = re.compile(r"\b(?:caption (?:a|an)\b|write a caption|mention\b|focus on\b|also called:|"
                          r"reply with|one[- ]sentence caption|(?:the|with) main finding|reader notices|"
                          r"key diagnostic sign)", re.IGNORECASE)
_FUNCTION_WORD_END = re.compile(
    r"\b(?:and|or|of|the|a|an|with|in|on|at|to|for|from|by|as|is|are|was|which|that|its|their|showing|"
    r"suggesting|including)\W*$", re.IGNORECASE)
_PREFIX = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay)[!,.]?\s*)?(?:(?:here(?:'s| is)|this is)\b[^:\n]{0,60}:\s*)?"
    r"(?:(?:figure|fig\.?)\s*\d*\s*[:.\-]\s*|(?:caption|answer|image caption|figure caption)\s*\d*\s*[:\-]\s*)?",
    re.IGNORECASE)
_SENTENCE = re.compile(r"^(.+?(?<!\d)[.!?][\"'”’)]?)(?=\s|$)", re.DOTALL)
_QUOTES = "\"'“”‘’`*_ "


def normalize(text: str) -> str:
    """Lower case, hyphens and slashes as spaces, British spellings folded, spaces collapsed."""
    text = text.lower().replace("-", " ").replace("/", " ").replace("–", " ")
    for british, american in _SPELLING:
        text = text.replace(british, american)
    return re.sub(r"\s+", " ", text).strip()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", normalize(text))


def clean_caption(text: str) -> str:
    """One caption from a raw completion: meta prefixes ("Sure! Here is a caption:", "Caption:",
    "Figure 1:") and wrapping quotes or markdown removed, only the first sentence kept, spaces
    collapsed, a full stop added to a sentence that ended without one."""
    text = text.strip()
    for line in text.splitlines():  # the first line with words; "Caption:" alone on a line is skipped
        line = _PREFIX.sub("", line.strip()).strip(_QUOTES)
        if re.search(r"[A-Za-z]{2}", line):
            text = line
            break
    else:
        return ""
    text = _PREFIX.sub("", text).strip(_QUOTES)
    match = _SENTENCE.match(text)
    if match:
        text = match.group(1)
    text = re.sub(r"\s+", " ", text).strip().strip(_QUOTES).strip()
    if text and text[-1].isalnum() or text.endswith(")"):
        text += "."
    return text[:1].upper() + text[1:]


_PLURAL = (("ies", "y"), ("ses", "sis"), ("es", ""), ("s", ""))


def stem(word: str) -> str:
    """A light stemmer: plurals folded and the lexicon's derived forms mapped to their finding
    ("malignancies" and "malignant", "stones" and "stone", "edematous" and "edema"); other
    derivations stay apart ("cystic" is not "cyst")."""
    word = DERIVED.get(word, word)
    for suffix, repl in _PLURAL:
        if word.endswith(suffix) and not word.endswith(("ss", "us", "is")) and len(word) - len(suffix) >= 3:
            word = word[: len(word) - len(suffix)] + repl
            break
    word = DERIVED.get(word, word)
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def _tokens(norm_text: str) -> list[tuple[str, int, int]]:
    """(stem, start, end) of every word; a compound ("bronchopneumonia") as the finding it ends in."""
    tokens = []
    for m in re.finditer(r"[a-z0-9]+", norm_text):
        word = m.group()
        prefix = next((p for p in COMPOUND_PREFIXES if word.startswith(p) and len(word) - len(p) >= 4), "")
        tokens.append((stem(word[len(prefix):]), m.start(), m.end()))
    return tokens


def _mentions(text: str, classes: Sequence[ClassInfo]) -> list[tuple[int, int, int, str]]:
    """(start, end, class index, term) of every class term in normalized text, matched on word
    stems; where matches overlap, the longest wins (so "no tumor" is not also "tumor")."""
    tokens = _tokens(text)
    stems = [t[0] for t in tokens]
    found = []
    for ci, cls in enumerate(classes):
        for term in cls.terms:
            term_stems = [t[0] for t in _tokens(normalize(term))]
            n = len(term_stems)
            for i in range(len(stems) - n + 1):
                if n and stems[i : i + n] == term_stems:
                    found.append((tokens[i][1], tokens[i + n - 1][2], ci, term))
            for pattern in paraphrases(normalize(term)):
                found += [(m.start(), m.end(), ci, term) for m in pattern.finditer(text)]
    found.sort(key=lambda f: (-(f[1] - f[0]), f[0]))
    kept: list[tuple[int, int, int, str]] = []
    for f in found:
        if all(f[1] <= k[0] or f[0] >= k[1] for k in kept):
            kept.append(f)
    return sorted(kept)


def _negated(text: str, start: int, term: str) -> bool:
    """Whether a term starting at `start` is negated by a cue in the few words before it, in the
    same clause. A term that is itself a negation ("no tumor") is never negated from outside."""
    if normalize(term).split()[0] in _NEGATION_CUES:
        return False
    before = re.findall(r"[a-z0-9]+", _CLAUSE_BREAK.split(text[:start])[-1])[-NEGATION_WINDOW:]
    # "non" negates only the word it prefixes ("non-inflammatory meningioma" names a meningioma);
    # "free" only as "free of" ("free fluid" is fluid).
    return any(w in _NEGATION_CUES and (w != "non" or k == len(before) - 1)
               and (w != "free" or before[k + 1 : k + 2] == ["of"]) for k, w in enumerate(before))


def _partial_normal(cls: ClassInfo, text: str, start: int, end: int, term: str) -> bool:
    """Whether a mention of a normal class ("normal", "no finding") speaks of one part, not the
    study: an adjective term ("normal", "clear lungs"; not "no tumor") with no study word among
    its words, the two before it or the one after it ("a normal heart size", not "normal chest")."""
    name = cls.name.strip().lower()
    if not (name in {"normal", "no finding", "healthy"} or name.startswith("no ")) or \
            normalize(term).split()[0] in _NEGATION_CUES:
        return False
    words = [*re.findall(r"[a-z0-9]+", text[:start])[-2:], *re.findall(r"[a-z0-9]+", text[start:end]),
             *re.findall(r"[a-z0-9]+", text[end:])[:1]]
    return not any(w in _STUDY_WORDS for w in words)


def near_duplicate(text: str, accepted: Sequence[str]) -> int | None:
    """Index of the first caption in `accepted` that `text` nearly repeats (Jaccard overlap of
    their sets of words other than stop words >= DUPLICATE_OVERLAP), or None."""
    words = set(_words(text)) - _STOPWORDS
    for k, other in enumerate(accepted):
        other_words = set(_words(other)) - _STOPWORDS
        union = words | other_words
        if not union or len(words & other_words) / len(union) >= DUPLICATE_OVERLAP:
            return k
    return None


def names_any(text: str, classes: Sequence[ClassInfo]) -> bool:
    """Whether `text` mentions a term of any of `classes` (negated or not)."""
    return bool(_mentions(normalize(text), classes))


def _content(words: list[str]) -> list[str]:
    return [w for w in words if w not in _GENERIC]


def _copies(words: list[str], example: str, own_words: set[str]) -> bool:
    """Whether two content words in a row (openers, modality and stop words left out) also stand
    in a row in the example caption, unless the class's own terms or description hold both."""
    mine = _content(words)
    theirs = _content(_words(example))
    pairs = {(a, b) for a, b in zip(theirs, theirs[1:])}
    return any((a, b) in pairs and not {a, b} <= own_words for a, b in zip(mine, mine[1:]))


def validate_caption(
    text: str, cls: ClassInfo, sibling_classes: Sequence[ClassInfo], *, accepted: Sequence[str] = (),
    modality: str | None = None, examples: Sequence[tuple[str, str, str]] = (), prompt_phrases: Sequence[str] = (),
    findings: Sequence[ClassInfo] = (),
) -> str | None:
    """None if `text` is a usable caption of `cls`, else the reason it is not.

    sibling_classes: the other classes of the same source (a caption naming one is wrong);
    accepted: the captions of `cls` kept so far (a near-copy of one is a duplicate);
    modality: the source's modality (a caption calling the image another kind is wrong);
    examples: the worked examples of the prompt, (class, description, caption) (copying is wrong);
    prompt_phrases: instructions of the request (e.g. "its shape and size") a caption must not repeat;
    findings: the classes the caption must each name (default: `cls` alone; a multi-label
    combination's parts).
    """
    words = _words(text)
    if not words:
        return "empty"
    if _META_START.search(text) or _META_ANY.search(text) or _LIST_ITEM.search(text):
        return "meta-text"
    norm_text = normalize(text)
    if _PROMPT_ECHO.search(text) or any(normalize(p) in norm_text for p in prompt_phrases):
        return "prompt echo"
    if len(words) < MIN_WORDS:
        return f"too short: {len(words)} words"
    if len(words) > MAX_WORDS:
        return f"too long: {len(words)} words"
    if _FUNCTION_WORD_END.search(text) or text.rstrip()[-1:] in {",", ";", ":", "("}:
        return "incomplete sentence"
    if _repetitive(words):
        return "repetitive"
    if len(segments := [s for s in re.split(r"[,;]", text) if s.strip()]) >= 4 and \
            max(len(s.split()) for s in segments) <= 4:
        return "list of terms"
    if modality and (m := _FOREIGN_MODALITY[modality].search(normalize(text))):
        return f"wrong modality: {m.group()}"
    findings = tuple(findings) or (cls,)
    own_words = set(_words(" ".join(w for c in (cls, *findings) for w in (*c.terms, c.description))))
    for name, _, caption in examples:
        if names_any(text, [ClassInfo(name)]) or _copies(words, caption, own_words):
            return f"copies worked example: {name}"
    norm = normalize(text)
    named = {cls.name, *(f.name for f in findings)}
    others = [c for c in sibling_classes if c.name not in named]
    n = len(findings)
    mentions = [(start, ci, term, _negated(norm, start, term)) for start, end, ci, term in
                _mentions(norm, [*findings, *others])
                if ci < n or not _partial_normal(others[ci - n], norm, start, end, term)]
    for _, ci, _, negated in mentions:
        if ci >= n and not negated:
            return f"names sibling class: {others[ci - n].name}"
    own = [(ci, negated) for _, ci, _, negated in mentions if ci < n]
    if not own:
        return "does not name class"
    if all(negated for _, negated in own):
        return "negates class"
    for i, finding in enumerate(findings):
        if not any(ci == i and not negated for ci, negated in own):
            return f"misses finding: {finding.name}"
    if (k := near_duplicate(text, accepted)) is not None:
        return f"near-duplicate of caption {k}"
    return None


def _repetitive(words: list[str]) -> bool:
    """A word said twice in a row, any four words repeated, a two-content-word phrase said three
    times, or fewer than 60% distinct words."""
    if any(a == b for a, b in zip(words, words[1:])):
        return True
    fourgrams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    content = Counter((a, b) for a, b in zip(words, words[1:]) if a not in _STOPWORDS and b not in _STOPWORDS)
    return (len(set(fourgrams)) < len(fourgrams) or any(n >= 3 for n in content.values())
            or len(set(words)) < 0.6 * len(words))


def reason_code(reason: str) -> str:
    """The category of a rejection reason, for counting ("names sibling class: x" ->
    "names sibling class", "near-duplicate of caption 3" -> "near-duplicate")."""
    return re.sub(r"\s+of caption \d+$", "", reason.split(":")[0])

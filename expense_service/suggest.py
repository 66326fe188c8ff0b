"""Category suggestion: a multinomial naive Bayes model per user, kept as counts in Mongo.

Why not scikit-learn's estimators: the model must learn each expense as it is written (from the
expense events), keep one user's labels away from every other user's, survive restarts without
pickles, and answer in a few milliseconds. Naive Bayes is exactly a table of counts, so the
model *is* the documents in ``suggestion_words`` (one per user and word: how often each of the
user's categories used it) and one totals document per user; learning is one bulk ``$inc``,
asking is one ``$in`` read of the words in the description. The arithmetic is scikit-learn's
``MultinomialNB`` (a unit test checks the probabilities against it on the same counts).

A new user is not left with nothing: ``category_prior.json``, shipped with the service, holds
keywords for the built-in categories, counted as a few weak pseudo-documents, so "Uber" suggests
travel from the first expense and the user's own filings soon outweigh it.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from pymongo import UpdateOne

from shared.mongo import Database
from shared.uow import UnitOfWork

ALPHA = 0.1  # additive smoothing (MultinomialNB's alpha)
PRIOR_DOCUMENTS = 10.0  # each built-in category weighs as much as this many filed expenses
SPREAD = 2  # a word used by more categories than this counts for SPREAD / (how many)
ALTERNATIVES = 3
PRIOR_FILE = Path(__file__).with_name("category_prior.json")

# Bank-statement noise: words that say how it was paid, not what was bought.
NOISE_WORDS = frozenset(
    [
        "pos",
        "purchase",
        "debit",
        "credit",
        "card",
        "visa",
        "mastercard",
        "mc",
        "amex",
        "contactless",
        "payment",
        "paymt",
        "pmt",
        "ref",
        "txn",
        "trx",
        "transaction",
        "www",
        "com",
        "net",
        "org",
        "inc",
        "ltd",
        "llc",
        "gmbh",
        "co",
        "sq",
        "tst",
        "pp",
        "sumup",
        "izettle",
        "zettle",
        "xx",
        "xxx",
        "xxxx",
        "ach",
        "eft",
        "online",
        "recurring",
        "the",
        "and",
        "of",
        "at",
        "to",
        "from",
        "on",
        "in",
        "for",
        "via",
        "jan",
        "feb",
        "mar",
        "apr",
        "may",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_JOINED = re.compile(r"(?<=\w)['&\u2019](?=\w)")  # H&M, AT&T, Joe's: one word
_DATE = re.compile(r"\b\d{1,4}[/.-]\d{1,2}(?:[/.-]\d{1,4})?\b")
_NOT_LETTERS = re.compile(r"[\W\d_]+")


def features(description: str) -> list[str]:
    """The words of a description without case, digits, punctuation or payment noise, and
    each pair of neighbouring words ("blue bottle"), which tells merchants apart."""
    text = _DATE.sub(" ", _JOINED.sub("", description.casefold()))
    words = [w for w in _NOT_LETTERS.sub(" ", text).split() if len(w) > 1 and w not in NOISE_WORDS]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


@dataclass
class Counts:
    """A model's counts: for each feature, how often each category used it; each category's
    number of documents and of feature occurrences; the size of the vocabulary."""

    words: dict[str, dict[str, float]] = field(default_factory=dict)
    documents: dict[str, float] = field(default_factory=dict)
    occurrences: dict[str, float] = field(default_factory=dict)
    vocabulary: int = 0

    def add(self, description: str, category: str, weight: float = 1.0) -> None:
        """Learns one labelled description (an in-memory model: the prior, tests, benches)."""
        found = features(description)
        for feature in found:
            per = self.words.setdefault(feature, {})
            if not per:
                self.vocabulary += 1
            per[category] = per.get(category, 0.0) + weight
        self.documents[category] = self.documents.get(category, 0.0) + weight
        self.occurrences[category] = self.occurrences.get(category, 0.0) + weight * len(found)


def rank(found: list[str], *models: Counts) -> list[tuple[str, float]]:
    """Categories by posterior probability given ``found`` (features), best first, over the
    sum of ``models`` (the user's counts and the prior). Features no model has seen are left
    out, as a vectoriser fitted on the training words would leave them out. Counts below zero
    (an expense forgotten that was never learnt) count as zero."""
    documents: Counter[str] = Counter()
    occurrences: Counter[str] = Counter()
    for model in models:
        documents.update(model.documents)
        occurrences.update(model.occurrences)
    categories = [c for c, n in documents.items() if n > 0]
    if not categories:
        return []
    total = sum(documents[c] for c in categories)
    vocabulary = max(1, sum(model.vocabulary for model in models))
    scores = {c: math.log(documents[c] / total) for c in categories}
    for feature in found:
        seen: Counter[str] = Counter()
        for model in models:
            seen.update(model.words.get(feature, {}))
        used_by = sum(1 for n in seen.values() if n > 0)
        if not used_by:
            continue
        # A word many categories use ("seattle", "new york") says little about any of them:
        # it counts less, as if it occurred a fraction of a time.
        weight = min(1.0, SPREAD / used_by)
        for c in categories:
            scores[c] += weight * math.log(
                (max(seen.get(c, 0.0), 0.0) + ALPHA)
                / (max(occurrences[c], 0.0) + ALPHA * vocabulary)
            )
    top = max(scores.values())
    weights = {c: math.exp(s - top) for c, s in scores.items()}
    norm = sum(weights.values())
    return sorted(((c, w / norm) for c, w in weights.items()), key=lambda cw: (-cw[1], cw[0]))


def load_prior(path: Path = PRIOR_FILE) -> Counts:
    """The shipped prior: ``{category: [keyword phrase, ...]}``, each phrase a weak document."""
    prior = Counts()
    for category, phrases in json.loads(path.read_text(encoding="utf-8")).items():
        # Equal weight per category, however many keywords it lists: no built-in category
        # is more likely than another before the user has filed anything.
        for phrase in phrases:
            prior.add(phrase, category, PRIOR_DOCUMENTS / len(phrases))
    return prior


def confidence(probability: float) -> Decimal:
    return Decimal(str(probability)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


# -- the per-user model in Mongo ----------------------------------------------------------------

_SEP = "\x1f"


def _field(category: str) -> str:
    # Category names may hold '.', which Mongo reads as a path in an update.
    return category.replace("%", "%25").replace(".", "%2E")


def _category(name: str) -> str:
    return name.replace("%2E", ".").replace("%25", "%")


def _word_id(user_id: str, feature: str) -> str:
    return f"{user_id}{_SEP}{feature}"


def _totals_id(user_id: str) -> str:
    return f"{user_id}{_SEP}"


Labelled = tuple[str, str, int]  # description, category, +1 to learn it or -1 to forget it


@dataclass
class Suggester:
    db: Database
    prior: Counts

    async def counts(self, user_id: str, found: list[str]) -> Counts:
        """The user's counts for ``found`` and their totals: one read."""
        ids = [_totals_id(user_id), *(_word_id(user_id, f) for f in set(found))]
        model = Counts()
        async for doc in self.db.suggestion_words.find({"_id": {"$in": ids}}):
            if doc["_id"] == ids[0]:
                model.documents = _categories(doc.get("documents", {}))
                model.occurrences = _categories(doc.get("occurrences", {}))
                model.vocabulary = int(doc.get("vocabulary", 0))
            else:
                model.words[doc["_id"].split(_SEP, 1)[1]] = _categories(doc.get("counts", {}))
        return model

    async def suggest(self, user_id: str, description: str) -> list[tuple[str, float]]:
        (ranking,) = await self.suggest_many(user_id, [description])
        return ranking

    async def suggest_many(
        self, user_id: str, descriptions: list[str]
    ) -> list[list[tuple[str, float]]]:
        """Rankings for many descriptions (an import's rows) from one read of the model."""
        found = [features(d) for d in descriptions]
        model = await self.counts(user_id, [f for each in found for f in each])
        return [rank(each, model, self.prior) if each else [] for each in found]

    async def learn(
        self,
        uow: UnitOfWork,
        user_id: str,
        labelled: Iterable[Labelled],
        *,
        atomic: bool = True,
    ) -> None:
        """Adds (or, with -1, takes back) labelled descriptions: one bulk write, and a second
        when new words appear. In ``uow``'s transaction; with ``atomic=False`` outside it, for a
        caller to which a write left half done, or done twice, is harmless: it then saves the
        commit's round trip (a transaction nothing was written in sends no commit)."""
        session = uow.session if atomic else None
        words: dict[str, Counter[str]] = defaultdict(Counter)
        documents: Counter[str] = Counter()
        occurrences: Counter[str] = Counter()
        for description, category, sign in labelled:
            found = features(description)
            key = _field(category)
            for feature in found:
                words[feature][key] += sign
            documents[key] += sign
            occurrences[key] += sign * len(found)
        words = {f: per for f, per in words.items() if any(per.values())}
        if not words and not any(documents.values()):
            return
        updates: list[UpdateOne] = [
            UpdateOne(
                {"_id": _word_id(user_id, feature)},
                {"$inc": _incs("counts", per), "$set": {"user_id": user_id}},
                upsert=True,
            )
            for feature, per in words.items()
        ]
        totals = {**_incs("documents", documents), **_incs("occurrences", occurrences)}
        if totals:
            updates.append(
                UpdateOne(
                    {"_id": _totals_id(user_id)},
                    {"$inc": totals, "$set": {"user_id": user_id}},
                    upsert=True,
                )
            )
        result = await uow.db.suggestion_words.bulk_write(updates, ordered=False, session=session)
        new_words = sum(1 for i in result.upserted_ids or {} if i < len(words))
        if new_words:  # rare once a user's usual merchants are known: a second write only then
            await uow.db.suggestion_words.update_one(
                {"_id": _totals_id(user_id)},
                {"$inc": {"vocabulary": new_words}, "$set": {"user_id": user_id}},
                upsert=True,
                session=session,
            )


def _incs(prefix: str, counts: Mapping[str, int]) -> dict[str, int]:
    return {f"{prefix}.{key}": n for key, n in counts.items() if n}


def _categories(stored: Mapping[str, Any]) -> dict[str, float]:
    return {_category(k): float(v) for k, v in stored.items()}

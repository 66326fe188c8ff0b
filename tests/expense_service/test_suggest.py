"""Category suggestion's model (pure logic): noise-free features, and probabilities that are
scikit-learn's MultinomialNB on the same counts."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB

from expense_service.suggest import ALPHA, SPREAD, Counts, features, load_prior, rank


@pytest.mark.parametrize(
    "noisy",
    [
        "BLUE BOTTLE COFFEE #4411",
        "POS Blue Bottle Coffee 10/31",
        "SQ *BLUE BOTTLE COFFEE CARD XX1234",
        "blue bottle coffee 2026-10-31",
        "VISA DEBIT BLUE BOTTLE COFFEE 0042",
    ],
)
def test_bank_noise_does_not_change_the_features(noisy: str) -> None:
    assert features(noisy) == features("Blue Bottle Coffee")


def test_joined_names_stay_one_word() -> None:
    assert features("H&M") == ["hm"]
    assert features("AT&T internet")[:2] == ["att", "internet"]


def test_probabilities_are_multinomial_naive_bayes() -> None:
    """Against scikit-learn on the same data: the same vocabulary, alpha and class priors, and
    each query word counted with rank's weight (X's counts scaled, which MultinomialNB reads
    as fractional occurrences)."""
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    labels = ["a", "b", "c"]
    training = [
        (" ".join(rng.choices(words, k=rng.randint(1, 4))), rng.choice(labels)) for _ in range(60)
    ]
    ours = Counts()
    for text, label in training:
        ours.add(text, label)
    vectoriser = CountVectorizer(analyzer=features)
    x = vectoriser.fit_transform([text for text, _ in training])
    reference = MultinomialNB(alpha=ALPHA).fit(x, [label for _, label in training])
    assert ours.vocabulary == len(vectoriser.vocabulary_)
    per_class = {
        c: np.asarray(x[[i for i, (_, y) in enumerate(training) if y == c]].sum(0))[0]
        for c in labels
    }
    for _ in range(20):
        query = " ".join(rng.choices(words, k=rng.randint(1, 5)))
        row = vectoriser.transform([query]).toarray().astype(float)
        for column in vectoriser.vocabulary_.values():
            used_by = sum(1 for c in labels if per_class[c][column] > 0)
            row[0, column] *= min(1.0, SPREAD / used_by) if used_by else 0.0
        expected = dict(zip(reference.classes_, reference.predict_proba(row)[0], strict=True))
        got = dict(rank(features(query), ours))
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_a_users_own_filing_outweighs_the_prior() -> None:
    prior = load_prior()
    user = Counts()
    assert rank(features("Starbucks"), user, prior)[0][0] == "food"
    for _ in range(3):
        user.add("Starbucks #123", "coffee")
    ranking = rank(features("STARBUCKS 4411 SEATTLE"), user, prior)
    assert ranking[0][0] == "coffee"
    assert 0 <= ranking[-1][1] <= ranking[0][1] <= 1
    assert sum(p for _, p in ranking) == pytest.approx(1)


@pytest.mark.parametrize(
    ("description", "category"),
    [("Uber", "travel"), ("electricity bill", "bills"), ("groceries", "food")],
)
def test_a_new_account_gets_the_built_in_prior(description: str, category: str) -> None:
    assert rank(features(description), Counts(), load_prior())[0][0] == category


def test_forgetting_undoes_learning() -> None:
    user = Counts()
    user.add("Blue Bottle", "food")
    user.add("Blue Bottle", "food", -1.0)
    user.add("Blue Bottle", "coffee")
    assert rank(features("blue bottle"), user)[0][0] == "coffee"


def test_forgetting_what_was_never_learnt_does_not_break_ranking() -> None:
    """An expense from before the model existed, deleted: its counts go below zero."""
    user = Counts()
    for _ in range(9):
        user.add("weekly big grocery run at the market", "food", -1.0)
    ranking = rank(features("uber"), user, load_prior())
    assert ranking[0][0] == "travel"
    assert all(0 <= p <= 1 for _, p in ranking)

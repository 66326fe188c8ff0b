"""Category suggestion accuracy on a generated, noisy, bank-statement-like data set.

    .venv/bin/python -m bench.suggest_accuracy [--seed N]

One user files a history of expenses: many merchants per category, built-in categories and the
user's own (coffee, gym, pets, kids), each description dressed in bank noise (case, store
numbers, card suffixes, POS / SQ * prefixes, dates, city names). Held out: new descriptions of
the same merchants with fresh noise. Reported: top-1 and top-3 accuracy on those, and the
cold-start accuracy of a brand-new account (built-in prior only) on generic descriptions of
built-in categories. The model is the service's own (expense_service.suggest: the same
features and arithmetic; Mongo only stores its counts). Also timed: one ranking.
"""

from __future__ import annotations

import argparse
import random
import time

from expense_service.suggest import Counts, features, load_prior, rank

MERCHANTS: dict[str, list[str]] = {
    "food": [
        "Whole Foods Market",
        "Trader Joe's",
        "Safeway",
        "Kroger",
        "Aldi",
        "Lidl",
        "Tesco Express",
        "Chipotle Mexican Grill",
        "Sweetgreen",
        "Shake Shack",
        "Domino's Pizza",
        "Panera Bread",
        "Uber Eats",
        "DoorDash",
        "Deliveroo",
        "Pret A Manger",
        "Five Guys",
        "Sushi Zen",
        "Green Garden Deli",
        "Luigi's Trattoria",
    ],
    "travel": [
        "Uber Trip",
        "Lyft Ride",
        "Shell Oil",
        "Chevron",
        "BP Fuel",
        "Delta Air Lines",
        "Ryanair",
        "Amtrak",
        "Caltrain Clipper",
        "Marriott Hotel",
        "Airbnb",
        "Hertz Car Rental",
        "City Parking Garage",
        "Golden Gate Toll",
        "Bolt Ride",
        "Hilton Garden Inn",
    ],
    "shopping": [
        "Amazon Marketplace",
        "AMZN Mktp",
        "eBay",
        "Etsy",
        "Target",
        "IKEA",
        "Best Buy",
        "Apple Store",
        "Zara",
        "Uniqlo",
        "Nike Store",
        "Home Depot",
        "Sephora",
        "Barnes Noble",
        "Decathlon",
        "H&M",
    ],
    "bills": [
        "PG&E Electricity",
        "Comcast Xfinity",
        "Verizon Wireless",
        "Netflix",
        "Spotify",
        "State Farm Insurance",
        "City Water Utility",
        "AT&T Internet",
        "Landlord Rent",
        "Wells Fargo Mortgage",
        "Dropbox",
        "iCloud Storage",
        "Council Tax",
    ],
    "coffee": [
        "Blue Bottle Coffee",
        "Stumptown Coffee Roasters",
        "Philz Coffee",
        "Ritual Roasters",
        "Starbucks",
        "Peet's Coffee",
        "Dunkin",
        "Sightglass",
    ],
    "gym": [
        "Planet Fitness",
        "Equinox",
        "CrossFit Mission",
        "Barry's Bootcamp",
        "SoulCycle",
        "YMCA Membership",
        "Climbing Gym Dogpatch",
    ],
    "pets": [
        "Petco",
        "PetSmart",
        "Chewy.com",
        "Banfield Pet Hospital",
        "Rover Dog Walking",
        "Bark Box",
    ],
    "kids": [
        "Kumon Learning",
        "Little Gym",
        "Gymboree Play",
        "Toys R Us",
        "Kiddie Academy",
        "Carter's",
        "Sylvan Tutoring",
    ],
}

# A new account, nothing filed yet: generic descriptions of the built-in categories.
COLD_START: list[tuple[str, str]] = [
    ("Uber", "travel"),
    ("UBER *TRIP HELP.UBER.COM", "travel"),
    ("Lyft ride home", "travel"),
    ("Train ticket to Boston", "travel"),
    ("Parking downtown", "travel"),
    ("Flight to Lisbon", "travel"),
    ("Hotel two nights", "travel"),
    ("Shell gas station", "travel"),
    ("Electricity bill", "bills"),
    ("Water bill October", "bills"),
    ("Internet broadband", "bills"),
    ("Phone bill", "bills"),
    ("Rent November", "bills"),
    ("Netflix subscription", "bills"),
    ("Car insurance", "bills"),
    ("Spotify Premium", "bills"),
    ("Groceries", "food"),
    ("Supermarket", "food"),
    ("Lunch with Sam", "food"),
    ("Pizza night", "food"),
    ("Restaurant dinner", "food"),
    ("Coffee", "food"),
    ("Bakery bread", "food"),
    ("Starbucks", "food"),
    ("Amazon order", "shopping"),
    ("New shoes", "shopping"),
    ("IKEA furniture", "shopping"),
    ("Clothes at Zara", "shopping"),
    ("Electronics store", "shopping"),
    ("eBay purchase", "shopping"),
    ("Birthday gift", "other"),
    ("Charity donation", "other"),
    ("Haircut", "other"),
    ("ATM withdrawal", "other"),
    ("Dentist", "other"),
    ("Cinema tickets", "other"),
]

CITIES = ["SAN FRANCISCO CA", "NEW YORK NY", "LONDON", "BERLIN", "OAKLAND CA", "SEATTLE WA"]


def noisy(merchant: str, rng: random.Random) -> str:
    """A bank statement's version of a merchant name."""
    text = merchant
    if rng.random() < 0.6:
        text = text.upper()
    elif rng.random() < 0.3:
        text = text.lower()
    parts = [text]
    if rng.random() < 0.5:
        parts.append(f"#{rng.randint(10, 99999)}")
    if rng.random() < 0.4:
        parts.append(rng.choice(CITIES))
    if rng.random() < 0.3:
        parts.append(f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}")
    if rng.random() < 0.3:
        parts.append(f"CARD XX{rng.randint(1000, 9999)}")
    prefix = rng.choice(["", "", "", "POS ", "SQ *", "TST* ", "VISA DEBIT ", "PAYPAL *"])
    return prefix + " ".join(parts)


def generate(seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rng = random.Random(seed)  # noqa: S311 - test data
    history, held_out = [], []
    for category, merchants in MERCHANTS.items():
        for merchant in merchants:
            for _ in range(rng.randint(2, 6)):
                history.append((noisy(merchant, rng), category))
            for _ in range(3):
                held_out.append((noisy(merchant, rng), category))
    rng.shuffle(history)
    return history, held_out


def accuracy(cases: list[tuple[str, str]], *models: Counts) -> tuple[float, float]:
    top1 = top3 = 0
    for description, expected in cases:
        ranked = [c for c, _ in rank(features(description), *models)]
        top1 += ranked[:1] == [expected]
        top3 += expected in ranked[:3]
    return top1 / len(cases), top3 / len(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    prior = load_prior()
    history, held_out = generate(args.seed)
    user = Counts()
    for description, category in history:
        user.add(description, category)
    top1, top3 = accuracy(held_out, user, prior)
    cold1, cold3 = accuracy(COLD_START, Counts(), prior)
    started = time.perf_counter()
    for description, _ in held_out:
        rank(features(description), user, prior)
    per_rank_ms = (time.perf_counter() - started) * 1000 / len(held_out)
    categories = len(MERCHANTS)
    merchants = sum(len(m) for m in MERCHANTS.values())
    print(
        f"data: {len(history)} filed expenses, {merchants} merchants in {categories} categories "
        f"(4 of them the user's own), {len(held_out)} held-out noisy descriptions"
    )
    print(f"{'measure':40} {'value':>8} {'target':>8}")
    print(f"{'top-1 accuracy, held-out':40} {top1:8.3f} {'>= 0.9':>8}")
    print(f"{'top-3 accuracy, held-out':40} {top3:8.3f}")
    print(f"{'cold start top-1 (built-in prior only)':40} {cold1:8.3f}")
    print(f"{'cold start top-3':40} {cold3:8.3f}")
    print(f"{'ranking time per description (ms)':40} {per_rank_ms:8.3f}")


if __name__ == "__main__":
    main()

"""Thai 13-digit identification numbers for tests.

A person's national ID never starts with 0 (the converter refuses columns of
them: reason pii); a juristic person's registration number has the same check
digit but starts with 0 and is public by law (never refused).
"""


def thai_id(first12: str) -> str:
    """``first12`` followed by its check digit (mod-11 over weights 13..2)."""
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return first12 + str((11 - total % 11) % 10)


def juristic_id(last11: str) -> str:
    """A juristic person's registration number: ``0``, ``last11``, check digit."""
    return thai_id("0" + last11)


def wrong_check_digit(number: str) -> str:
    """``number`` with its last digit changed: 13 digits that are no valid ID."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def card_spaced(number: str) -> str:
    """``1 2345 67890 12 3``, as printed on the ID card."""
    return f"{number[0]} {number[1:5]} {number[5:10]} {number[10:12]} {number[12]}"


def dashed(number: str) -> str:
    """``1-2345-67890-12-3``."""
    return card_spaced(number).replace(" ", "-")

"""Valid Thai national ID numbers for tests (the converter refuses columns of them: reason pii)."""


def thai_id(first12: str) -> str:
    """``first12`` followed by its check digit (mod-11 over weights 13..2)."""
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return first12 + str((11 - total % 11) % 10)

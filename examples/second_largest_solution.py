def second_largest(xs):
    """Return the second largest distinct value in xs, or None if there is none."""
    distinct = sorted(set(xs))
    return distinct[-2] if len(distinct) >= 2 else None

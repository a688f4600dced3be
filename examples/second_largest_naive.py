def second_largest(xs):
    """Return the second largest distinct value in xs, or None if there is none."""
    return sorted(xs)[-2]

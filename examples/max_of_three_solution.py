def max_of_three(a, b, c):
    """Return the largest of a, b and c."""
    return max(a, b, c)

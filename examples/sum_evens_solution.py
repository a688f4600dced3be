def sum_evens(xs):
    """Return the sum of the even numbers in the list xs."""
    return sum(x for x in xs if x % 2 == 0)

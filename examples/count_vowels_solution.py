def count_vowels(text):
    """Return the number of vowels (a, e, i, o, u, either case) in text."""
    return sum(ch in 'aeiou' for ch in text.lower())

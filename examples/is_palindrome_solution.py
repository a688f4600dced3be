def is_palindrome(text):
    """True if text is a palindrome, ignoring case and everything but letters and digits."""
    kept = [c.lower() for c in text if c.isalnum()]
    return kept == kept[::-1]

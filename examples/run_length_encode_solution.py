def run_length_encode(s):
    """Encode each run of a repeated character as the character and the run length.

    >>> run_length_encode('aaabcc')
    'a3b1c2'
    """
    parts = []
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        parts.append(s[i] + str(j - i))
        i = j
    return "".join(parts)

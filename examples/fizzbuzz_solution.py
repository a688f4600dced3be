def fizzbuzz(n):
    """Return 'Fizz' (n divisible by 3), 'Buzz' (by 5), 'FizzBuzz' (by both), else str(n)."""
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)

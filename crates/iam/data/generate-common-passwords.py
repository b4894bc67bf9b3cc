#!/usr/bin/env python3
"""Generate crates/iam/data/common-passwords.txt, deterministically.

The list is NOT copied from any leaked-password corpus or other project: it is built here from
patterns that every password-cracking guide and policy document names as the first things an
attacker tries:

  * well-known base words (the ones that top every "worst passwords" article, everyday words,
    months, days, seasons, sports, and words of this domain such as the product and hub
    vocabulary), each with the decorations people add to satisfy a policy: a capital letter
    (the check is case-insensitive, so only the lower-case form is stored), digits, years,
    a trailing "!" or "@", and common "leet" substitutions;
  * keyboard walks (rows, columns and their prefixes, on QWERTY, AZERTY and QWERTZ);
  * repeated characters and repeated short groups;
  * ascending and descending sequences of digits and letters;
  * a few doubled words ("passwordpassword").

Run it from anywhere; it rewrites common-passwords.txt next to this script:

    python3 crates/iam/data/generate-common-passwords.py

The output is sorted, de-duplicated, lower-case ASCII, one entry per line, so re-running it
without changing this script gives byte-identical output. The crate's tests check those
properties and the size (at least 10 000 entries); they do not need Python.
"""

from pathlib import Path

# Words that top every published "most common passwords" ranking, plus everyday words and the
# vocabulary of this product and of payment hubs. Lower case; the check is case-insensitive.
BASE_WORDS = """
password passwd pass word secret letmein welcome hello login logon admin administrator
root user guest test tester testing demo default changeme change access master super
superuser sysadmin system server service support helpdesk network internet computer
database oracle office windows linux ubuntu apple google microsoft amazon facebook
iloveyou love lover lovely loveme princess prince angel angels baby babygirl sweety
sweetheart honey sugar darling beautiful flower sunshine shadow rainbow butterfly
dragon monkey tiger lion eagle falcon phoenix wolf bear panther cobra viper horse
pussycat kitten puppy doggie donkey rabbit turtle dolphin
football baseball basketball soccer hockey tennis golf rugby cricket boxing skater
yankees lakers cowboys steelers packers eagles chelsea arsenal liverpool barcelona
madrid juventus united
superman batman spiderman ironman pokemon starwars startrek matrix hunter killer ninja
pirate warrior soldier knight wizard merlin gandalf jedi
michael jennifer jordan ashley jessica daniel andrew joshua thomas charlie robert
matthew william david richard joseph james george anthony nicole michelle amanda
melissa maria alex alexander samantha elizabeth taylor harley ranger buster tigger
pepper ginger cookie cheese chocolate banana orange lemon cherry coffee pizza
summer winter spring autumn
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
mustang ferrari porsche corvette mercedes camaro
freedom whatever nothing trustno1 qwerty qwertyuiop azerty asdfgh zxcvbn
london paris berlin newyork chicago nairobi lagos kampala dakar accra
ferroloop mojaloop payments payment paymenthub hub hubadmin bank banking finance money
cash wallet mobile mobilemoney transfer transfers settlement ledger liquidity
operator operations treasury accounts account customer business company corporate
manager security private secure safety
""".split()

# Decorations appended to a word (after optional capitalisation, which lower-casing undoes).
SUFFIXES = [
    "", "1", "12", "123", "1234", "12345", "123456", "!", "1!", "123!", "1234!", "@1",
    "@123", "#1", "01", "007", "69", "99", "321", "1234567890", "!@#", "123!@#",
]
# Shorter list for the leet forms, which are already "decorated".
LEET_SUFFIXES = ["", "1", "123", "!", "1!", "123!", "@123"]

# Years people put after a word: birth years and the years around now.
YEARS = range(1970, 2031)
# Years with a symbol, for the recent years that password-expiry rotation produces.
RECENT_YEARS = range(2015, 2031)
RECENT_YEAR_FORMS = ["{y}!", "@{y}", "#{y}", "{y}!!"]

# "Leet" substitutions people make, each applied to the whole word.
LEET_VARIANTS = [
    {"a": "@", "o": "0"},
    {"a": "@", "o": "0", "s": "$"},
    {"a": "@", "o": "0", "e": "3", "i": "1", "s": "$"},
    {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5"},
]

KEYBOARD_ROWS = [
    "`1234567890-=", "1234567890", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./",
    "azertyuiop", "qsdfghjklm", "wxcvbn", "qwertzuiop", "yxcvbnm",
    "!@#$%^&*()_+", "!@#$%^&*()",
]
# Column walks, top-left to bottom, a very common "complex-looking" pattern.
KEYBOARD_COLUMNS = [
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm",
    "zaq12wsxcde34rfvbgt56yhnmju78ik,",
    "!qaz@wsx#edc$rfv%tgb^yhn&ujm*ik",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8o9p0",
    "1a2s3d4f5g6h7j8k9l",
    "a1s2d3f4g5h6j7k8l9",
]

MIN_LENGTH = 6
MAX_LENGTH = 40


def leet_forms(word):
    """The word's leet forms that differ from the word itself."""
    forms = {"".join(variant.get(c, c) for c in word) for variant in LEET_VARIANTS}
    forms.discard(word)
    return sorted(forms)


def decorated_words():
    for word in BASE_WORDS:
        for suffix in SUFFIXES:
            yield word + suffix
        for year in YEARS:
            yield f"{word}{year}"
        for year in RECENT_YEARS:
            yield f"{word}{year % 100:02d}"
            for pattern in RECENT_YEAR_FORMS:
                yield word + pattern.format(y=year)
        for form in leet_forms(word):
            for suffix in LEET_SUFFIXES:
                yield form + suffix
        # "passwordpassword", "adminadmin".
        yield word + word
        yield word + word + "1"


def keyboard_walks():
    for row in KEYBOARD_ROWS + KEYBOARD_COLUMNS:
        for end in range(MIN_LENGTH, len(row) + 1):
            walk = row[:end]
            yield walk
            yield walk + walk
            yield walk[::-1]
            for suffix in ("1", "123", "!", "123!", "@123"):
                yield walk + suffix
        # Every window of the row, not only prefixes ("wertyu", "sdfghj").
        for start in range(len(row)):
            for end in range(start + MIN_LENGTH, len(row) + 1):
                yield row[start:end]
    # Rows joined, in both directions ("qwertyasdfgh", "asdfghqwerty").
    heads = [row[:6] for row in KEYBOARD_ROWS]
    for first in heads:
        for second in heads:
            if first != second:
                yield first + second
                yield first + second + "1"


def repeats():
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789!@#$%*."
    for char in alphabet:
        for count in range(MIN_LENGTH, 25):
            yield char * count
    groups = ["12", "123", "1234", "abc", "ab", "qwe", "asd", "xo", "ha", "la", "01", "69"]
    groups += [str(d) * 2 for d in range(10)]
    for group in groups:
        for times in range(2, 13):
            candidate = group * times
            if len(candidate) <= MAX_LENGTH:
                yield candidate


def sequences():
    digits = "01234567890123456789"
    letters = "abcdefghijklmnopqrstuvwxyz"
    for source in (digits, digits[::-1], letters, letters[::-1]):
        for start in range(10):
            for length in range(MIN_LENGTH, 21):
                window = source[start : start + length]
                if len(window) == length:
                    yield window
    # "abc123", "abcdef123456", "123abc".
    for length in range(3, 11):
        for tail in ("123", "1234", "12345", "123456", "!", "1!"):
            yield letters[:length] + tail
            yield digits[1 : length + 1] + letters[:length]
    # Pairs and triples counting up ("112233", "111222333").
    for width in (2, 3, 4):
        for length in range(3, 10):
            yield "".join(str(d) * width for d in range(1, length + 1))


def main():
    entries = set()
    for generator in (decorated_words, keyboard_walks, repeats, sequences):
        for candidate in generator():
            candidate = candidate.lower()
            if MIN_LENGTH <= len(candidate) <= MAX_LENGTH and candidate.isascii():
                entries.add(candidate)
    output = Path(__file__).with_name("common-passwords.txt")
    output.write_text("".join(entry + "\n" for entry in sorted(entries)), encoding="ascii")
    print(f"{output}: {len(entries)} entries")


if __name__ == "__main__":
    main()

"""URLs with a scheme, ``www.`` or a common TLD; bare ``name.tld`` code such as ``nltk.sent_tokenize`` is not one."""

from __future__ import annotations

import regex as re

from include.pii.recognizers.base import RegexRecognizer

_TLDS = (
    "com|org|net|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|xyz|online|site|shop|blog|news|us|uk|"
    "ca|au|nz|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|pt|ie|jp|cn|in|br|mx|ru|za|kr"
)


class SchemeUrlRecognizer(RegexRecognizer):
    """URLs with a scheme or ``www.``, and bare domains with a common TLD not used as code
    (``nltk.se`` in ``nltk.sent_tokenize`` or ``random.ne`` in ``random.nextInt()`` are not URLs)."""

    ENTITY = "URL"
    PREFILTER = r"\w\.\w"
    FLAGS = re.I
    RULES = (
        (r"\b(?:https?|ftp)://[^\s<>\"'`)\]]+[^\s<>\"'`)\].,;:!?]", 0.6),
        (r"(?<![\w./@-])www\.[a-z0-9\-]+(?:\.[a-z0-9\-]+)+(?:/[^\s<>\"'`)\]]*[^\s<>\"'`)\].,;:!?])?", 0.6),
        (
            rf"(?<![\w./@:-])[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9\-]+)*\.(?:{_TLDS})"
            r"(?:/[^\s<>\"'`)\]]*[^\s<>\"'`)\].,;:!?])?(?![\w(@-])",
            0.5,
        ),
    )

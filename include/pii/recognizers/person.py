"""Person names found by cues of English usage (introductions, titles, greetings, verbs, speech)."""

from __future__ import annotations

import regex as re
from presidio_analyzer import EntityRecognizer

from include.pii.recognizers.base import RegexRecognizer, result

_TOKEN = r"\p{Lu}\p{Ll}+(?:[\-']\p{Lu}?\p{Ll}+)?"
_NAME = rf"({_TOKEN}(?:\s+\p{{Lu}}\.)?(?:\s+(?:(?:van|de|von|der|da|di|del|le|la|bin|al)\s)?{_TOKEN}){{0,2}})"
_NAME2 = (
    rf"({_TOKEN}(?:\s+\p{{Lu}}\.)?(?:\s+(?:(?:van|de|von|der|da|di|del|le|la|bin|al)\s)?{_TOKEN}){{1,2}})"
)
_STRONG = (
    r"my name is|my name's|name is|names are|name:|call me|i am called|signed|regards,|sincerely,|"
    r"cheers,|best,|best wishes,|kind regards,|warm regards,|all the best,|yours truly,|many thanks,|attn:?|attention:?|contact person:?|patient:?|from:|to:|cc:|according to|mr\.?|mrs\.?|ms\.?|miss|mx\.?|dr\.?|"
    r"prof\.?|dear|hi|hello|hey|good morning|good afternoon|good evening"
)
#: letter closings, the signature on the next line
_CLOSINGS = (
    r"regards,|sincerely,|cheers,|best,|best wishes,|kind regards,|warm regards,|all the best,|yours truly,|"
    r"many thanks,|thanks,|thank you,|yours,|love,"
)
_VERBS = (
    r"call|ask|tell|email|e-mail|text|contact|meet|met|invite|thank|cc|ping|message|remind|hire|introduce|"
    r"married|visit|congratulate"
)
_GREET = (
    r"hi|hello|hey|thanks|thank you|cheers|bye|goodbye|welcome|congrats|congratulations|sorry|"
    r"good morning|good afternoon|good evening|yes|no|ok|okay|sure"
)
_SPEECH = (
    r"said|says|told|asked|wrote|replied|mentioned|explained|emailed|texted|called|shouted|whispered|"
    r"added|noted|reported|approved|signed|agreed|complained|insisted|confirmed"
)
#: authorship: "written by", "a song by (ex-Zombie) X"
_WORKS = (
    r"written|directed|produced|composed|painted|sung|performed|authored|edited|illustrated|narrated|"
    r"translated|photographed|designed|song|songs|novel|novels|book|books|album|albums|film|films|movie|"
    r"poem|poems|painting|play|story|stories|essay|article|paper|track|single|letter|photo|portrait"
)
_NOT_NAMES = frozenset(
    (
        "There", "All", "Everyone", "Everybody", "Team", "Sir", "Madam", "Customer", "Customers", "Friend",
        "Friends", "Guys", "Folks", "Support", "Admin", "User", "Users", "Assistant", "Bot", "AI", "Sirs",
        "Colleagues", "Members", "Students", "Class", "World", "Doctor", "Professor", "Manager", "Hiring",
        "Recruiter", "Reader", "Readers", "Valued", "Sales", "Service", "Dear", "Hello", "Hi", "Hey",
        "Thanks", "Thank", "Please", "The", "This", "That", "These", "Those", "It", "Is", "Are", "Was", "I",
        "We", "You", "He", "She", "They", "My", "Your", "Our", "His", "Her", "Their", "Its", "What", "Who",
        "Why", "How", "When", "Where", "Which", "Yes", "No", "Ok", "Okay", "Sure", "Good", "Great", "Well",
        "Also", "And", "But", "Or", "If", "So", "Then", "Now", "Today", "Tomorrow", "Yesterday", "Here",
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February",
        "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
        "Google", "Microsoft", "Apple", "Amazon", "Python", "Java", "Siri", "Alexa", "Mom", "Dad", "God",
        "Lord", "Christmas", "Easter", "Client", "Mr", "Mrs", "Ms", "Dr",
    )
)  # fmt: skip


class PersonCueRecognizer(RegexRecognizer):
    """Names the small NER model misses, found by cues of English usage: introductions
    ("my name is", "this is" + full name), titles and greetings ("Dr.", "Dear", "Hi"), letter
    closings, verbs taking a person ("call", "ask", "met"), vocatives ("Thanks, Adrian!"),
    speech verbs ("Teresa said"), relative "who", and coordination with a name NER found
    ("Pratt and <PERSON>"), and authorship ("a novel by", "directed by")."""

    ENTITY = "PERSON"
    RULES = (
        (rf"(?i:\b(?:{_STRONG}))[ \t]+{_NAME}", 0.6),
        (rf"(?i:\b(?:{_CLOSINGS}))[ \t]*\n[ \t]*{_NAME}", 0.6),
        (rf"(?i:\b(?:this is|i'm|i am|it's|here is|here's))\s+{_NAME2}", 0.55),
        (rf"(?i:\b(?:i'm|i am|this is))\s+{_NAME}(?=\s*[,!]|\s+(?i:here|speaking|from)\b)", 0.55),
        (rf"(?i:\b(?:{_VERBS}))\s+{_NAME}", 0.5),
        (rf"(?i:\b(?:{_GREET}))\b[^.!?\n]{{0,40}}?,\s+{_NAME}(?=\s*[!.?]|\s*$)", 0.55),
        (rf"{_NAME}\s+(?:{_SPEECH})\b", 0.5),
        (rf"(?i:\b(?:{_WORKS})\s+by)\s+(?:(?i:ex-|former\s+)\p{{L}}+\s+)?{_NAME}", 0.55),
        (rf"{_NAME},?\s+who\b", 0.55),
    )

    def score_match(self, text, match, score):
        return None if match.group(1).split()[0] in _NOT_NAMES else score

    def analyze(self, text, entities, nlp_artifacts=None):
        out = super().analyze(text, entities, nlp_artifacts)
        anchors = [
            (e.start_char, e.end_char)
            for e in getattr(nlp_artifacts, "entities", None) or []
            if e.label_ == "PERSON"
        ] + [(r.start, r.end) for r in out]
        for a_start, a_end in anchors:
            after = re.match(rf"\s+(?:and|&|or)\s+{_NAME}", text[a_end : a_end + 60])
            before = re.search(rf"{_NAME}\s+(?:and|&|or)\s+$", text[max(0, a_start - 60) : a_start])
            for m, base in ((after, a_end), (before, max(0, a_start - 60))):
                if m and m.group(1).split()[0] not in _NOT_NAMES:
                    start, end = base + m.start(1), base + m.end(1)
                    out.append(
                        result(self, "PERSON", start, end, 0.55, "coordinated with a name", boosted=True)
                    )
        return EntityRecognizer.remove_duplicates(out)

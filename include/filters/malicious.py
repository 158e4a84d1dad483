"""Malicious-content rules: prompt injection, XSS / script payloads, SQL injection.

Rules look for attack *shapes*, not topics: an answer that teaches ``UNION`` or
``onclick`` handlers does not match, because the rules need a payload (``' OR 1=1 --``,
``"><script>alert(1)``, ``onerror=alert``, ``'; DROP TABLE``, "ignore all previous
instructions"). A text that discusses attacks (defensive vocabulary such as "prevent",
"sanitize", "parameterized", "prompt injection") has each hit halved, and hits inside
code spans or quotes of such a text are ignored: a tutorial may show the payload it
warns about. A field is flagged when its hits weigh at least 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_I = re.I | re.S

INJECTION = [
    (
        "instruction_override",
        2.0,
        re.compile(
            r"\b(?:ignore|disregard|forget|skip|override|bypass|abandon|drop)\b[^.\n]{0,40}?\b(?:previous|prior|above|"
            r"preceding|earlier|foregoing|all|your|these|those)\b[^.\n]{0,30}?\b(?:instructions?|prompts?|rules|"
            r"directions|guidelines|context|orders|assignments|tasks|commands|directives|information|thoughts|"
            r"programming|restrictions)\b",
            _I,
        ),
    ),
    (
        "forget_everything",
        2.0,
        re.compile(
            r"\b(?:forget|ignore|disregard)\s+(?:about\s+)?(?:everything|all(?:\s+of\s+that)?|what\s+(?:i|you)\s+"
            r"(?:said|told|were\s+told))\b(?:\s+(?:before|above|prior|so\s+far|until\s+now|that\s+came\s+before))?",
            _I,
        ),
    ),
    (
        "override_de_fr_es",
        2.0,
        re.compile(
            r"\b(?:vergiss|ignoriere|missachte)\b[^.\n]{0,40}\b(?:alles|anweisungen|instruktionen|aufgaben|"
            r"vorherigen|obigen|bisherigen)\b|\b(?:oubliez|ignorez|olvida|ignora|zaboravi|забудьте|игнорируй)\b"
            r"[^.\n]{0,30}\b(?:toutes?|instructions|todas?|instrucciones|sve|instrukcije|все|инструкции)\b",
            _I,
        ),
    ),
    (
        "discard_previous",
        2.0,
        re.compile(
            r"\b(?:previous|prior|preceding|earlier)\s+(?:information|instructions|tasks|assignments|prompts)\b"
            r"[^.\n]{0,40}\b(?:irrelevant|behind|void|no\s+longer\s+(?:apply|valid|matter)|obsolete|cancel+ed)|"
            r"\b(?:leave|put)\s+(?:all\s+)?(?:the\s+|your\s+)?(?:previous|prior)\s+\w+\s+behind|"
            r"\bdespite\s+what\s+you(?:'ve|\s+have)\s+been\s+(?:told|instructed)|\babweichend\s+(?:zu|von)\s+"
            r"(?:den\s+)?(?:vorherigen|bisherigen|obigen)|\b(?:alle|sämtliche)\s+(?:vorherigen|bisherigen|obigen)\s+"
            r"(?:informationen|anweisungen|aufgaben|instruktionen)\b",
            _I,
        ),
    ),
    (
        "new_instructions",
        2.0,
        re.compile(
            r"\b(?:now|from now on)\b[^.\n]{0,20}\b(?:follow|focus on|concentrate on|obey)\b[^.\n]{0,20}\bnew\s+"
            r"(?:task|instructions?|rules|assignment)|\bnew\s+instructions\s*:|\bnun\s+folgen\s+(?:neue|weitere)\s+"
            r"(?:anweisungen|aufgaben)|\bneue\s+aufgabe\b|\b(?:we\s+)?start\s+with\s+a\s+new\s+task\b|"
            r"\b(?:stopp?)\s*[-:!]+\s*(?:write|schreib)",
            _I,
        ),
    ),
    (
        "jailbreak_persona",
        2.0,
        re.compile(
            r"(?:\b(?:act\s+as|you\s+are|you're|called|named|pretend\s+to\s+be)\s+(?-i:DAN)\b|(?-i:\bDAN\b)\s+mode)|"
            r"\b(?:do\s+anything\s+now|developer\s+mode\s+(?:enabled|output)|jailbr(?:ea|o)k(?:en)?\s+"
            r"mode|(?:you\s+are|you're)\s+no\s+longer\s+(?:an?\s+ai|chatgpt|bound|restricted)|without\s+any\s+"
            r"(?:restrictions|filters|censorship|moral|ethical)|unfiltered\s+and\s+amoral|stay\s+in\s+character\s+"
            r"(?:no\s+matter|at\s+all\s+times)|(?:pretend|act)\s+(?:to\s+be|you\s+are|as)\b[^.\n]{0,60}\b(?:no|without)"
            r"\s+(?:restrictions|limits|filters|rules|guidelines|ethics))\b",
            _I,
        ),
    ),
    (
        "system_prompt_extraction",
        2.0,
        re.compile(
            r"\b(?:reveal|show|print|repeat|output|display|leak|tell\s+me|give\s+me|what\s+(?:is|are|was|were))\b"
            r"[^.\n]{0,15}\b(?:your|the)\s+(?:(?:system|initial|original|hidden|secret|full|first)\s+)?(?:prompt|"
            r"instructions|system\s+message)s?\b|\bwhat\s+(?:is|was)\s+written\s+(?:at\s+the\s+beginning|above)|"
            r"\brepeat\s+(?:the|all)\s+(?:text|words|lines)\s+above|\bzeige?\s+mir\s+(?:alle\s+)?deine\s+"
            r"(?:prompt|anweisungen)",
            _I,
        ),
    ),
]

XSS = [
    (
        "script_payload",
        2.0,
        re.compile(
            r"<\s*script\b[^>]*>[^<]{0,200}?\b(?:alert|prompt|confirm|eval|atob|document\.cookie|document\.write|"
            r"window\.location|String\.fromCharCode)\b",
            _I,
        ),
    ),
    (
        "event_handler_payload",
        2.0,
        re.compile(
            r"<\s*\w+[^>]*?[\s/]on(?:error|load|mouseover|focus|toggle|start|animationstart|begin|pageshow)\s*=\s*"
            r"[\"']?[^\"'>]{0,80}?\b(?:alert|prompt|confirm|eval|atob|document\.cookie|fetch|location|"
            r"String\.fromCharCode)\b",
            _I,
        ),
    ),
    (
        "javascript_url",
        2.0,
        re.compile(
            r"(?:href|src|action|formaction|data)\s*=\s*[\"']?\s*javascript\s*:\s*(?:alert|eval|prompt|confirm|document|"
            r"window|fetch|atob|void)|javascript\s*:\s*(?:alert|eval|prompt)\s*\(",
            _I,
        ),
    ),
    ("attribute_breakout", 2.0, re.compile(r"[\"']\s*/?>\s*<\s*(?:script|img|svg|iframe|body)\b", _I)),
    (
        "bogus_src_handler",
        2.0,
        re.compile(
            r"<\s*(?:img|image|svg|video|audio|iframe|input|details|body)\b[^>]*\bsrc\s*=\s*[\"']?(?:x|#|1|/|y)"
            r"[\"'\s][^>]*\bon\w+\s*=",
            _I,
        ),
    ),
    (
        "encoded_script",
        1.5,
        re.compile(
            r"%3C\s*script|&lt;\s*script[^&]{0,40}&gt;[^&]{0,80}(?:alert|cookie)|&#x?0*3c;?\s*script|\\x3cscript|"
            r"\\u003cscript",
            _I,
        ),
    ),
    (
        "cookie_exfiltration",
        2.0,
        re.compile(
            r"document\.cookie[^;\n]{0,100}(?:new\s+Image|fetch\s*\(|\.src\s*=|location(?:\.href)?\s*=|"
            r"XMLHttpRequest)|(?:new\s+Image\(\)\.src|fetch\s*\(|location(?:\.href)?\s*=)[^;\n]{0,100}document\.cookie",
            _I,
        ),
    ),
]

SQLI = [
    (
        "tautology",
        2.0,
        re.compile(
            r"['\"]\s*\)?\s*(?:or|and|\|\|)\s+\(?['\"]?(\w+)['\"]?\s*=\s*['\"]?\1\b|['\"]\s*\)?\s*or\s+"
            r"(?:true|1)\s*(?:--|#|/\*|;|$)",
            _I,
        ),
    ),
    ("quote_comment", 1.5, re.compile(r"\w['\"]\)?\s*(?:--|#|/\*)(?=\s|$|-)", _I | re.M)),
    (
        "union_select",
        2.0,
        re.compile(
            r"['\"]\s*\)?\s*union(?:\s+all)?\s+select\b|\bunion(?:\s+all)?\s+select\s+(?:null|\d+)\s*(?:,\s*(?:null|\d+)"
            r"\s*){1,}(?:--|#|from\s+\w*$|$)|\bunion(?:\s+all)?\s+select\b[^;\n]{0,120}(?:information_schema|@@version|"
            r"version\(\)|user\(\)|database\(\)|pg_shadow|sysobjects|load_file\()",
            _I,
        ),
    ),
    (
        "stacked_query",
        2.0,
        re.compile(r"['\"]\s*\)*\s*;\s*(?:drop|delete|truncate|alter|exec(?:ute)?|shutdown)\s+\w", _I),
    ),
    (
        "time_based",
        2.0,
        re.compile(
            r"\bwaitfor\s+delay\s+['\"]\d|['\"]\s*\)?\s*(?:and|or|;)\s*(?:sleep|pg_sleep|benchmark)\s*\(\s*\d",
            _I,
        ),
    ),
    ("command_exec", 2.0, re.compile(r"\bxp_cmdshell\b|;\s*exec\s+master\.", _I)),
]

RULES = {"prompt_injection": INJECTION, "xss": XSS, "sql_injection": SQLI}

DEFENSIVE = re.compile(
    r"\b(?:prevent\w*|protect\w*|sanitiz\w*|sanitis\w*|escap\w*|parameteri[sz]\w*|prepared\s+statements?|"
    r"placeholders?|vulnerab\w*|owasp|mitigat\w*|defen[cs]\w*|avoid\w*|never|secur\w*|validat\w*|"
    r"allow-?list\w*|white-?list\w*|content\s+security\s+policy|csp|attackers?|malicious|exploit\w*|"
    r"prompt\s+injections?|jailbreak\w*|injection\s+attacks?|sql\s+injection|xss|cross-site\s+scripting|"
    r"detect\w*|example\s+of|for\s+example|such\s+as)\b",
    re.I,
)
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]+`|\"[^\"\n]{1,300}\"|'[^'\n]{3,300}'|«[^»\n]+»|“[^”\n]+”", re.S)


@dataclass(frozen=True)
class Hit:
    category: str
    rule: str
    where: str
    snippet: str
    weight: float


class MaliciousRules:
    """Compiled rules for the configured categories (plus extra patterns, weight 2)."""

    def __init__(self, categories, extra: dict[str, list[str]] | None = None):
        self.rules = {c: list(RULES[c]) for c in categories}
        for cat, patterns in (extra or {}).items():
            if cat in self.rules:
                self.rules[cat] += [(f"custom_{i}", 2.0, re.compile(p, _I)) for i, p in enumerate(patterns)]

    def scan(self, text: str, where: str = "text") -> list[Hit]:
        """Hits of one field that weigh at least 2 in total per category (after mitigation)."""
        if not text:
            return []
        defensive = DEFENSIVE.search(text) is not None
        quoted = [m.span() for m in _CODE.finditer(text)] if defensive else []
        out = []
        for cat, rules in self.rules.items():
            hits, total = [], 0.0
            for name, weight, rx in rules:
                for m in rx.finditer(text):
                    if any(a <= m.start() and m.end() <= b for a, b in quoted):
                        continue  # shown in code / quotes by a text about attacks
                    w = weight / 2 if defensive else weight
                    hits.append(Hit(cat, name, where, text[m.start() : m.end()][:80], w))
                    total += w
                    break
            if total >= 2.0:
                out += hits
        return out

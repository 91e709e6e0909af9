"""Mentioned, not meant: the context that turns a rule hit into a report of an attack.

A security article quotes "ignore previous instructions", an incident write-up says the
mail *told the assistant to* forward the mailbox, a runbook disables MFA *after the
incident commander approves it in the ticket*. The words are an attack's; the text is
not one. Three readings lower a hit's weight (docs/content-filter.md, "Prompt injection:
method"; decision 0032):

- **quoted**: the hit lies inside a quotation set in a sentence (``says 'X'``,
  ``like "X"``, ``(a) 'X'``; not a JSON string value) and the same words do not occur
  outside quotes. Weight x 0.3 when the text frames it as talk about attacks or speech
  (*attack*, *phrase*, *typed*, *says*, *like*, *wie*, *comme* ...), else x 0.6.
- **reported**: third-person reported speech right before the hit: "the mail told the
  assistant to …", "a hidden line saying …", "was tricked into …", "for instance to …"
  in a text about attacks. Text addressed to the model says *you*; a report says *the
  assistant*. Weight x 0.3.
- **through a process**: a privilege-escalation hit in a text that names the approval
  process it went through (a change or request ticket, "approved … in ServiceNow",
  "only after the incident commander approves", "through the usual form"). Weight x 0.5.
  A bare claim ("pre-approved by the CFO") is not a process.
"""

from __future__ import annotations

import re
from functools import cached_property

from edge.gateway.content_filter.normalize import Views, to_words

QUOTED_FRAMED = 0.3
QUOTED = 0.6
REPORTED = 0.3
PROCESS = 0.5
MAX_QUOTE_CANDIDATES = 400  # bounds the work on texts made of quote marks

# Talk about attacks, or about what someone said or wrote (words view).
_FRAME = re.compile(
    r" (?:prompt injection|injections?|jailbreaks?|attacks?|attackers?|attacked|"
    r"red team|payloads?|phrases?|phrasing|wording|lines?|strings?|sentences?|"
    r"for example|for instance|e g|such as|like|examples?|samples?|quiz|question|"
    r"classifier|detector|filters?|regexp?|regular expression|patterns?|blocklist|"
    r"denylist|guardrails?|test case|unit test|training|awareness|phishing|catch(?:es)?|"
    r"detects?|detected|flags?|flagged|blocks?|blocked|threat|threats|scam|scams|"
    r"tricks?|tricked|says|said|saying|say|typed|types|wrote|writes|written|entered|"
    r"pasted|told|tells|asked|asks|reads|reading|headline|incident|quotes?|quoted|quoting|"
    r"cites?|cited|mentions?|mentioned|calls?|called|named|probes?|classic|typical|"
    r"angriffe?|angreifer|beispiele?|formulierungen|satze|wie|attaques?|attaquants?|"
    r"exemples?|formules?|comme|ataques?|atacantes?|ejemplos?|frases?|como|piden|dice|"
    r"aanval(?:len)?|aanvallers?|voorbeelden?|zinnen|zoals|schrijft|attacchi|esempio|"
    r"come|exemplo) "
)

# Reported speech about the model, ending right where the hit starts (words view).
_AI = (
    r"(?:assistants?|models?|bots?|chatbots?|agents?|ai|ais|llms?|copilots?|gpt|chatgpt|"
    r"claude|it|them|helpdesk|system)"
)
_REPORTED = re.compile(
    r"(?: (?:they|attackers|hackers|scammers|emails|mails|messages|pages|documents|users|"
    r"people|campaigns|payloads|who|that|which|often|may|might|can|could|would|will|"
    r"sometimes|usually|typically|to) (?:ask|tell|instruct|order|convince|trick|"
    r"persuade|get|make|urge|push|lure|coax|prompt|request) (?:\w+ ){0,3}" + _AI + r" (?:to|into)"
    r"| (?:told|tells|telling|asked|asks|asking|instructed|instructs|instructing|"
    r"ordered|orders|convinced|convinces|convincing|tricked|tricks|tricking|persuaded|"
    r"persuades|got|gets|getting|get|talked|talks|manipulated|manipulates|lured|lures|"
    r"coaxed|urged|urges|directed|prompted|prompts|commanded|requested|requests|"
    r"pushed|pushes|made|makes) (?:\w+ ){0,3}" + _AI + r" (?:to|into)"
    r"| (?:was|were|is|are|been|being|get|gets|got) (?:\w+ ){0,1}(?:told|asked|"
    r"instructed|ordered|convinced|tricked|persuaded|talked|manipulated|lured|coaxed|"
    r"prompted|pushed|made) (?:to|into)"
    r"| (?:line|lines|message|messages|sentence|text|comment|note|string|instruction|"
    r"instructions|payload|prompt|email|emails|mail|mails|page|pages|post|posts|ticket|"
    r"tickets|comments) (?:saying|that says|that said|which says|which said|reading|"
    r"that reads|that read|telling|that tells|that told|asking|that asks|that asked)"
    r"(?: (?:\w+ ){0,2}" + _AI + r"(?: to)?)?"
    r"| (?:says|said|claims|claimed|states|stated|wrote|writes|suggests|suggested|reads)"
    r"(?: that)? (?:the|a|an|its|their|any|every)"
    r"| " + _AI + r" (?:\w+ ){0,1}(?:agreed|agrees|refused|refuses|declined|declines|started|"
    r"starts|began|tried|tries|attempted|attempts|managed|manages|was willing|is willing)"
    r"(?: not)? to) (?:\w+ ){0,1}$"
)
_EXAMPLE = re.compile(r" (?:for instance|for example|e g|such as|like)(?: to)? $")
_META = re.compile(
    r" (?:prompt injections?|injection attacks?|jailbreaks?|attackers?|red team|"
    r"payloads?|threat model|attack) "
)

# An approval process the request went through (words view).
_PROCESS = re.compile(
    r" (?:req|ritm|chg|inc|acc|crq|sr|tkt|ticket|change|jira|itsm)(?: |)\d{3,} "
    r"| ticket (?:no |number |)\d{3,} "
    r"| approv\w* (?:\w+ ){0,4}(?:in|via|through|on|by) (?:the |an |a |our |)"
    r"(?:ticket|servicenow|service now|jira|portal|it portal|access review|change|form|"
    r"cab|change advisory board) "
    r"| (?:after|once|when|until) (?:\w+ ){0,4}(?:approves|approved|has approved|"
    r"have approved|signs off|signed off|sign off) "
    r"| through (?:the |our |)(?:normal|usual|standard|regular|proper|official|approved)"
    r" (?:\w+ |)(?:process|channel|form|workflow|procedure|portal) "
    r"| (?:access review|change advisory board|cab|change request|change ticket|"
    r"servicenow|service now|jira service management|it portal|service desk|helpdesk) "
    r"| (?:signed|signs) off in "
    r"| per the approved "
    r"| (?:apres (?:validation|approbation|accord)|nach (?:freigabe|genehmigung)|"
    r"(?:tras|despues de) (?:la |)aprobacion|na goedkeuring|dopo (?:l |)approvazione|"
    r"apos (?:a |)aprovacao) "
)

_ADDRESSES = re.compile(
    r"(?:\w+://|www\.)\S+|\S+@\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|dev|app|ai|"
    r"example|xyz|co|de|fr|nl|es|it|uk|eu|info|biz|local|internal)\b"
)

# Quotations: paired quote marks within a line. Escaped ``\"`` pairs (quotes inside a
# JSON string) are read first, then the plain ones.
_ESCAPED_QUOTED = re.compile(r'\\"([^"\\\n]{4,200})\\"')
_QUOTED = re.compile(
    '["\u201c\u201e\u00ab\u2018`][^"\u201d\u201c\u00bb\u2019`\n]{4,200}["\u201d\u201c\u00bb\u2019`]'
    "|(?<!\\w)'[^'\n]{4,200}'(?!\\w)"
)
# A quotation set in a sentence: a word (or ``)``) before its opening mark, maybe with a
# colon or comma between; a JSON value follows its key's closing quote instead.
_IN_SENTENCE = re.compile(r"[\w)][:,]? ?$")


def _sentence_quotes(markup: str, spans: list[tuple[int, int]]) -> None:
    """The quotations set in a sentence. A pair of marks that is not one (a JSON string
    value, a line in quotes) may hold one, or its closing mark may open one: the search
    goes on from just after its opening mark."""
    pos = 0
    for _ in range(MAX_QUOTE_CANDIDATES):
        m = _QUOTED.search(markup, pos)
        if m is None:
            return
        if _IN_SENTENCE.search(markup[max(0, m.start() - 4) : m.start()]):
            spans.append((m.start(), m.end()))
            pos = m.end()
        else:
            pos = m.start() + 1


class Context:
    """What a text's context says about the rule hits in it (computed lazily: most
    texts have no hit)."""

    def __init__(self, views: Views) -> None:
        self.views = views

    @cached_property
    def _quotes(self) -> list[tuple[int, int]]:
        markup = self.views.markup
        spans: list[tuple[int, int]] = []
        if '\\"' in markup:
            for m in _ESCAPED_QUOTED.finditer(markup):
                if _IN_SENTENCE.search(markup[max(0, m.start() - 4) : m.start()]):
                    spans.append((m.start(), m.end()))
            markup = _ESCAPED_QUOTED.sub(lambda m: " " * len(m.group()), markup)
        _sentence_quotes(markup, spans)
        return spans

    @cached_property
    def _outside(self) -> str:
        """The words view with the quotations blanked out."""
        markup = list(self.views.markup)
        for a, b in self._quotes:
            markup[a:b] = " | " + " " * (b - a - 3)
        return to_words("".join(markup))

    def _quoted(self, view: str, start: int, end: int, snippet: str) -> bool:
        """A markup hit lies inside a quotation; a words hit needs quoted words (it does
        not match outside the quotations)."""
        if view != "words":
            return any(a <= start and end <= b for a, b in self._quotes)
        return snippet not in self._outside

    @cached_property
    def _prose(self) -> str:
        """The words view without URLs, e-mail addresses and host names (``example`` in
        ``drop.example.org`` is not talk about an example)."""
        return to_words(_ADDRESSES.sub(" ", self.views.markup))

    @cached_property
    def _framed(self) -> bool:
        return _FRAME.search(self._prose) is not None

    @cached_property
    def _meta(self) -> bool:
        return _META.search(self._prose) is not None

    @cached_property
    def _process(self) -> bool:
        return _PROCESS.search(self._prose) is not None

    def factor(self, *, family: str, view: str, start: int, end: int, snippet: str) -> float:
        """The weight factor for a hit of ``family`` at ``start:end`` of ``view``."""
        factor = 1.0
        if self._quotes and self._quoted(view, start, end, snippet):
            if self._framed:
                factor = QUOTED_FRAMED
            elif any(self.views.markup[a] != "`" for a, _ in self._quotes):
                factor = QUOTED  # code in backticks is not speech unless framed
        if factor > REPORTED:
            if view == "words":
                words = self.views.words
                before = words[max(0, start - 120) : start + (words[start : start + 1] == " ")]
            else:
                before = to_words(self.views.markup[max(0, start - 160) : start])
            if _REPORTED.search(before) or (self._meta and _EXAMPLE.search(before)):
                factor = REPORTED
        if family == "privilege_escalation" and self._process:
            factor *= PROCESS
        return factor

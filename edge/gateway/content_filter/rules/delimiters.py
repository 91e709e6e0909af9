"""Fake turns, chat-template tokens and hidden text."""

from __future__ import annotations

from edge.gateway.content_filter.rules.base import Rule, markup_pattern

RULES: tuple[Rule, ...] = (
    Rule(
        "delimiter_injection",
        "chat-template special token",
        0.45,
        markup_pattern(
            r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|"
            r"end_header_id|begin_of_text)\|>|<<\s*/?sys\s*>>"
        ),
        view="markup",
        needs=("<|", "<<"),
    ),
    Rule(
        "delimiter_injection",
        "system/instruction tag",
        0.35,
        markup_pattern(
            r"</? ?(?:system|sys|system_prompt|instructions?|admin|developer) ?>"
            r"|\[/?(?:inst|system|sys)\]"
        ),
        view="markup",
        needs=("<", "["),
    ),
    Rule(
        "delimiter_injection",
        "closes the user turn and opens a privileged one",
        0.7,
        markup_pattern(
            r"</ ?(?:user|human|input|context|document|data|query|customer)"
            r" ?>\s*<\|?(?:system|sys|assistant|admin|developer|instructions?)\|? ?>"
            r"|<\|im_end\|>\s*<\|im_start\|> ?(?:system|assistant)"
            r"|\[/inst\]\s*\[inst\]|<\|im_start\|> ?system"
        ),
        view="markup",
        needs=("</", "<|", "[/"),
    ),
    Rule(
        "delimiter_injection",
        "fake system/instruction header",
        0.55,
        markup_pattern(
            r"(?:^|\n|[.!?] |- |\") *(?:#{2,}|={3,}|-{3,}|\*{2,}|\[) *(?:system|sys|new system|"
            r"instructions?|new instructions?|system prompt|admin|developer|assistant)"
            r" *(?:message|prompt|override|update|)\s*(?::|#{2,}|={3,}|-{3,}|\*{2,}|\])"
            r"|(?:begin|start|end|beginning)(?: of)? (?:the )?(?:new )?(?:system|developer|"
            r"admin) (?:prompt|message|instructions?|override)"
            r"|end of (?:the )?(?:user|untrusted|customer) (?:input|message|prompt|data)"
        ),
        view="markup",
        needs=("sys", "instruction", "admin", "developer", "assistant", "end of"),
    ),
    Rule(
        "delimiter_injection",
        "fake role turn inside the content",
        0.5,
        markup_pattern(
            r"(?:^|\n|[.!?] |>) *(?:system|assistant|admin|developer|sys) *: *"
            r"(?:you (?:are|must|will|should)|ignore|disregard|new instructions|from now on|"
            r"override|forget|the user (?:is|has) (?:authorized|verified|an admin)|forward|"
            r"send|delete|e-?mail|reply|tell|say|approve|transfer|wire|grant|reveal|print|"
            r"output|include|append|do not|don't|never|always)\b"
        ),
        view="markup",
        needs=("sys", "assistant", "admin", "developer"),
    ),
    Rule(
        "delimiter_injection",
        "text hidden from the human reader",
        0.25,
        markup_pattern(
            r"display ?: ?none|visibility ?: ?hidden|font-size ?: ?0(?:px|pt|em)?\b|"
            r"opacity ?: ?0(?:\.0)?\b|color ?: ?(?:white|#fff(?:fff)?)\b"
        ),
        view="markup",
        needs=("display", "visibility", "font-size", "opacity", "color"),
    ),
    Rule(
        "delimiter_injection",
        "instruction hidden in an html comment",
        0.35,
        markup_pattern(r"<!--(?:(?!-->).){0,400}?\b(?:ai|llm|assistant|agent|model|gpt|bot)s?\b"),
        view="markup",
        needs=("<!--",),
    ),
    Rule(
        "delimiter_injection",
        "system role object inside the content",
        0.2,
        markup_pattern(r"[\"']role[\"'] ?: ?[\"']system[\"']"),
        view="markup",
        needs=("role",),
    ),
    Rule(
        "delimiter_injection",
        "fake assistant turn agreeing to comply",
        0.5,
        markup_pattern(
            r"(?:^|\n) *(?:assistant|ai|model|gpt|claude|chatbot) *: *(?:sure|ok|okay|certainly|"
            r"of course|absolutely|understood|yes|i will|i'll|i can|here is|here are)\b"
        ),
        view="markup",
        needs=("assistant", "ai", "model", "gpt", "claude", "chatbot"),
        untrusted_weight=0.6,
    ),
    Rule(
        "delimiter_injection",
        "fake dialogue inside the content",
        0.3,
        markup_pattern(
            r"(?:^|\n) *(?:user|human) *: *[^\n]{1,300}\n+ *(?:assistant|ai|model|gpt) *:"
        ),
        view="markup",
        needs=("user", "human"),
        untrusted_weight=0.45,
    ),
    Rule(
        "delimiter_injection",
        "announces the end of the data and a new part",
        0.45,
        markup_pattern(
            r"\[(?:end|stop) (?:of )?(?:conversation|document|context|input|user input|data|"
            r"email|page|tool output|results?)\]"
            r"|(?:end|stop) of (?:the )?(?:document|context|input|email|page|tool output|"
            r"search results?|data)\W{0,4}(?:new|now|system|begin|start|the assistant|assistant)"
        ),
        view="markup",
        needs=("end", "stop"),
        untrusted_weight=0.55,
    ),
)

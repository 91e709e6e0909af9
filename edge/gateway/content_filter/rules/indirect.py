"""Instructions aimed at the model inside data, and encoded payloads."""

from __future__ import annotations

import re

from edge.gateway.content_filter.rules.base import Rule, words_pattern

RULES: tuple[Rule, ...] = (
    Rule(
        "indirect_injection",
        "text addresses the AI reading it and gives it orders",
        0.8,
        words_pattern(
            r" (?:(?:note|notes|message|instructions?|p s|ps|hinweis|nachricht|remarque|nota|"
            r"aviso|mensaje|bericht|opmerking) (?:to|for|an|fur|a|pour|para|voor|aan)|"
            r"attention|achtung|let op) (?:the |any |all |den |"
            r"die |das |l |la |le |el |los |de |het |)(?:[a-z]+ing |)(?:ai|a i|ki|ia|"
            r"assistant|assistants|"
            r"assistent|assistenten|asistente|llm|llms|language models?|chatbots?|bots?|"
            r"agents?|gpt|chatgpt|claude|copilot|gemini|models?|ki assistenten|"
            r"ai assistent|ai assistant|ai models?|ai agents?)(?: [a-z]+ing this| [a-z]+ing)? "
            r"|(?:ai|llm|llms|assistant|agent|model|gpt|bot|chatbot|ki) (?:instructions?|"
            r"notes?|directives?|message|anweisungen|hinweis|consignes|instrucciones|"
            r"instructies) "
            r"|if you are an? (?:ai|llm|language model|assistant|chatbot|agent|bot|gpt|"
            r"large language model|automated system)"
            r"|(?:ai|llm|gpt|ki) ?(?:assistants?|agents?|models?|systems?|bots?|readers?|"
            r"assistenten) (?:reading|processing|summarizing|summarising|parsing|viewing|"
            r"seeing|screening|reviewing|crawling|indexing|handling|triaging|answering|"
            r"working on|assigned to) (?:this|these|the)"
            r"|(?:assistant|ai|llm|agent|bot|model),? (?:when|if|once|before|after|as soon as)"
            r" you (?:read|process|see|parse|summarize|summarise|encounter|receive) this"
            r"|(?:when|if|once|as soon as) you (?:read|process|see|parse|summarize|summarise|"
            r"review|encounter|receive) this (?:\w+ ){0,2}(?:assistant|ai|llm|agent|bot|model)"
        ),
        qualifier=re.compile(
            r" (?:ignore|disregard|forget|you must|you should|you will|you are to|must|"
            r"say|tell|state|reply|respond|answer|recommend|rate|rank|approve|forward|send|"
            r"email|mail|delete|remove|cancel|include|append|insert|add|use the|use your|"
            r"share|export|upload|post|copy|"
            r"call|run|execute|click|visit|open|output|print|reveal|do not|don t|never|"
            r"always|instead|your new|collect|transfer|pay|wire|grant|set|mark|"
            r"ignoriere|vergiss|missachte|sende|schicke|sag|antworte|ignore[zr]?|oublie|"
            r"envoie|dis|reponds|ignora|olvida|envia|di|responde|negeer|vergeet|stuur|"
            r"zeg|antwoord)\b"
        ),
        weak=0.45,
        window=160,
    ),
    Rule(
        "indirect_injection",
        "asks to hide actions from the user",
        0.45,
        words_pattern(
            r" (?:do not|don t|dont|never|without) (?:tell|telling|inform|informing|mention|"
            r"mentioning|reveal|revealing|alert|alerting|notify|notifying|show|showing|"
            r"let|letting) (?:this to |)(?:the|your) (?:user|human)"
            r"| (?:do not|don t|dont|never|without) (?:mention|mentioning|disclose|disclosing)"
            r" (?:it|this|that|any of this|this step|these steps) (?:to|in|anywhere)"
            r"| (?:the|your) (?:user|human) (?:does not|doesn t|need not|needn t|should not|"
            r"shouldn t|must not|mustn t) (?:need to |)(?:know|be told|be informed|find out)"
            r"|(?:keep|keeping) (?:this|it|these instructions) (?:secret|hidden|confidential) "
            r"from (?:the|your) (?:user|human)"
            r"|(?:sag|sage|erzahl|erzahle) (?:es |das |)(?:dem|den) (?:nutzer|benutzer) "
            r"nicht|ne (?:le |)dis (?:rien |pas )(?:a |)l utilisateur"
            r"|no (?:le |se lo |)(?:digas|menciones|informes) (?:nada |)(?:al|a el) usuario"
            r"|vertel (?:het |)(?:de|aan de) gebruiker niet"
        ),
    ),
    # --- encoded payloads ---
    Rule(
        "encoded_payload",
        "asks to decode a payload and follow it",
        0.6,
        words_pattern(
            r" (?:decode|decrypt|deobfuscate|base64 decode|rot13|unscramble|reverse) ~8"
            r"(?:and|then) ~3(?:follow|execute|run|obey|do|perform|act on|carry out|apply|"
            r"comply)"
        ),
    ),
)

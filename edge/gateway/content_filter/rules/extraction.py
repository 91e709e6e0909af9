"""System-prompt and secret extraction."""

from __future__ import annotations

import re

from edge.gateway.content_filter.rules.base import Rule, words_pattern

RULES: tuple[Rule, ...] = (
    Rule(
        "prompt_exfiltration",
        "asks to reveal the system prompt",
        0.85,
        words_pattern(
            r" (?:reveal|print|show|display|output|repeat|tell|give|leak|dump|expose|share|"
            r"disclose|list|spell out|recite|paste|copy|write out|write down|echo|return|"
            r"provide|send|what (?:is|are|were|was)|summarize|translate|quote|enumerate) "
            r"~4(?:your|ur|thy) ~2(?:system prompt|system message|system instructions?|"
            r"initial (?:prompt|instructions)|original (?:prompt|instructions)|"
            r"hidden (?:prompt|instructions|rules)|secret (?:prompt|instructions|rules)|"
            r"internal (?:prompt|instructions|rules|guidelines)|pre ?prompt|"
            r"developer (?:prompt|message|instructions)|(?:full|complete|exact) "
            r"(?:prompt|instructions)|confidential instructions|prompt|instructions|"
            r"guidelines|rules|directives|configuration|base prompt|meta prompt|setup text|"
            r"setup|preamble|priming|starting text|initial text|context)"
            r"(?: (?:verbatim|word for word|exactly|in full|above|in a code block))?"
        ),
        qualifier=re.compile(
            r"system|initial|original|hidden|secret|internal|pre ?prompt|developer|"
            r"verbatim|word for word|full|complete|exact|confidential|base prompt|"
            r"meta prompt|(?:your|ur) prompt|code block|first line|starting (?:from|with)|"
            r"from the (?:start|beginning|top)|everything|all of|in full|as written|entire|"
            r"whole|setup|preamble|priming|initial text|starting text"
        ),
        weak=0.3,
        window=25,
    ),
    Rule(
        "prompt_exfiltration",
        "asks to reveal hidden instructions",
        0.7,
        words_pattern(
            r" (?:reveal|print|show|display|output|repeat|leak|dump|expose|disclose|recite|"
            r"echo|list|return|write out|spell out) ~3(?:the|any|every|all|each|all the|"
            r"all of the|all your|all of your) (?:hidden|secret|internal|confidential) "
            r"(?:system |)(?:prompts?|instructions?|rules?|messages?|directives?|guidelines?)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "asks what the model was told by its operator",
        0.7,
        words_pattern(
            r" what (?:did|has|have|does) (?:the |your |)(?:developer|developers|system|admin|"
            r"administrator|operator|creator|creators|company|openai|anthropic|owner|"
            r"programmer|programmers) ~1(?:tell|told|instruct|instructed|say to|said to|"
            r"give|gave) you"
            r"|what (?:were|was) you (?:told|instructed|programmed) (?:to|before|by|at|"
            r"initially|originally)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "asks what the system prompt says",
        0.55,
        words_pattern(
            r" (?:what|wat|was|que|quel|quelle|qu|welche|welches|cual|cuales) ~5(?:your|je|"
            r"jouw|dein|deinem|deinen|deiner|ton|votre|tu) (?:system prompt|systeemprompt|"
            r"systemprompt|prompt systeme|prompt del sistema|system message|"
            r"systeeminstructies|systemanweisungen|hidden instructions|secret instructions|"
            r"initial instructions|original instructions|initial prompt)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "fordert die internen Regeln an (de, verb-final)",
        0.8,
        words_pattern(
            r" (?:deine|ihre|dein|ihr|deinen|ihren) ~2(?:system ?prompt|systemprompt|"
            r"anweisungen|regeln|instruktionen|vorgaben|richtlinien|prompt) ~4(?:offenlegen|"
            r"preisgeben|ausgeben|verraten|zeigen|nennen|wiederholen|offenbaren|ausdrucken|"
            r"aufschreiben|abschreiben|auflisten)"
        ),
        qualifier=re.compile(
            r"system|intern|geheim|versteck|ursprung|anfang|vollstandig|wortlich|komplett"
        ),
        weak=0.3,
        window=10,
    ),
    Rule(
        "prompt_exfiltration",
        "password or secret held in the model's context",
        0.6,
        words_pattern(
            r" (?:password|passwords|secret|secrets|api key|api keys|token|tokens|credentials)"
            r" ~2(?:stored|saved|kept|held|hidden|written|contained|that is|that are|you have)"
            r" ~2(?:in|inside) (?:your|the) (?:memory|context|system prompt|prompt|"
            r"instructions|configuration|config|context window)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "asks to repeat the text above (de/fr/es/nl)",
        0.65,
        words_pattern(
            r" (?:wiederhole|wiederholen|zeige|zeig|drucke|schreibe|schreib|gib|kopiere)"
            r" ~3(?:den text|alles|den inhalt|die nachricht|die nachrichten|die anweisungen)"
            r" ~3(?:oben|davor|vor dieser|vorher|daruber|uber dieser)"
            r"|(?:affiche|repete|repetez|recopie|recopiez|imprime|ecris|ecrivez|donne|montre)"
            r" ~3(?:le texte|tout le texte|tout ce|le contenu|les messages|les instructions)"
            r" ~3(?:qui precede|precedent|ci dessus|au dessus|avant ce|avant cette)"
            r"|(?:repite|repita|muestra|muestrame|imprime|escribe|copia|dame) ~3(?:el texto|"
            r"todo el texto|todo lo|el contenido|los mensajes|las instrucciones) ~3"
            r"(?:anterior|anteriores|de arriba|que precede|antes de este|previo)"
            r"|(?:herhaal|toon|print|schrijf|kopieer|geef) ~3(?:de tekst|alle tekst|alles|"
            r"de inhoud|de berichten|de instructies) ~3(?:hierboven|erboven|voorafgaand|"
            r"hiervoor|voor dit bericht|daarboven)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "asks to print the system prompt",
        0.3,
        words_pattern(
            r" (?:reveal|print|show|display|output|repeat|leak|dump|expose|disclose|recite) "
            r"~3(?:the|this) (?:system|initial|original|developer) (?:prompt|instructions|"
            r"message)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "asks to repeat the text above",
        0.75,
        words_pattern(
            r" (?:repeat|print|output|copy|echo|recite|reproduce|write out|rewrite) "
            r"~3(?:words|text|everything|content|instructions|lines|sentences|all) "
            r"~2(?:above|before this|before the|at the (?:top|start|beginning)|"
            r"from the (?:top|start|beginning)|that came before|preceding)"
            r"|(?:everything|all|anything|the text|whatever) (?:that |which |)(?:was|is|were|"
            r"has been|you were) ~1(?:written|said|given|sent|typed|provided|shown) (?:before|"
            r"above|prior to) (?:my|this|the) (?:first |)(?:message|conversation|chat|prompt)"
            r"|(?:starting|beginning|start|begin) with (?:the words |)you are (?:a |an |)"
            r"(?:helpful|chatgpt|an ai|a large language|assistant)"
            r"|what (?:were|was) you (?:told|instructed|given) (?:before|at the start|"
            r"initially|in your)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "fordert den Systemprompt an (de)",
        0.85,
        words_pattern(
            r" (?:zeig|zeige|zeigen sie|gib|gebe|geben sie|nenne|nennen sie|verrate|"
            r"verraten sie|wiederhole|wiederholen sie|drucke|schreib|schreibe|liste|"
            r"offenbare|gib mir|was (?:ist|sind|waren)) ~3(?:deinen|deine|dein|ihren|ihre|"
            r"ihr) ~2(?:system ?prompt|systemnachricht|systemanweisungen|system anweisungen|"
            r"anfangsanweisungen|ursprunglichen anweisungen|geheimen anweisungen|"
            r"versteckten anweisungen|internen anweisungen|anweisungen|instruktionen|"
            r"vorgaben|prompt|regeln)"
        ),
        qualifier=re.compile(
            r"system|ursprung|geheim|versteck|intern|anfang|wortlich|vollstandig|prompt|"
            r"anweisungen|instruktionen"
        ),
        weak=0.3,
        window=25,
    ),
    Rule(
        "prompt_exfiltration",
        "demande le prompt système (fr)",
        0.85,
        words_pattern(
            r" (?:revele|revelez|reveler|affiche|affichez|afficher|montre|montrez|montrer|"
            r"donne|donnez|repete|repetez|imprime|imprimez|ecris|ecrivez|dis|dites|"
            r"recopie|recopiez|divulgue|divulguez|quel(?:le)?s? (?:est|sont)) ~3"
            r"(?:ton|ta|tes|votre|vos) ~2(?:prompt systeme|prompt|instructions?|consignes|"
            r"message systeme|directives|regles)"
        ),
        qualifier=re.compile(
            r"systeme|initia|origin|secret|cache|interne|mot pour mot|integral|prompt|"
            r"instructions|consignes"
        ),
        weak=0.3,
        window=25,
    ),
    Rule(
        "prompt_exfiltration",
        "pide el prompt del sistema (es)",
        0.85,
        words_pattern(
            r" (?:revela|revelame|revele|muestra|muestrame|muestre|dime|di|diga|digame|"
            r"imprime|imprima|repite|repita|escribe|escriba|dame|deme|ensename|"
            r"cual(?:es)? (?:es|son)) ~3(?:tu|tus|su|sus) ~2(?:prompt del sistema|"
            r"prompt de sistema|prompt|instrucciones|indicaciones|mensaje del sistema|"
            r"directrices|reglas)"
        ),
        qualifier=re.compile(
            r"sistema|inicial|original|secret|ocult|intern|palabra por palabra|complet|"
            r"prompt|instrucciones"
        ),
        weak=0.3,
        window=25,
    ),
    Rule(
        "prompt_exfiltration",
        "vraagt om de systeemprompt (nl)",
        0.85,
        words_pattern(
            r" (?:toon|laat|geef|herhaal|print|verklap|onthul|schrijf|noem|wat (?:is|zijn)) "
            r"~3(?:je|jouw|uw) ~2(?:systeemprompt|systeem prompt|system prompt|"
            r"systeeminstructies|instructies|prompt|richtlijnen|regels|opdrachten)"
        ),
        qualifier=re.compile(
            r"systeem|system|oorspronkelijk|geheim|verborgen|intern|letterlijk|volledig|"
            r"prompt|instructies"
        ),
        weak=0.3,
        window=25,
    ),
    Rule(
        "prompt_exfiltration",
        "asks what the model was told, paraphrased",
        0.7,
        words_pattern(
            r" (?:what|which) (?:instructions|rules|guidelines|directions|directives|"
            r"constraints|orders) (?:were you|have you been|did you get|did you receive|"
            r"were given to you|did they give you|are you operating under|are you following|"
            r"do you follow|govern you|are you under)"
            r"|(?:summarize|summarise|describe|list|explain|outline|paraphrase|recap|enumerate|"
            r"walk me through) (?:the|your|all the|all of the|all your) ~2(?:guidelines|rules|"
            r"instructions|constraints|directives|restrictions) (?:you|that you|which you|"
            r"that were|you were|you ve been|you have been) ~2(?:operate|work|follow|given|"
            r"run|told|bound|programmed|configured|set up)"
            r"|(?:text|content|words|everything|anything|instructions|message) (?:that |which |)"
            r"(?:appears?|came|comes|is written|was written|sits|was placed|was put|was sent)"
            r" (?:before|above|ahead of|prior to) (?:my|this|our|the) (?:first |opening |)"
            r"(?:message|conversation|chat|question|prompt|turn)"
            r"| (?:output|print|show|paste|repeat|write out|dump|display|reveal|share|copy|"
            r"reproduce|quote) (?:me |)(?:the |your |)(?:full |complete |exact |entire |whole |"
            r"verbatim |)(?:text |wording |contents? |)(?:of |)(?:the |your |all the |all your |)"
            r"(?:instructions|guidelines|rules|directives|directions|prompt) (?:you were given|"
            r"you have been given|you ve been given|you received|you got|given to you|"
            r"you are following|you follow|you operate under|you were told)"
            r"|what (?:are|were) you (?:not allowed|forbidden|told not|instructed not|"
            r"programmed not) to (?:say|tell|share|reveal|discuss|disclose|do)"
            r"|(?:print|output|show|dump|display|reveal|share|paste) (?:your |the |)"
            r"(?:initialization|initialisation|init|context window|configuration text|"
            r"config text|startup instructions|boot instructions|operating instructions|"
            r"hidden context|full context|pre conversation|preconversation)"
            r"|(?:how were you|how have you been) (?:configured|set up|instructed|prompted|"
            r"primed) (?:for|by|in) ~3(?:exactly|word for word|verbatim|in detail|precisely)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "asks for secrets held by the agent",
        0.6,
        words_pattern(
            r" (?:reveal|print|show|display|output|tell me|give me|share|list|paste|dump|send)"
            r" ~3(?:the|your|all|any|all the) ~2(?:api keys?|secret keys?|access tokens?|"
            r"credentials|passwords?|connection strings?|env vars|environment variables|"
            r"private keys?|secrets) (?:you|that you|which you|stored|in your|from your|"
            r"configured|available|you have|you can see|you were given)"
        ),
        untrusted_weight=0.75,
    ),
)

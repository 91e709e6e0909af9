"""Instruction override (EN, DE, FR, ES, NL)."""

from __future__ import annotations

import re

from edge.gateway.content_filter.rules.base import Rule, markup_pattern, words_pattern

_OVERRIDE_OBJECTS_EN = (
    r"(?:instructions?|rules|directives?|guidelines|guidance|prompts?|commands|orders|"
    r"constraints|restrictions|policies|programming|guardrails|safeguards|directions|"
    r"training|conditioning|limitations)"
)
_OVERRIDE_QUAL_EN = re.compile(
    r" (?:all|any|every|previous|previously|prior|above|earlier|preceding|initial|original|"
    r"former|foregoing|your|system|developer|safety|openai|anthropic) "
    r"| (?:you (?:were|have been|ve been) (?:given|told|taught)|given to you|you received|"
    r"you ve received|you have received|so far|until now|up to now|to date) "
)
# "ignore any instructions contained in the document" is a defence, "forget the previous
# instructions I gave you" is the user's own change of mind.
_OVERRIDE_NEGATIVE = re.compile(
    r" (?:in|inside|within|contained in|embedded in|found in|hidden in|from|that appear in)"
    r" (?:the|this|that|any|these|those|such) (?:\w+ )?(?:document|documents|email|emails|"
    r"file|files|page|pages|text|attachment|attachments|website|web page|content|data|input|"
    r"tool|tools|output|results?|message|messages|ticket|pdf|dokument|e mail|datei|texte?|"
    r"document|fichier|documento|archivo|correo|bestand|bericht)"
    r"| (?:contained|embedded|hidden|found) (?:in|inside|within) (?:it|them|there) "
    r"| (?:therein|in it|inside it|within it) "
    r"| (?:i|we) (?:gave|sent|wrote|provided|had given|mentioned|shared|added|set)"
    r"| my (?:previous|earlier|last|prior|old|own) "
    r"| (?:ich|wir) (?:dir |ihnen |euch |)(?:gegeben|geschickt|geschrieben)"
    r"| mes (?:instructions|consignes) | mis instrucciones | mijn (?:instructies|opdrachten) "
)
_OVERRIDE_QUAL_DE = re.compile(
    r" (?:alle|allen|samtliche|vorherigen?|vorigen?|bisherigen?|obigen?|fruheren?|"
    r"vorangegangenen?|ursprunglichen?|deine|deinen|ihre|ihren|system|sicherheits|alten) "
    r"| die (?:dir|ihnen|man dir) (?:\w+ )?(?:gegeben|vorgegeben|gesagt|mitgegeben) "
    r"| (?:bis jetzt|bislang|erhaltenen|bisher erhaltenen) "
)
_OVERRIDE_QUAL_FR = re.compile(
    r" (?:toutes|tous|precedentes?|anterieures?|ci dessus|tes|vos|initiales?|originales?|"
    r"systeme|securite|anciennes?|d avant) "
    r"| qu on (?:t|vous) a (?:donnees?|fournies?|imposees?) | que (?:tu as|vous avez) recues? "
    r"| (?:recues?|jusqu ici|jusqu a present|jusqu a maintenant) "
)
_OVERRIDE_QUAL_ES = re.compile(
    r" (?:todas|todos|anteriores|previas|de arriba|tus|sus|iniciales|originales|sistema|"
    r"seguridad|precedentes|antiguas) "
    r"| que (?:te|le) (?:dieron|han dado|dio|ha dado|impusieron|dimos) | que recibiste "
    r"| (?:recibidas|hasta ahora|hasta el momento) "
)
_OVERRIDE_QUAL_NL = re.compile(
    r" (?:alle|vorige|voorgaande|eerdere|bovenstaande|je|jouw|uw|oorspronkelijke|"
    r"systeem|veiligheids|oude) "
    r"| die (?:je|jij|u) (?:hebt |heeft |)(?:gekregen|kreeg|kregen|meegekregen) "
    r"| (?:tot nu toe|ontvangen|gekregen) "
)

RULES: tuple[Rule, ...] = (
    Rule(
        "instruction_override",
        "asks to ignore the previous instructions",
        0.9,
        words_pattern(
            r" (?:ignore|ignoring|disregard|disregarding|forget|forgetting|skip|bypass|"
            r"override|overlook|discard|drop|abandon|neglect|dismiss|set aside|throw out|"
            r"do not follow|don t follow|dont follow|stop following|no longer follow|"
            r"nevermind|never mind) ~5" + _OVERRIDE_OBJECTS_EN + r" "
        ),
        qualifier=_OVERRIDE_QUAL_EN,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    Rule(
        "instruction_override",
        "asks to ignore everything said before",
        0.75,
        words_pattern(
            r" (?:ignore|disregard|forget) ~2(?:everything|all|anything|what) ~3"
            r"(?:above|before|previously|so far|earlier|you (?:were|ve been|have been) "
            r"(?:told|given|instructed|taught)|prior to this)"
        ),
    ),
    Rule(
        "instruction_override",
        "asks to forget what the model was told (de/fr/es/nl)",
        0.75,
        words_pattern(
            r" (?:vergiss|vergessen sie|ignoriere|ignorieren sie) (?:alles |)was (?:man |)"
            r"(?:dir|ihnen) ~2(?:gesagt|aufgetragen|befohlen|vorgegeben|beigebracht|erklart)"
            r"|(?:oublie|oubliez|ignore|ignorez) (?:tout |)ce qu on (?:t|vous) a ~1(?:dit|"
            r"demande|ordonne|appris|explique|impose)"
            r"|(?:olvida|olvide|ignora|ignore) (?:todo |)lo que (?:te|le) (?:han |)(?:dicho|"
            r"dijeron|ordenado|ordenaron|pedido|pidieron|ensenado|ensenaron|indicado|indicaron)"
            r"|(?:vergeet|negeer) (?:alles |)wat (?:je|jij|u) ~3(?:opgedragen|verteld|gezegd|"
            r"geinstrueerd|gevraagd|geleerd)"
        ),
    ),
    Rule(
        "instruction_override",
        "says the model no longer follows its rules",
        0.75,
        words_pattern(
            r" you (?:don t|do not|dont|no longer|won t|will not|wont|needn t|need not|"
            r"shouldn t|should not|don t have to|do not have to|don t need to|do not need to)"
            r" ~1(?:follow|obey|adhere to|comply with|respect|abide by|care about) ~3"
            r"(?:guidelines|rules|instructions|policies|policy|restrictions|guardrails|"
            r"principles|programming|directives|terms)"
        ),
    ),
    Rule(
        "instruction_override",
        "asks to set aside the user's actual request",
        0.6,
        words_pattern(
            r" (?:ignore|disregard|skip|forget|drop|override) (?:the|this|that|your|any) "
            r"~2(?:request|question|task|query|assignment|instructions|prompt) "
        ),
        qualifier=re.compile(
            r" (?:user s|users|user|summary|summarization|summarisation|translation|original|"
            r"actual|real|customer s|human s) "
        ),
        weak=0.0,
        window=0,
    ),
    Rule(
        "instruction_override",
        "dictates the exact reply instead",
        0.35,
        words_pattern(
            r" instead (?:you (?:should|must|will) |)(?:reply|respond|answer|say|output|write|"
            r"print|state|tell) (?:only |just |)(?:with|that|the following|this)"
            r"|(?:reply|respond|answer) (?:only|just|exclusively) with "
        ),
    ),
    Rule(
        "instruction_override",
        "claims the safety layer is disabled",
        0.7,
        words_pattern(
            r" (?:safety|content|moderation|security|ethics|ethical|filter|filtering|"
            r"guardrail|guardrails|alignment) (?:layer|filter|filters|system|systems|policy|"
            r"policies|mode|module|checks|settings|guardrails|protocols|)~1 ?(?:has been|"
            r"have been|is|are|was|were|is now|are now) (?:disabled|turned off|switched off|"
            r"off|removed|deactivated|suspended|bypassed|lifted|offline|down)"
        ),
    ),
    Rule(
        "instruction_override",
        "demands unconditional compliance",
        0.35,
        words_pattern(
            r" (?:comply|agree) with (?:all|every|any) (?:request|requests|instruction|"
            r"instructions|command|commands|order|orders)"
            r"|(?:never|do not|don t|must not) (?:refuse|decline|reject) (?:any|anything|"
            r"a request|requests)"
            r"|always (?:comply|obey|agree)"
        ),
    ),
    Rule(
        "instruction_override",
        "asks to ignore the text above and do something else",
        0.7,
        words_pattern(
            r" (?:ignore|disregard) (?:all |everything |the |)(?:of the |)(?:above|previous|"
            r"preceding|prior)(?: text| content| message| messages| input| conversation|)"
            r" (?:and |then |instead |now )~2(?:say|print|output|respond|reply|write|type|"
            r"tell|translate|answer|return|just|only|instead|do)"
        ),
    ),
    Rule(
        "instruction_override",
        "dismisses the text above, then asks for something",
        0.6,
        words_pattern(
            r" (?:ignore|disregard|forget) (?:all of |all |everything |)(?:the |)(?:above|"
            r"previous|preceding|prior)(?: text| content| message| messages| input|"
            r" conversation| part|) "
        ),
        qualifier=re.compile(
            r" (?:what|tell|give|print|show|say|write|list|reveal|output|send|password|"
            r"secret|secrets|key|keys|token|credentials|admin|prompt|instructions)\b"
        ),
        weak=0.3,
        window=50,
        negative=_OVERRIDE_NEGATIVE,
    ),
    Rule(
        "instruction_override",
        "fordert auf, vorherige Anweisungen zu ignorieren (de)",
        0.9,
        words_pattern(
            r" (?:ignorier\w*|vergiss|vergessen|vergesst|missacht\w*|verwirf|verwerfen|"
            r"ubergeh\w*|uebergeh\w*|setze|setzen|befolge nicht|befolgen sie nicht) ~5"
            r"(?:\w*anweisung(?:en)?|\w*instruktion(?:en)?|\w*regeln|\w*vorgaben|befehle|"
            r"\w*richtlinien|"
            r"systemprompt|system prompt|prompts?|einschrankungen|anordnungen|programmierung) "
        ),
        qualifier=_OVERRIDE_QUAL_DE,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    Rule(
        "instruction_override",
        "fordert auf, vorherige Anweisungen zu ignorieren (de)",
        0.85,
        words_pattern(
            r" (?:alle|samtliche|deine|ihre|die) ~2(?:anweisungen|instruktionen|regeln|"
            r"vorgaben|befehle|richtlinien) ~3(?:ignorieren|vergessen|missachten|"
            r"verwerfen|ausser kraft)"
        ),
        qualifier=_OVERRIDE_QUAL_DE,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    Rule(
        "instruction_override",
        "demande d'ignorer les instructions précédentes (fr)",
        0.9,
        words_pattern(
            r" (?:ignore|ignorez|ignorer|ignores|oublie|oubliez|oublier|neglige|negligez|"
            r"ne tiens pas compte|ne tenez pas compte|ne tiens plus compte|"
            r"ne tenez plus compte|fais abstraction|faites abstraction|laisse tomber|"
            r"n obeis plus|n obeissez plus|passe outre|passez outre) ~5"
            r"(?:instructions?|consignes?|regles|directives|ordres|commandes|prompts?|"
            r"restrictions|limitations|programmation) "
        ),
        qualifier=_OVERRIDE_QUAL_FR,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    Rule(
        "instruction_override",
        "pide ignorar las instrucciones anteriores (es)",
        0.9,
        words_pattern(
            r" (?:ignora|ignore|ignoren|ignorar|ignoras|olvida|olvide|olviden|olvidar|"
            r"olvidate|haz caso omiso|hagan caso omiso|omite|omita|descarta|descarte|"
            r"desobedece|desobedezca|no sigas|no siga|deja de seguir) ~5"
            r"(?:instrucciones|instruccion|reglas|indicaciones|directrices|ordenes|normas|"
            r"prompts?|restricciones|limitaciones|programacion) "
        ),
        qualifier=_OVERRIDE_QUAL_ES,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    Rule(
        "instruction_override",
        "vraagt eerdere instructies te negeren (nl)",
        0.9,
        words_pattern(
            r" (?:negeer|negeren|negeert|vergeet|vergeten|ignoreer|ignoreren|"
            r"volg niet|volg niet langer|schuif opzij) ~5"
            r"(?:instructies|instructie|regels|opdrachten|richtlijnen|aanwijzingen|"
            r"prompts?|systeemprompt|beperkingen|restricties|programmering) "
        ),
        qualifier=_OVERRIDE_QUAL_NL,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    Rule(
        "instruction_override",
        "vraagt eerdere instructies te negeren (nl)",
        0.85,
        words_pattern(
            r" (?:alle|je|jouw|de) ~2(?:instructies|regels|opdrachten|richtlijnen) ~3"
            r"(?:negeren|vergeten|ignoreren)"
        ),
        qualifier=_OVERRIDE_QUAL_NL,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    Rule(
        "instruction_override",
        "announces replacement instructions",
        0.4,
        markup_pattern(
            r"(?:^|[\n>\]:.!,)]) *(?:\W{0,4})(?:new|updated|real|actual|true|revised|"
            r"override|priority|important|urgent) (?:system )?(?:instructions?|directives?|"
            r"task|rules?|orders|prompt|message)\W{0,4}(?::|-{1,2}|\n)"
            r"|(?:^|\n) *(?:neue anweisungen|nouvelles instructions|nuevas instrucciones|"
            r"nieuwe instructies) ?:"
        ),
        view="markup",
        needs=(
            "instruction",
            "directive",
            "task",
            "rule",
            "order",
            "prompt",
            "message",
            "anweisung",
            "instructies",
            "instrucciones",
        ),
    ),
    Rule(
        "instruction_override",
        "announces a new system prompt",
        0.6,
        words_pattern(
            r" (?:new|updated|revised|override|overriding|replacement|real) system "
            r"(?:prompt|message|instructions) "
            r"|(?:neuer|neue) system ?(?:prompt|anweisungen) |nouveau prompt systeme "
            r"|nuevo prompt del sistema |nieuwe systeemprompt "
        ),
    ),
    Rule(
        "instruction_override",
        "claims the model has been given new instructions",
        0.5,
        words_pattern(
            r" (?:your|the|my) (?:new|real|actual|updated|true|only|revised) (?:instructions|"
            r"task|orders|directives|objective|goal|job|mission|purpose|rules) (?:is|are|now|"
            r"will be|from now) "
        ),
    ),
    Rule(
        "instruction_override",
        "declares the model's instructions void",
        0.75,
        words_pattern(
            r" (?:your|the) ~3(?:instructions|rules|guidelines|directives|prompt|programming|"
            r"restrictions|policies|constraints|orders|guidance) ~4(?:no longer applies|"
            r"is outdated|is obsolete|is void|is no longer valid|is revoked|is cancelled|"
            r"no longer apply|do not apply|"
            r"don t apply|dont apply|are void|are null|are invalid|are outdated|are obsolete|"
            r"are suspended|are lifted|are cancelled|are canceled|are revoked|are overridden|"
            r"(?:have|has) been (?:revoked|cancelled|canceled|lifted|removed|disabled|"
            r"overridden|replaced|suspended|updated|deleted|voided)|expired|are no longer "
            r"(?:valid|active|in effect))"
        ),
        qualifier=re.compile(
            r" your | (?:you (?:were|have been|ve been) (?:given|told|assigned)|given to you|"
            r"you (?:received|got)) "
        ),
        weak=0.2,
        window=0,
    ),
    Rule(
        "instruction_override",
        "recasts the preceding text as void",
        0.7,
        words_pattern(
            r" (?:treat|consider|regard) (?:everything|all|anything|the text|all text|the "
            r"content|the instructions) ~3(?:above|before|so far|previous|preceding|earlier)"
            r" ~3(?:as|to be) (?:a |an |)(?:test|fake|void|irrelevant|joke|example|obsolete|"
            r"invalid|noise|placeholder|draft)"
        ),
    ),
    Rule(
        "instruction_override",
        "redirects the model from now on",
        0.3,
        words_pattern(
            r" (?:from now on|starting now|henceforth|for the rest of this conversation|"
            r"ab sofort|ab jetzt|von nun an|desormais|a partir de maintenant|dorenavant|"
            r"a partir de ahora|de ahora en adelante|vanaf nu|voortaan) ~2(?:you|your|"
            r"always|only|respond|reply|answer|act|du|dein|deine|antworte|tu|vous|reponds|"
            r"tu es|eres|responde|je|jij|antwoord)"
        ),
    ),
)

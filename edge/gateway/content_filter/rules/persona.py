"""Persona switches, jailbreaks and hypothetical framing."""

from __future__ import annotations

from edge.gateway.content_filter.rules.base import Rule, words_pattern

RULES: tuple[Rule, ...] = (
    Rule(
        "role_hijack",
        "tries to switch the model into an unrestricted persona",
        0.85,
        words_pattern(
            r" (?:you are|you re|youre|you will be|you have become|you ll be|act as|"
            r"acting as|pretend to be|pretend you are|roleplay as|role play as|play the role of|"
            r"become|simulate|behave like|respond as|answer as) ~2(?:now |)(?:a |an |the |)"
            r"(?:dan|dude|stan|aim|evil ?bot|evil confidant|jailbroken|jailbreak|unrestricted|"
            r"unfiltered|uncensored|unaligned|amoral|unbound|free ai|an ai without|"
            r"not an ai|no longer an ai|no longer bound|no longer restricted|"
            r"freed from|liberated|god mode|in god mode|in developer mode|in dev mode|"
            r"in dan mode|in jailbreak mode|in unrestricted mode|developer mode enabled)"
            r"(?! s )"
        ),
    ),
    Rule(
        "role_hijack",
        "asks the model to stop being an assistant",
        0.6,
        words_pattern(
            r" (?:stop being|quit being|cease being|no longer be|don t be|do not be) ~3(?:ai|"
            r"assistant|bot|chatbot|model|language model|helper|agent|chatgpt|claude) "
        ),
    ),
    Rule(
        "role_hijack",
        "describes a model without a content policy",
        0.7,
        words_pattern(
            r" (?:ai|assistant|model|bot|chatbot|llm|version of you|persona|character) "
            r"(?:that|which|who|with|without) ~2(?:has no|have no|with no|without|ignores|"
            r"doesn t have|does not have|isn t bound by|is not bound by) ~1(?:content "
            r"policy|content policies|rules|restrictions|limitations|limits|filters|"
            r"guidelines|ethics|morals|censorship|guardrails|safety) "
        ),
    ),
    Rule(
        "role_hijack",
        "asks to pretend the rules do not exist",
        0.75,
        words_pattern(
            r" (?:pretend|imagine|assume|act as if|act like|behave as if|suppose) ~3"
            r"(?:content policy|policy|policies|rules|restrictions|guidelines|filters|"
            r"guardrails|safety|limitations|programming|training) ~2(?:doesn t|don t|do not|"
            r"does not|didn t|did not|no longer|never) (?:exist|existed|apply|matter|count)"
        ),
    ),
    Rule(
        "role_hijack",
        "claims there are no rules in this conversation",
        0.6,
        words_pattern(
            r" (?:there are|there re|theres|there is) no (?:more |longer any |)(?:rules|"
            r"restrictions|limits|limitations|filters|guidelines|boundaries|guardrails|"
            r"content policy|policies) (?:here|anymore|any more|now|for you|in this|"
            r"in sandbox|in developer|in dev)"
        ),
    ),
    Rule(
        "role_hijack",
        "deceased-relative roleplay jailbreak",
        0.6,
        words_pattern(
            r" (?:pretend|act|roleplay|role play|play|imagine|be) ~4(?:my|a|an|your) "
            r"(?:deceased|dead|late|departed) (?:grandma|grandmother|grandpa|grandfather|"
            r"granny|nan|nana|mother|father|mom|dad|uncle|aunt)"
        ),
    ),
    Rule(
        "role_hijack",
        "tells the model it is no longer an assistant",
        0.6,
        words_pattern(
            r" (?:you are|you re|youre) no longer ~3(?:ai|assistant|bot|chatbot|model|"
            r"language model|helper|agent|chatgpt|claude) "
        ),
    ),
    Rule(
        "role_hijack",
        "asks the model to act without restrictions",
        0.8,
        words_pattern(
            r" (?:act|acting|behave|respond|answer|reply|pretend|roleplay|role play|operate|"
            r"function|continue|speak|write|talk|be|you are|you re|you will|you can|"
            r"you must|you have|simulate|as) ~6"
            r"(?:without|with no|with zero|free of|free from|unbound by|ignoring|regardless of|"
            r"not bound by|not restricted by|unrestricted by|no longer bound by|"
            r"no longer restricted by) ~3(?:restrictions?|limitations?|limits|"
            r"filters?|filtering|rules|guidelines|censorship|ethics|ethical|morals?|moral|"
            r"policies|policy|boundaries|safeguards|guardrails|constraints|content policy|"
            r"safety) "
        ),
    ),
    Rule(
        "role_hijack",
        "claims the model has no restrictions",
        0.75,
        words_pattern(
            r" (?:you|you now|you no longer|chatgpt|claude|the ai|the assistant|the model) "
            r"(?:have|has|ha|do not have|don t have|dont have) (?:no|zero|any) ~1"
            r"(?:restrictions|limitations|limits|filters|rules|guidelines|censorship|ethics|"
            r"morals|policies|boundaries|guardrails) "
        ),
    ),
    Rule(
        "role_hijack",
        "claims the model has no restrictions (de/fr/es/nl)",
        0.75,
        words_pattern(
            r" (?:du hast (?:jetzt |nun |ab sofort |)(?:keine|keinerlei)|tu n as (?:plus |)"
            r"(?:aucune|aucun|pas de)|vous n avez (?:plus |)(?:aucune|aucun|pas de)|"
            r"no tienes (?:ya |)(?:ninguna |ningun |ningunas |)|ya no tienes|"
            r"(?:je|jij|u) (?:hebt|heeft) (?:nu |)geen|(?:je|jij) geen) ~1"
            r"(?:regeln|einschrankungen|beschrankungen|filter|grenzen|richtlinien|regles|"
            r"restrictions|limites|filtres|reglas|restricciones|limites|filtros|regels|"
            r"beperkingen|restricties|filters|grenzen)"
        ),
    ),
    Rule(
        "role_hijack",
        "do-anything-now jailbreak",
        0.85,
        words_pattern(r" (?:do anything now|dan mode|dan prompt|jailbreak mode|jailbroken mode) "),
    ),
    Rule(
        "role_hijack",
        "asks for developer/god mode output",
        0.75,
        words_pattern(
            r" (?:developer mode|dev mode|god mode|debug mode|admin mode|sudo mode) "
            r"~2(?:enabled|activated|output|response|responses|is now active|has been enabled)"
            r"|(?:enable|activate|enter|switch to|turn on|unlock) ~1(?:developer|dev|god|"
            r"jailbreak|dan|unrestricted|sudo) mode ~4(?:you|your|respond|responses|"
            r"answer|chatgpt|ai|assistant|policies|restrictions|filters)"
        ),
    ),
    Rule(
        "role_hijack",
        "mentions a jailbreak",
        0.3,
        words_pattern(r" (?:jailbreak|jailbroken|jailbreaking) "),
    ),
    Rule(
        "role_hijack",
        "wechselt in eine Rolle ohne Einschränkungen (de)",
        0.85,
        words_pattern(
            r" (?:du bist (?:jetzt|nun|ab sofort|ab jetzt|von nun an)|verhalte dich|agiere|"
            r"antworte|tu so|tue so|spiel|spiele|handle|sei|du darfst|du kannst|du musst) "
            r"~8(?:ohne|frei von|ungeachtet|unabhangig von) ~3(?:einschrankungen|"
            r"beschrankungen|regeln|filter|zensur|"
            r"richtlinien|grenzen|moral|ethik|sicherheitsrichtlinien|vorgaben) "
            r"|(?:du bist (?:jetzt|nun|ab sofort) ~2(?:dan|uneingeschrankt|unzensiert|"
            r"ungefiltert|befreit|frei|im entwicklermodus|im developer modus|im gott modus))"
            r"|(?:entwicklermodus|developer modus|gottmodus) ~2(?:aktiviert|aktiv|an|"
            r"eingeschaltet|du|antworte)"
        ),
    ),
    Rule(
        "role_hijack",
        "bascule vers un rôle sans restrictions (fr)",
        0.85,
        words_pattern(
            r" (?:tu es (?:maintenant|desormais|dorenavant)|agis|agissez|comporte toi|"
            r"comportez vous|reponds|repondez|fais comme si|faites comme si|joue|jouez|"
            r"tu peux|tu dois|sois|soyez) ~8(?:sans|libre de|libere de|affranchi de) ~3"
            r"(?:restrictions?|limites?|limitations?|"
            r"filtres?|censure|regles|ethique|morale|garde fous|politiques?) "
            r"|tu es (?:maintenant|desormais|dorenavant) ~2(?:dan|libere|debride|sans filtre|"
            r"non censure|en mode developpeur)"
            r"|mode (?:developpeur|dieu|sans restriction) ~2(?:active|actif|on|tu|reponds)"
        ),
    ),
    Rule(
        "role_hijack",
        "cambia a un rol sin restricciones (es)",
        0.85,
        words_pattern(
            r" (?:ahora eres|a partir de ahora eres|desde ahora eres|actua|actue|actuen|"
            r"comportate|compórtate|responde|responda|finge|finja|haz como si|juega|eres|"
            r"puedes|debes|se) ~8(?:sin|libre de|liberado de) ~3(?:restriccion|"
            r"restricciones|limites?|limitaciones|filtros?|censura|reglas|etica|moral|politicas?) "
            r"|(?:ahora|desde ahora|a partir de ahora) eres ~2(?:dan|libre|liberado|"
            r"sin filtros|sin censura|en modo desarrollador)"
            r"|modo (?:desarrollador|dios|sin restricciones) ~2(?:activado|activo|on|eres|"
            r"responde)"
        ),
    ),
    Rule(
        "role_hijack",
        "wisselt naar een rol zonder beperkingen (nl)",
        0.85,
        words_pattern(
            r" (?:je bent nu|jij bent nu|u bent nu|gedraag je|gedraag u|doe alsof|"
            r"antwoord|reageer|beantwoord|speel|je mag|je kunt|je moet|wees) ~8(?:zonder|"
            r"vrij van|bevrijd van) ~3(?:beperkingen|restricties|filters?|"
            r"regels|censuur|richtlijnen|ethiek|moraal|grenzen) "
            r"|(?:je bent nu|jij bent nu) ~2(?:dan|vrij|onbeperkt|ongecensureerd|"
            r"ongefilterd|in ontwikkelaarsmodus)"
            r"|(?:ontwikkelaarsmodus|ontwikkelaars modus|godmodus) ~2(?:geactiveerd|actief|"
            r"aan|ingeschakeld|je|antwoord)"
        ),
    ),
    Rule(
        "role_hijack",
        "hypothetical framing to lift the rules",
        0.7,
        words_pattern(
            r" (?:hypothetically|in a hypothetical|imagine a world|imagine a scenario|"
            r"imagine that|in a fictional|in a fictitious|let s play a game|let us play a game|"
            r"for a story|for a novel|for a screenplay|for a movie|for fiction|in an alternate|"
            r"in a parallel universe|in a world where|pretend we are in|for a thought experiment|"
            r"hypothetisch|stell dir vor|imagine un monde|hypothetiquement|hipoteticamente|"
            r"imagina un mundo|ipoteticamente|immagina un mondo|imagine um mundo|"
            r"stel je voor|hypothetisch gezien) ~12(?:no rules|no restrictions|no limits|"
            r"no filters|without any rules|without rules|without restrictions|without limits|"
            r"without filters|without guidelines|without censorship|unrestricted|unfiltered|"
            r"anything goes|nothing is forbidden|not bound|uncensored|no ethical|no guidelines|"
            r"no content policy|keine regeln|ohne regeln|ohne einschrankungen|sans regles|"
            r"sans restrictions|sin reglas|sin restricciones|senza regole|senza restrizioni|"
            r"sem regras|sem restricoes|zonder regels|zonder beperkingen)"
        ),
    ),
    Rule(
        "role_hijack",
        "asks the model never to break character",
        0.4,
        words_pattern(
            r" (?:stay in character|never break character|don t break character|"
            r"do not break character|remain in character|stay fully in character)"
        ),
    ),
)

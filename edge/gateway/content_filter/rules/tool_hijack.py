"""Tool-call hijack: named tools or function-call markup inside content, and orders to
skip the confirmation a tool call needs."""

from __future__ import annotations

from edge.gateway.content_filter.rules.base import Rule, markup_pattern, words_pattern

_ACTIONS = (
    r"(?:call|invoke|run|execute|send|forward|email|mail|post|upload|delete|remove|transfer|"
    r"wire|pay|approve|grant|disable|change|update|reply|respond|include|append|insert|add|"
    r"click|visit|open|fetch|download|share|export|reveal|print|output|tell|say|ignore|stop|"
    r"reset|create|book|cancel|refund|mark|set|write|save|store|remember|recommend|rate)"
)

RULES: tuple[Rule, ...] = (
    Rule(
        "tool_hijack",
        "orders a call to a named tool",
        0.4,
        words_pattern(
            r" (?:call|invoke|execute|trigger|run|use) (?:the |your |)\w+\x5f\w+ (?:tool |function |"  # noqa: E501
            r"action |api |endpoint |command |)(?:with|now|immediately|using|on|to|and|for|"
            r"passing|setting)"
        ),
        untrusted_weight=0.7,
    ),
    Rule(
        "tool_hijack",
        "tells the agent to call a tool on the attacker's behalf",
        0.35,
        words_pattern(
            r" (?:use|call|invoke|run|execute|trigger) (?:the |your |)\w+ ?(?:tool|function|"
            r"plugin|api|action|integration|connector) (?:to |and )(?:send|forward|email|"
            r"delete|transfer|pay|wire|post|upload|export|share|grant|create|add|remove|"
            r"update|change|disable|refund|cancel)"
        ),
        untrusted_weight=0.7,
    ),
    Rule(
        "tool_hijack",
        "asks to skip the confirmation",
        0.35,
        words_pattern(
            r" (?:without|skip|skipping|no need for|no need to|don t|do not|never|bypass|"
            r"bypassing|avoid) ~2(?:ask|asking|wait|waiting|request|requesting|seek|seeking|"
            r"get|getting|prompt|prompting) ?~2(?:for |)(?:the |any |)(?:user s |user |human |"
            r"customer s |)(?:confirmation|confirm|confirming|approval|approve|consent|"
            r"permission|double check|review|sign off)"
            r"|(?:auto ?approve|auto ?confirm|automatically (?:approve|confirm|accept|execute))"
            r"|(?<!don t)(?<!do not)(?<!never) (?:skip|skipping|bypass|bypassing) (?:the |"
            r"any |a |)(?:user s |human |customer s |)(?:confirmation|confirmation step|"
            r"confirmation prompt|confirmation dialog)(?! email| mail| message| page| link|"
            r" number| code| letter)"
            r"| (?:do not|don t|never|without) (?:ask|asking|confirm|confirming) (?:with |)"
            r"(?:the user|the human|the customer|anyone|them) (?:first|beforehand)"
            r"|ohne (?:ruckfrage|bestatigung|nachfrage)|sans (?:demander |)(?:confirmation|"
            r"validation)|sin (?:pedir |)(?:confirmacion|aprobacion)|senza (?:chiedere |)"
            r"(?:conferma|approvazione)|sem (?:pedir |)(?:confirmacao|aprovacao)"
        ),
        untrusted_weight=0.6,
    ),
    Rule(
        "tool_hijack",
        "function-call markup inside content",
        0.3,
        markup_pattern(
            r"<(?:function_calls?|tool_call|tool_use|invoke|function)\b[^>]{0,80}>"
            r"|[\"'](?:tool_calls|function_call|tool_use)[\"'] ?:"
            r"|\{ ?\\?[\"'](?:name|tool|function|tool_name)\\?[\"'] ?: ?\\?[\"'][\w.\-]+"
            r"\\?[\"'] ?, ?\\?[\"'](?:arguments|parameters|args|input)\\?[\"'] ?:"
        ),
        view="markup",
        needs=("<", "tool", "function", "name"),
        untrusted_weight=0.6,
    ),
    Rule(
        "tool_hijack",
        "asks to execute what it just gave",
        0.3,
        words_pattern(
            r" (?:execute|run|call|invoke) (?:this|it|that) (?:now|immediately|right away)"
        ),
        untrusted_weight=0.45,
    ),
    Rule(
        "tool_hijack",
        "orders the model to act, inside untrusted content",
        0.0,
        words_pattern(
            r" (?:you|assistant|ai|agent|model|bot|llm|chatbot|copilot) (?:must|should|need to|"
            r"needs to|are to|have to|will now|shall|are required to|are instructed to|"
            r"are expected to) (?:now |immediately |also |first |then |quietly |silently |)"
            + _ACTIONS
            + " "
        ),
        untrusted_weight=0.55,
    ),
    Rule(
        "tool_hijack",
        "asks to act silently",
        0.3,
        words_pattern(
            r" (?:silently|quietly|secretly|covertly|discreetly|in the background|without "
            r"(?:the user |anyone |them |)(?:noticing|knowing|seeing)) ~3" + _ACTIONS + " "
        ),
        untrusted_weight=0.5,
    ),
    Rule(
        "tool_hijack",
        "asks to execute embedded commands",
        0.0,
        words_pattern(
            r" (?:execute|run|eval|evaluate) (?:the |this |these |)(?:following|below|"
            r"attached|embedded) (?:command|commands|code|script|shell|sql|query|instructions)"
        ),
        untrusted_weight=0.55,
    ),
)

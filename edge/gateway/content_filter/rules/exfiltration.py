"""Data exfiltration to URLs, addresses and images."""

from __future__ import annotations

import re

from edge.gateway.content_filter.rules.base import Rule, markup_pattern, words_pattern

RULES: tuple[Rule, ...] = (
    Rule(
        "data_exfiltration",
        "asks to send secrets or the conversation to an address",
        0.85,
        markup_pattern(
            r"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|e-?mail|mail|share|"
            r"submit|sync|push|copy|paste|append|include|encode|put|attach|"
            r"sende|schicke|schick|ubermittle|übermittle|leite|envoie|envoyez|transmets|"
            r"transmettez|envia|envía|manda|reenvía|reenvia|stuur|verstuur|stuurt|invia|inviare|"
            r"inoltra|inoltrare|envie|enviar|encaminhe|отправь|отправьте|перешли|перешлите|"
            r"отправить|загрузи)\b"
            r"[^\n]{0,80}?\b(?:conversation|chat history|chat log|message history|"
            r"previous messages|all messages|(?:last|all|every|recent) (?:\d+ )?(?:messages|"
            r"e-?mails|mails|documents|files|records|invoices)|inbox|mailbox|"
            r"api[ _-]?keys?|secret keys?|access keys?|"
            r"credentials|passwords?|passwd|secrets?|tokens?|session|cookies?|"
            r"env(?:ironment)? var(?:iable)?s?|\.env|ssh keys?|private keys?|id_rsa|"
            r"system prompt|memory|contacts|user data|personal data|customer data|"
            r"everything (?:above|you know)|all (?:the )?(?:data|files|emails|documents|"
            r"records)|gesprachsverlauf|gesprächsverlauf|passw[oö]rter|zugangsdaten|"
            r"historique|mots de passe|identifiants|historial|contraseñas|contrasenas|"
            r"credenciales|gespreksgeschiedenis|wachtwoorden|inloggegevens|credenziali|"
            r"cronologia|conversazione|chiavi|senhas|credenciais|historico|conversa|"
            r"пароли|пароль|ключи|токены|переписку|историю|учетные данные|"
            r"customer (?:list|records|database|data)|contact list|database dump|payroll)"
            r"[^\n]{0,80}?(?:\b(?:to|at|into|an|à|a|naar|vers) |: ?|\()"
            r"(?:https?://|www\.|[\w.+-]+@[\w-]+\.[\w.]+|the (?:following|this|my) "
            r"(?:url|endpoint|address|webhook|server)|this (?:url|endpoint|webhook))"
        ),
        view="markup",
        needs=("http", "www.", "@", "url", "endpoint", "address", "webhook", "server"),
    ),
    Rule(
        "data_exfiltration",
        "asks to send data to an external URL",
        0.4,
        markup_pattern(
            r"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|submit|"
            r"sende|schicke|envoie|envia|envía|stuur)\b[^\n]{0,60}?\b(?:to|an|à|a|naar) "
            r"(?:https?://|www\.)"
        ),
        view="markup",
        needs=("http", "www."),
    ),
    Rule(
        "data_exfiltration",
        "markdown image that carries data in its URL",
        0.8,
        markup_pattern(
            r"!\[[^\]\n]{0,200}\]\( ?<?https?://[^\s)?]{1,300}\?[^\s)=]{0,200}=[^\s)]{0,500}"
        ),
        view="markup",
        needs=("![",),
        qualifier=re.compile(
            r"[?&][^\s)]*(?:\{|\}|\[|<|%7b|%5b|%3c|\$|\b(?:paste|insert|append|replace)\b|"
            r"\b(?:data|secret|key|token|conversation|chat|"
            r"history|prompt|password|pwd|session|summary|payload|leak|exfil|memory|ssn|msg|"
            r"message|content|context|creds?|credentials)s?=)"
        ),
        weak=0.3,
        window=0,
    ),
    Rule(
        "data_exfiltration",
        "asks to render an image or link built from the data",
        0.45,
        words_pattern(
            r" (?:render|display|show|output|include|insert|append|embed|print) ~5"
            r"(?:image|markdown|img|link|url|pixel) ~12(?:with|containing|where|replace|"
            r"append|include|insert|add|encode) ~6(?:conversation|chat|history|data|"
            r"secrets?|keys?|tokens?|passwords?|email|memory|summary|answer|previous|"
            r"user s|users|personal|information)"
        ),
    ),
    Rule(
        "data_exfiltration",
        "shell command that ships secrets out",
        0.75,
        markup_pattern(
            r"\b(?:curl|wget|invoke-webrequest|iwr|nc|ncat|netcat)\b[^\n]{0,160}?"
            r"(?:\$\(|\benv\b|printenv|/etc/passwd|/etc/shadow|\.ssh|id_rsa|\.env\b|"
            r"\.aws/credentials|api[_-]?key|secret|token|password|@-)"
            r"|\b(?:cat|type|printenv|env)\b[^\n]{0,80}?\|\s*(?:curl|wget|nc|ncat)\b"
        ),
        view="markup",
        needs=("curl", "wget", "invoke-webrequest", "iwr", "nc"),
    ),
    Rule(
        "data_exfiltration",
        "pipes a downloaded script into a shell",
        0.35,
        markup_pattern(r"\b(?:curl|wget)\b[^\n]{0,120}?\|\s*(?:sudo )?(?:sh|bash|zsh|python3?)\b"),
        view="markup",
        needs=("curl", "wget"),
    ),
    Rule(
        "data_exfiltration",
        "asks to send data to an address as part of the task",
        0.45,
        words_pattern(
            r" (?:as part of|to complete|to finish|for|before finishing|after finishing|"
            r"once you finish|when you finish|when done with|before you answer) (?:the|this|"
            r"your|each) (?:task|summary|report|workflow|process|request|job|assignment|"
            r"answer|response|review|analysis|ticket) ~6(?:send|forward|email|mail|upload|"
            r"post|copy|share|export|sync|cc|bcc|submit) "
        ),
        untrusted_weight=0.6,
    ),
    Rule(
        "data_exfiltration",
        "asks to send something to an outside address, inside untrusted content",
        0.0,
        markup_pattern(
            r"\b(?:send|forward|e-?mail|mail|post|upload|submit|sync|copy|share|transmit|"
            r"export|cc|bcc|report|deliver|push)\b[^\n]{0,100}?\b(?:to|at|into|naar|an|à|a) "
            r"(?:https?://\S+|[\w.+-]+@[\w-]+\.[\w.]+)"
        ),
        view="markup",
        needs=("http", "@"),
        untrusted_weight=0.35,
    ),
    Rule(
        "data_exfiltration",
        "asks to send data out (zh/ja/ko/ru)",
        0.8,
        markup_pattern(
            r"(?:密码|凭证|密钥|令牌|聊天记录|对话记录|客户数据|个人信息|パスワード|認証情報|"
            r"会話履歴|顧客データ|api ?キー|비밀번호|자격 증명|대화 기록|고객 데이터|api ?키)"
            r"[^\n]{0,60}?(?:发送|发到|发给|转发|上传|送信|転送|アップロード|보내|전송|업로드)"
            r"|(?:发送|发到|发给|转发|上传|送信|転送|보내|전송)[^\n]{0,40}?(?:密码|凭证|密钥|"
            r"令牌|聊天记录|对话记录|客户数据|パスワード|認証情報|会話履歴|비밀번호|대화 기록)"
        ),
        view="markup",
        needs=(
            "密",
            "凭",
            "令牌",
            "记录",
            "数据",
            "パスワード",
            "認証",
            "履歴",
            "データ",
            "비밀",
            "자격",
            "기록",
            "키",
            "キー",
            "发",
            "送",
            "보내",
            "전송",
        ),
    ),
)

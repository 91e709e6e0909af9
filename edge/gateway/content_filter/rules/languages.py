# ruff: noqa: RUF001, RUF002, RUF003 -- Cyrillic is the language here, not a look-alike
"""Override, persona and extraction rules in Italian, Portuguese, Russian, Chinese,
Japanese and Korean (English, German, French, Spanish and Dutch live with their
families). Russian runs on the words view (written without й/ё, which it strips to
и/е); Chinese, Japanese and Korean have no spaces between words and run on the markup
view, which keeps them composed."""

from __future__ import annotations

import re

from edge.gateway.content_filter.rules.base import Rule, markup_pattern, words_pattern

_ZH_JA_OBJECTS = (
    r"(?:指令|指示|规则|規則|说明|說明|提示|设定|設定|要求|限制|命令|ルール|制約|プロンプト)"
)

RULES: tuple[Rule, ...] = (
    # --- Italian ---
    Rule(
        "instruction_override",
        "chiede di ignorare le istruzioni precedenti (it)",
        0.9,
        words_pattern(
            r" (?:ignora|ignorate|ignori|ignorare|dimentica|dimenticate|dimentichi|dimenticare|"
            r"trascura|trascurate|non seguire|non seguite|non rispettare|lascia perdere|"
            r"metti da parte) ~5(?:istruzioni|istruzione|regole|indicazioni|direttive|ordini|"
            r"prompt|restrizioni|limitazioni|linee guida|vincoli) "
        ),
        qualifier=re.compile(
            r" (?:tutte|tutti|precedenti|sopra|iniziali|originali|tue|sue|vostre|di sistema|"
            r"finora|ricevute|fin qui|date|impartite) "
        ),
        weak=0.2,
        window=40,
    ),
    Rule(
        "role_hijack",
        "passa a un ruolo senza restrizioni (it)",
        0.85,
        words_pattern(
            r" (?:ora sei|adesso sei|da ora sei|da adesso sei|agisci|comportati|rispondi|fingi|"
            r"fai finta|puoi|devi|sii) ~8senza ~3(?:restrizioni|limiti|limitazioni|filtri|"
            r"censura|regole|etica|morale|linee guida) "
            r"|modalita (?:sviluppatore|dio|senza restrizioni) ~2(?:attivata|attiva|on)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "chiede il prompt di sistema (it)",
        0.85,
        words_pattern(
            r" (?:mostra|mostrami|rivela|rivelami|stampa|ripeti|dimmi|dammi|scrivi|elenca|"
            r"copia|quali sono|qual e|riporta) ~3(?:il tuo|le tue|i tuoi|tue|tuo|tuoi|il suo|"
            r"le sue) ~2(?:prompt di sistema|prompt|istruzioni|regole|direttive|indicazioni)"
        ),
        qualifier=re.compile(
            r"sistema|iniziali|segret|nascost|original|complet|parola per parola|prompt|"
            r"istruzioni|interne"
        ),
        weak=0.3,
        window=25,
    ),
    # --- Portuguese ---
    Rule(
        "instruction_override",
        "pede para ignorar as instruções anteriores (pt)",
        0.9,
        words_pattern(
            r" (?:ignore|ignora|ignorar|ignorem|esqueca|esquece|esquecer|esquecam|desconsidere|"
            r"desconsidera|desconsiderar|nao siga|nao sigas|deixe de seguir|descarte|descarta|"
            r"abandone) ~5(?:instrucoes|instrucao|regras|diretrizes|ordens|orientacoes|prompt|"
            r"prompts|restricoes|limitacoes|comandos) "
        ),
        qualifier=re.compile(
            r" (?:todas|todos|anteriores|previas|acima|iniciais|originais|suas|tuas|seu|teu|"
            r"do sistema|recebidas|ate agora|dadas|que recebeu|que voce recebeu) "
        ),
        weak=0.2,
        window=40,
    ),
    Rule(
        "role_hijack",
        "muda para um papel sem restrições (pt)",
        0.85,
        words_pattern(
            r" (?:agora voce e|agora es|a partir de agora voce e|voce agora e|aja|atue|"
            r"comporte se|responda|finja|faca de conta|pode|deve|seja) ~8(?:sem|livre de) ~3"
            r"(?:restricoes|limites|limitacoes|filtros|censura|regras|etica|moral|diretrizes) "
            r"|modo (?:desenvolvedor|deus|sem restricoes) ~2(?:ativado|ativo|on)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "pede o prompt do sistema (pt)",
        0.85,
        words_pattern(
            r" (?:mostre|mostra|mostre me|revele|revela|imprima|repita|diga|me diga|diga me|"
            r"me de|escreva|liste|copie|quais sao|qual e) ~3(?:seu|sua|seus|suas|teu|tua|"
            r"teus|tuas) ~2(?:prompt do sistema|prompt de sistema|prompt|instrucoes|regras|"
            r"diretrizes|orientacoes)"
        ),
        qualifier=re.compile(
            r"sistema|iniciais|secret|ocult|original|complet|palavra por palavra|prompt|"
            r"instrucoes|internas"
        ),
        weak=0.3,
        window=25,
    ),
    # --- Russian (words view: й -> и, ё -> е) ---
    Rule(
        "instruction_override",
        "просит игнорировать предыдущие инструкции (ru)",
        0.9,
        words_pattern(
            r" (?:игнорируи|игнорируите|игнорировать|проигнорируи|проигнорируите|забудь|"
            r"забудьте|забыть|не обращаи внимания на|не обращаите внимания на|не следуи|"
            r"не следуите|отбрось|отбросьте|отмени|отмените|пренебреги) ~5(?:инструкции|"
            r"инструкциям|инструкциях|инструкцию|указания|указаниям|правила|правилам|команды|"
            r"ограничения|промпт|директивы|установки|настроики) "
        ),
        qualifier=re.compile(
            r" (?:все|всех|предыдущие|предыдущим|прежние|прежним|вышеуказанные|выше|"
            r"изначальные|исходные|системные|свои|твои|ваши|полученные|данные тебе|"
            r"которые тебе) "
        ),
        weak=0.2,
        window=40,
    ),
    Rule(
        "role_hijack",
        "переключает на роль без ограничении (ru)",
        0.85,
        words_pattern(
            r" (?:теперь ты|ты теперь|отныне ты|с этого момента ты|веди себя|действуи|"
            r"отвечаи|притворись|представь что ты|ты можешь|ты должен|будь) ~8без ~3"
            r"(?:ограничении|ограничения|фильтров|цензуры|правил|этики|морали|запретов) "
            r"|режим (?:разработчика|бога|без ограничении) ~2(?:включен|активирован|активен)"
        ),
    ),
    Rule(
        "prompt_exfiltration",
        "просит показать системныи промпт (ru)",
        0.85,
        words_pattern(
            r" (?:покажи|покажите|раскрои|раскроите|выведи|выведите|повтори|повторите|скажи|"
            r"скажите|напиши|напишите|напечатаи|перечисли|процитируи|какои|какая|какие|"
            r"каков) ~3(?:свои|твои|ваш|ваши|свою|твою|вашу|твоя|твое|твоего|своего) ~2"
            r"(?:системныи промпт|системное сообщение|промпт|инструкции|системные инструкции|"
            r"правила|указания|исходные инструкции|скрытые инструкции)"
        ),
        qualifier=re.compile(
            r"системн|скрыт|секрет|исходн|изначальн|полност|дословно|промпт|инструкц|внутренн"
        ),
        weak=0.3,
        window=25,
    ),
    # --- Chinese ---
    Rule(
        "instruction_override",
        "要求忽略之前的指令 (zh)",
        0.9,
        markup_pattern(
            r"(?:忽略|无视|無視|忽视|忽視|忘记|忘記|忘掉|不要理会|不要理會|不要遵守|不再遵守|放弃|"
            r"放棄|跳过|跳過|抛开|拋開)[^。\n]{0,12}(?:之前|以上|上面|先前|所有|全部|此前|原来|"
            r"原來|原有|你的|系统|系統|一切)[^。\n]{0,8}" + _ZH_JA_OBJECTS
        ),
        view="markup",
        needs=("忽", "无视", "無視", "忘", "不要", "不再", "放弃", "放棄", "跳", "抛开", "拋開"),
    ),
    Rule(
        "role_hijack",
        "切换到不受限制的角色 (zh)",
        0.85,
        markup_pattern(
            r"(?:现在你是|你现在是|從現在開始你是|从现在开始你是|从现在起你是|扮演|假装你是|"
            r"假裝你是|你将扮演|你是一个|你是一個)[^。\n]{0,20}(?:没有|沒有|不受|无|無|不再受)"
            r"[^。\n]{0,6}(?:限制|约束|約束|规则|規則|过滤|過濾|审查|審查|道德)"
            r"|(?:开发者模式|開發者模式|越狱模式|越獄模式|上帝模式)"
        ),
        view="markup",
        needs=("你", "扮演", "假", "模式"),
    ),
    Rule(
        "prompt_exfiltration",
        "索取系统提示 (zh)",
        0.85,
        markup_pattern(
            r"(?:显示|顯示|展示|告诉我|告訴我|输出|輸出|打印|重复|重複|泄露|洩露|给我看|給我看|"
            r"透露|说出|說出|列出|复述|複述)[^。\n]{0,10}(?:系统提示|系統提示|系统指令|系統指令|"
            r"初始指令|隐藏指令|隱藏指令|原始指令|提示词|提示詞|系统消息|系統消息|内部规则|內部規則)"
            r"|(?:系统提示|系統提示|提示词|提示詞|初始指令)(?:词|詞)?是(?:什么|什麼)"
        ),
        view="markup",
        needs=("提示", "指令", "消息", "规则", "規則"),
    ),
    # --- Japanese ---
    Rule(
        "instruction_override",
        "以前の指示を無視させる (ja)",
        0.9,
        markup_pattern(
            r"(?:以前|前|上記|これまで|すべて|全て|全部|元|最初|システム|先ほど|今まで)の?"
            r"[^。\n]{0,10}?" + _ZH_JA_OBJECTS + r"[^。\n]{0,6}?(?:無視|忘れ|従わな|破棄|取り消)"
        ),
        view="markup",
        needs=("無視", "忘れ", "従わな", "破棄", "取り消"),
    ),
    Rule(
        "role_hijack",
        "制限のない役割に切り替える (ja)",
        0.85,
        markup_pattern(
            r"(?:制限|制約|ルール|フィルター|検閲|倫理|規則)(?:の|が|も)?(?:一切)?(?:ない|なし|無し|"
            r"を無視した|から解放された|に縛られない)[^。\n]{0,12}(?:ai|アシスタント|モード|"
            r"キャラクター|あなた|として|答え|回答)"
            r"|(?:開発者モード|脱獄モード|ジェイルブレイク)"
        ),
        view="markup",
        needs=("制", "ルール", "フィルター", "検閲", "倫理", "規則", "モード", "ジェイル"),
    ),
    Rule(
        "prompt_exfiltration",
        "システムプロンプトを要求する (ja)",
        0.85,
        markup_pattern(
            r"(?:システムプロンプト|システム指示|システムメッセージ|初期指示|隠された指示|元の指示|"
            r"内部の指示|内部ルール|最初の指示)[^。\n]{0,10}(?:を|は)?[^。\n]{0,6}(?:表示|見せ|"
            r"教え|出力|繰り返|公開|開示|書き出|全文)"
        ),
        view="markup",
        needs=("システム", "指示", "内部"),
    ),
    # --- Korean ---
    Rule(
        "instruction_override",
        "이전 지시를 무시하라는 요청 (ko)",
        0.9,
        markup_pattern(
            r"(?:이전|위의|앞의|모든|기존|원래|시스템|지금까지의?)[^.\n]{0,10}(?:지시|지침|명령|"
            r"규칙|설정|프롬프트|제한)[^.\n]{0,10}(?:무시|잊어|잊고|따르지 ?마|어기|버려)"
        ),
        view="markup",
        needs=("무시", "잊", "따르지", "어기", "버려"),
    ),
    Rule(
        "role_hijack",
        "제한 없는 역할로 전환 (ko)",
        0.85,
        markup_pattern(
            r"(?:제한|규칙|필터|검열|윤리|제약)(?:이|가|도)? ?(?:없는|없이|전혀 없는)[^.\n]{0,12}"
            r"(?:ai|어시스턴트|모드|캐릭터|너|답|대답|역할)"
            r"|(?:개발자 ?모드|탈옥 ?모드)"
        ),
        view="markup",
        needs=("제한", "규칙", "필터", "검열", "윤리", "제약", "모드"),
    ),
    Rule(
        "prompt_exfiltration",
        "시스템 프롬프트 요청 (ko)",
        0.85,
        markup_pattern(
            r"(?:시스템 ?프롬프트|시스템 ?지시|시스템 ?메시지|초기 ?지시|숨겨진 ?지시|원래 ?지시|"
            r"내부 ?규칙)[^.\n]{0,10}(?:을|를)?[^.\n]{0,6}(?:보여|알려|출력|공개|반복|말해|그대로)"
        ),
        view="markup",
        needs=("시스템", "지시", "내부"),
    ),
)

"""Token classes and their cost: the one formula the gateway (budgets) and the control
plane (ledger, invoices) both use, so the edge and the invoice never disagree.

Counts follow one convention whatever the provider: ``input_tokens`` is every prompt
token and ``output_tokens`` every completion token; ``cached_input_tokens`` (read from a
prompt cache) and ``cache_write_tokens`` (written to it) are parts of the input,
``reasoning_tokens`` a part of the output. OpenAI reports that way already
(``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``);
Anthropic reports cache reads and writes beside ``input_tokens``, so they are added in
(docs/decisions/0019-token-classes.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MILLION = Decimal(1_000_000)
TOKEN_CLASSES = ("input", "cached_input", "cache_write", "output", "reasoning")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True)
class TokenCounts:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def of(
        cls,
        input_tokens: Any = 0,
        output_tokens: Any = 0,
        cached_input_tokens: Any = 0,
        cache_write_tokens: Any = 0,
        reasoning_tokens: Any = 0,
    ) -> TokenCounts:
        """Counts from untrusted numbers: anything not a positive int is 0, and a part
        never exceeds its whole (a provider bug must not make a negative class)."""
        total_in, total_out = _count(input_tokens), _count(output_tokens)
        cached = min(_count(cached_input_tokens), total_in)
        written = min(_count(cache_write_tokens), total_in - cached)
        reasoning = min(_count(reasoning_tokens), total_out)
        return cls(total_in, total_out, cached, written, reasoning)

    def by_class(self) -> dict[str, int]:
        """Each token once, in the class it is priced in."""
        return {
            "input": self.input_tokens - self.cached_input_tokens - self.cache_write_tokens,
            "cached_input": self.cached_input_tokens,
            "cache_write": self.cache_write_tokens,
            "output": self.output_tokens - self.reasoning_tokens,
            "reasoning": self.reasoning_tokens,
        }


@dataclass(frozen=True)
class TokenRates:
    """Prices per million tokens; a class without its own price costs as plain input
    (cache read and write) or plain output (reasoning)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None

    @classmethod
    def of(cls, price: Any) -> TokenRates:
        """The rates of a price row or bundle entry (``input_per_million``, ...)."""
        return cls(
            input=price.input_per_million,
            output=price.output_per_million,
            cached_input=price.cached_input_per_million,
            cache_write=price.cache_write_per_million,
            reasoning=price.reasoning_per_million,
        )

    def per_million(self) -> dict[str, Decimal]:
        return {
            "input": self.input,
            "cached_input": self.input if self.cached_input is None else self.cached_input,
            "cache_write": self.input if self.cache_write is None else self.cache_write,
            "output": self.output,
            "reasoning": self.output if self.reasoning is None else self.reasoning,
        }

    def cost(self, tokens: TokenCounts) -> Decimal:
        """Exact (unrounded) cost in the price's currency: the classes of ``by_class``
        at the rates of ``per_million``, written out (the ingest path prices every model
        call with it)."""
        total = Decimal(0)
        plain_input = tokens.input_tokens - tokens.cached_input_tokens - tokens.cache_write_tokens
        if plain_input:
            total += self.input * plain_input
        if tokens.cached_input_tokens:
            rate = self.input if self.cached_input is None else self.cached_input
            total += rate * tokens.cached_input_tokens
        if tokens.cache_write_tokens:
            rate = self.input if self.cache_write is None else self.cache_write
            total += rate * tokens.cache_write_tokens
        plain_output = tokens.output_tokens - tokens.reasoning_tokens
        if plain_output:
            total += self.output * plain_output
        if tokens.reasoning_tokens:
            rate = self.output if self.reasoning is None else self.reasoning
            total += rate * tokens.reasoning_tokens
        return total / MILLION

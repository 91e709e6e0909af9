"""The draft invoice of a month: its lines built from rated usage and the tenant's plans.

A draft is rebuilt whole on each refresh (it is month to date, nothing is final about
it). Every line's amount is rounded to the cent when it is made, and the subtotal is
the sum of the lines, so the lines a customer reads add up to the total they pay.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction

from billing.models import BillingAccount, Invoice, InvoiceLine, Plan, RatedUsage
from controlplane.core.tenancy import tenant_context
from edge.tokens import MILLION
from tenants.models import Department

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal(0)
OPEN = (Invoice.Status.DRAFT, Invoice.Status.REVIEW, Invoice.Status.APPROVED)
Kind = InvoiceLine.Kind


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class Segment:
    """The part of a month one plan was in force: ``[start, end)``."""

    plan: Plan
    start: dt.date
    end: dt.date
    month_days: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def share(self) -> Decimal:
        return Decimal(self.days) / Decimal(self.month_days)

    @property
    def prorated(self) -> bool:
        return self.days != self.month_days

    def label(self) -> str:
        if not self.prorated:
            return self.plan.name
        last = self.end - dt.timedelta(days=1)
        return (
            f"{self.plan.name}, {self.start:%d %b} to {last:%d %b %Y} "
            f"({self.days} of {self.month_days} days)"
        )


def plan_segments(plans: list[Plan], month: dt.date) -> list[Segment]:
    """The plans in force during ``month``, each with its days (a plan change mid-month
    splits the month)."""
    end = next_month(month)
    month_days = calendar.monthrange(month.year, month.month)[1]
    ordered = sorted(plans, key=lambda plan: plan.effective_from)
    segments = []
    for index, plan in enumerate(ordered):
        following = ordered[index + 1].effective_from if index + 1 < len(ordered) else end
        start, stop = max(plan.effective_from, month), min(following, end)
        if start < stop:
            segments.append(Segment(plan, start, stop, month_days))
    return segments


def token_rate(plan: Plan, model: str) -> Decimal | None:
    """The plan's price per million tokens of ``model``, or None: cost plus markup."""
    rates = plan.token_rates or {}
    value = rates.get(model, rates.get("*"))
    return None if value is None else Decimal(str(value))


def usage_charge(plan: Plan, model: str, tokens: int, cost: Decimal) -> Decimal:
    """What ``tokens`` of ``model`` costing the MSP ``cost`` are charged under ``plan``
    (markup included), unrounded."""
    rate = token_rate(plan, model)
    if rate is not None:
        return rate * tokens / MILLION
    return cost * (1 + plan.markup_percent / HUNDRED)


class _Lines:
    def __init__(self, invoice: Invoice) -> None:
        self.invoice = invoice
        self.lines: list[InvoiceLine] = []

    def add(
        self,
        kind: str,
        description: str,
        quantity: Decimal,
        unit_price: Decimal,
        *,
        exact: Decimal | None = None,
        details: dict[str, object] | None = None,
    ) -> Decimal:
        """Append a line of ``quantity * unit_price`` (or ``exact``, when the unit price
        is only a quotient) rounded to the cent; returns the rounded amount."""
        amount = cents(quantity * unit_price if exact is None else exact)
        self.lines.append(
            InvoiceLine(
                tenant_id=self.invoice.tenant_id,
                invoice=self.invoice,
                position=len(self.lines) + 1,
                kind=kind,
                description=description[:300],
                quantity=quantity.quantize(Decimal("0.000001")),
                unit_price=unit_price.quantize(Decimal("0.000000001")),
                amount=amount,
                **(details or {}),
            )
        )
        return amount


def _segment_lines(
    out: _Lines, segment: Segment, rows: list[RatedUsage], departments: dict[uuid.UUID | None, str]
) -> None:
    plan, label = segment.plan, segment.label()
    charged = out.add(
        Kind.PLATFORM_FEE, f"Platform fee — {label}", segment.share, plan.platform_fee
    )
    agents = {row.agent_id for row in rows}
    if plan.per_agent_fee and agents:
        charged += out.add(
            Kind.AGENT_FEE,
            f"Agents with usage: {len(agents)} — {label}",
            Decimal(len(agents)) * segment.share,
            plan.per_agent_fee,
        )
    groups: dict[tuple[uuid.UUID | None, str, str, str], list[Decimal]] = defaultdict(
        lambda: [ZERO, ZERO]
    )
    for row in rows:
        group = groups[(row.department_id, row.provider, row.model, row.token_class)]
        group[0] += row.tokens
        group[1] += row.cost
    usage = marked_up = ZERO
    for (department_id, provider, model, token_class), (tokens, cost) in sorted(
        groups.items(), key=lambda item: (departments.get(item[0][0]) or "", *item[0][1:])
    ):
        department = departments.get(department_id, "") if department_id else ""
        rate = token_rate(plan, model)
        where = f"{department or 'No department'} · {provider}/{model} · {token_class}"
        fields: dict[str, object] = {
            "department_id": department_id,
            "department": department,
            "provider": provider,
            "model": model,
            "token_class": token_class,
        }
        if rate is not None:
            usage += out.add(Kind.USAGE, where, tokens, rate / MILLION, details=fields)
        else:
            unit = cost / tokens if tokens else ZERO
            usage += out.add(
                Kind.USAGE, f"{where} (provider cost)", tokens, unit, exact=cost, details=fields
            )
            marked_up += cost
    if plan.markup_percent and marked_up:
        usage += out.add(
            Kind.MARKUP,
            f"Markup {plan.markup_percent.normalize():f} % on provider cost — {label}",
            marked_up,
            plan.markup_percent / HUNDRED,
        )
    included = cents(plan.included_usage * segment.share)
    if included and usage > 0:
        usage += out.add(
            Kind.ALLOWANCE, f"Included usage — {label}", Decimal(1), -min(included, usage)
        )
    charged += usage
    minimum = cents(plan.minimum_commitment * segment.share)
    if charged < minimum:
        charged += out.add(
            Kind.MINIMUM, f"Minimum commitment top-up — {label}", Decimal(1), minimum - charged
        )
    if plan.discount_percent and charged > 0:
        out.add(
            Kind.DISCOUNT,
            f"Discount {plan.discount_percent.normalize():f} % — {label}",
            charged,
            -plan.discount_percent / HUNDRED,
        )


def _adjustment_lines(
    out: _Lines, rows: list[RatedUsage], plans: list[Plan], departments: dict[uuid.UUID | None, str]
) -> None:
    """Usage of earlier, closed months that arrived after their invoice: charged under
    the plan in force on its day, one line per month, department, model and class."""
    groups: dict[tuple[dt.date, uuid.UUID | None, str, str, str], Decimal] = defaultdict(Decimal)
    quantities: dict[tuple[dt.date, uuid.UUID | None, str, str, str], int] = defaultdict(int)
    for row in rows:
        plan = _plan_on(plans, row.day)
        key = (month_start(row.day), row.department_id, row.provider, row.model, row.token_class)
        groups[key] += usage_charge(plan, row.model, row.tokens, row.cost) if plan else ZERO
        quantities[key] += row.tokens
    for key in sorted(groups, key=lambda k: (k[0], departments.get(k[1]) or "", *k[2:])):
        month, department_id, provider, model, token_class = key
        department = departments.get(department_id, "") if department_id else ""
        tokens = quantities[key]
        out.add(
            Kind.ADJUSTMENT,
            f"Late usage of {month:%B %Y}: {department or 'No department'} · "
            f"{provider}/{model} · {token_class}",
            Decimal(tokens),
            groups[key] / tokens if tokens else ZERO,
            exact=groups[key],
            details={
                "department_id": department_id,
                "department": department,
                "provider": provider,
                "model": model,
                "token_class": token_class,
            },
        )


def _plan_on(plans: list[Plan], day: dt.date) -> Plan | None:
    in_force = [plan for plan in plans if plan.effective_from <= day]
    return max(in_force, key=lambda plan: plan.effective_from) if in_force else None


def draft_refresh(*, tenant_id: uuid.UUID, month: dt.date) -> Invoice | None:
    """The month's open invoice rebuilt from rated usage (created if there is none).

    Takes the month's unbilled rated usage and the unbilled usage of earlier months
    whose invoice is already final (late events: adjustment lines). None when the
    tenant has no billing account or no plan for the month, or the month's invoice is
    final already.
    """
    month = month_start(month)
    with transaction.atomic(), tenant_context(tenant_id):
        account = BillingAccount.objects.filter(tenant_id=tenant_id).first()
        plans = list(Plan.objects.filter(effective_from__lt=next_month(month)))
        segments = plan_segments(plans, month)
        if account is None or not segments:
            return None
        invoice = (
            Invoice.objects.select_for_update()
            .exclude(status=Invoice.Status.VOID)
            .filter(month=month)
            .first()
        )
        if invoice is None:
            invoice = Invoice.objects.create(
                tenant_id=tenant_id,
                month=month,
                issuer_id=account.issuer_id,
                currency=account.currency,
                tax_rate=account.tax_rate,
            )
        if invoice.status != Invoice.Status.DRAFT:
            # Under review or approved: what was reviewed is what gets finalised; usage
            # rated meanwhile goes to the next invoice.
            return invoice if invoice.status in OPEN else None
        open_months = set(
            Invoice.objects.filter(status__in=OPEN)
            .exclude(pk=invoice.pk)
            .values_list("month", flat=True)
        )
        RatedUsage.objects.filter(invoice=invoice).update(invoice=None)
        unbilled = [
            row
            for row in RatedUsage.objects.filter(invoice__isnull=True, day__lt=next_month(month))
            if row.day >= month or month_start(row.day) not in open_months
        ]
        names: dict[uuid.UUID | None, str] = dict(Department.objects.values_list("pk", "name"))
        invoice.lines.all().delete()
        out = _Lines(invoice)
        for segment in segments:
            _segment_lines(
                out,
                segment,
                [row for row in unbilled if segment.start <= row.day < segment.end],
                names,
            )
        _adjustment_lines(out, [row for row in unbilled if row.day < month], plans, names)
        InvoiceLine.objects.bulk_create(out.lines)
        RatedUsage.objects.filter(pk__in=[row.pk for row in unbilled]).update(invoice=invoice)
        invoice.currency, invoice.tax_rate = account.currency, account.tax_rate
        invoice.subtotal = sum((line.amount for line in out.lines), ZERO)
        invoice.tax = cents(invoice.subtotal * invoice.tax_rate / HUNDRED)
        invoice.total = invoice.subtotal + invoice.tax
        invoice.save(update_fields=["currency", "tax_rate", "subtotal", "tax", "total"])
    return invoice

"""A workflow version drawn as a server-rendered SVG (no JavaScript).

Steps run top to bottom. A step's ``when`` sits as a label on the arrow into it,
parallel branches stand side by side under a fork bar with their quorum, and
action steps are terminal shapes. Given a request, the drawing also says where
the request stands: decided tasks green or red, the current step highlighted,
skipped steps greyed.

Colours are SVG presentation attributes (``fill=…``), not ``style`` attributes
or a ``<style>`` element, so the drawing is self-contained and passes a strict
Content-Security-Policy when inlined in a page. Every piece of text is escaped.
"""

from __future__ import annotations

import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from approvals.choices import RequestState, TaskState
from approvals.recipes.schema import Recipe, Step

if TYPE_CHECKING:
    from approvals.models import Request, Task

WIDTH = 760
CENTER = WIDTH // 2
NODE_W = 460
WIDE_W = 700
SANS = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
# Without JavaScript the server cannot measure text: it estimates widths from an
# average glyph width and truncates (full text in a tooltip) rather than overflow.
SANS_CHAR = 7.0
MONO_CHAR = 7.3

# Palette: (fill, stroke, text) per status.
PALETTE: dict[str, tuple[str, str, str]] = {
    "plain": ("#ffffff", "#8c959f", "#1f2328"),
    "approved": ("#dafbe1", "#1a7f37", "#0f5323"),
    "rejected": ("#ffebe9", "#cf222e", "#82071e"),
    "current": ("#ddf4ff", "#0969da", "#0a3069"),
    "changes": ("#fff1e5", "#bc4c00", "#762c00"),
    "skipped": ("#f6f8fa", "#c8ccd1", "#8c959f"),
    "upcoming": ("#ffffff", "#8c959f", "#1f2328"),
    "not_reached": ("#f6f8fa", "#d0d7de", "#8c959f"),
    "closed": ("#f6f8fa", "#8c959f", "#57606a"),
    "action_approve": ("#f0fff4", "#1a7f37", "#0f5323"),
    "action_reject": ("#fff5f5", "#cf222e", "#82071e"),
}
STATUS_WORDS = {
    "approved": "approved",
    "rejected": "rejected",
    "current": "in progress",
    "changes": "changes requested",
    "skipped": "skipped",
    "upcoming": "upcoming",
    "not_reached": "not reached",
    "closed": "closed",
    "done": "ran",
}
TASK_STYLE: dict[str, tuple[str, str]] = {
    # task state -> (symbol, palette key)
    TaskState.OPEN: ("…", "current"),
    TaskState.APPROVED: ("✓", "approved"),
    TaskState.REJECTED: ("✗", "rejected"),
    TaskState.CHANGES_REQUESTED: ("↺", "changes"),
    TaskState.CANCELLED: ("×", "skipped"),  # noqa: RUF001
    TaskState.ESCALATED: ("↑", "closed"),
    TaskState.DELEGATED: ("→", "closed"),
    TaskState.EXPIRED: ("⌛", "closed"),
}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --- the request's progress ------------------------------------------------------


@dataclass(frozen=True)
class TaskMark:
    """One task as drawn: who, in which state, and the tooltip."""

    label: str
    state: str
    tooltip: str


@dataclass(frozen=True)
class StepProgress:
    """Where a request stands on one step (``status`` is a PALETTE/STATUS_WORDS key)."""

    status: str
    tasks: tuple[TaskMark, ...] = ()


def _task_mark(task: Task) -> TaskMark:
    who = task.assignee.username
    label = who
    tip = f"{task.assignee.display_name} — {task.get_state_display()}"
    if task.on_behalf_of_id:
        label += f" for {task.on_behalf_of.username}"
        tip += f", on behalf of {task.on_behalf_of.display_name}"
    if len(task.delegation_chain or []) > 1:
        tip += ", via " + " → ".join(str(u) for u in task.delegation_chain)
    if task.due_at:
        tip += f", due {task.due_at:%Y-%m-%d %H:%M}"
    if task.decided_at:
        tip += f", decided {task.decided_at:%Y-%m-%d %H:%M}"
    return TaskMark(label=label, state=task.state, tooltip=tip)


def _outcome_of(step: Step, tasks: list[Task]) -> str:
    """A closed step's outcome by the quorum rule (RECIPES.md, "Quorum")."""
    counted = [t for t in tasks if t.state not in (TaskState.ESCALATED, TaskState.DELEGATED)]
    needed = step.quorum.needed(len(counted))
    approved = sum(t.state == TaskState.APPROVED for t in counted)
    rejected = sum(t.state == TaskState.REJECTED for t in counted)
    if any(t.state == TaskState.CHANGES_REQUESTED for t in counted):
        return "changes"
    if counted and approved >= needed:
        return "approved"
    if rejected and rejected > len(counted) - needed:
        return "rejected"
    return "closed"


def progress_of(recipe: Recipe, request: Request) -> dict[str, StepProgress]:
    """Each step's status for a request, from its tasks in the current round.

    The engine plans steps in order, so a step before the furthest one reached
    that has no task was skipped. An action step counts as run when it is the
    request's ``current_step``, or when it is unconditional and was reached.
    """
    tasks_by_step: dict[str, list[Task]] = defaultdict(list)
    for task in request.tasks.filter(round=request.round).select_related(
        "assignee", "on_behalf_of"
    ).order_by("created_at", "pk"):
        tasks_by_step[task.step_id].append(task)

    ids = [s.id for s in recipe.steps]
    reached = [i for i, s in enumerate(recipe.steps) if s.id in tasks_by_step]
    frontier = max(reached) if reached else -1
    if request.current_step in ids:
        frontier = max(frontier, ids.index(request.current_step))
    finished = request.state in (
        RequestState.APPROVED,
        RequestState.REJECTED,
        RequestState.CANCELLED,
        RequestState.EXPIRED,
    )

    result: dict[str, StepProgress] = {}
    for i, step in enumerate(recipe.steps):
        tasks = tasks_by_step.get(step.id, [])
        marks = tuple(_task_mark(t) for t in tasks)
        if tasks:
            if any(t.state == TaskState.OPEN for t in tasks) and not finished:
                status = "current"
            else:
                status = _outcome_of(step, tasks)
        elif step.kind == "action" and (
            step.id == request.current_step
            or (
                finished
                and step.when is None
                and i > frontier
                and request.state == ("approved" if step.action == "approve" else "rejected")
                and all(result[s.id].status in ("approved", "skipped") for s in recipe.steps[:i])
            )
        ):
            status = "done" if finished else "current"
        elif step.id == request.current_step and not finished:
            status = "current"
        elif i < frontier:
            status = "skipped"
        elif finished:
            # Approved with every reached step approved: later steps did not apply.
            approved_through = request.state == RequestState.APPROVED and all(
                result[s.id].status in ("approved", "skipped", "done") for s in recipe.steps[:i]
            )
            status = "skipped" if approved_through else "not_reached"
        else:
            status = "upcoming"
        result[step.id] = StepProgress(status=status, tasks=marks)
    return result


# --- drawing helpers -------------------------------------------------------------


def _esc(text: object) -> str:
    """Text safe inside an XML element or a double-quoted attribute."""
    clean = _XML_INVALID.sub("", str(text))
    return (
        clean.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _fit(text: str, width: float, char: float) -> str:
    limit = max(4, int(width / char))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(text: str, width: float, char: float, max_lines: int = 3) -> list[str]:
    limit = max(8, int(width / char))
    lines = textwrap.wrap(" ".join(text.split()), limit, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _fit(lines[-1] + " …", width, char)
    return lines


def _text(
    x: float,
    y: float,
    text: str,
    *,
    fill: str = "#1f2328",
    size: int = 13,
    weight: str = "normal",
    anchor: str = "middle",
    mono: bool = False,
    cls: str = "",
) -> str:
    family = MONO if mono else SANS
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-family="{family}" '
        f'font-size="{size}" font-weight="{weight}" fill="{fill}"{klass}>{_esc(text)}</text>'
    )


def _rect(
    x: float, y: float, w: float, h: float, colours: tuple[str, str, str], *,
    rx: float = 8, width: float = 1.5, dashed: bool = False, cls: str = "",
) -> str:
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx:.1f}" '
        f'fill="{colours[0]}" stroke="{colours[1]}" stroke-width="{width}"{dash}{klass}/>'
    )


def _arrow(x: float, y1: float, y2: float, colour: str = "#6e7781") -> str:
    return (
        f'<line x1="{x:.1f}" y1="{y1:.1f}" x2="{x:.1f}" y2="{y2 - 6:.1f}" stroke="{colour}" '
        f'stroke-width="1.5"/>'
        f'<polygon points="{x - 5:.1f},{y2 - 8:.1f} {x + 5:.1f},{y2 - 8:.1f} {x:.1f},{y2:.1f}" '
        f'fill="{colour}"/>'
    )


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    # Authors write "48h" more often than "2d": days only from three of them up.
    if seconds and seconds % 86400 == 0 and seconds >= 3 * 86400:
        return f"{seconds // 86400}d"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _sla_line(step: Step) -> str:
    sla = step.sla
    if sla is None:
        return ""
    parts = [f"SLA {_duration(sla.due)}"]
    if sla.remind_at is not None:
        parts.append(f"remind at {sla.remind_at:.0%}")
    if sla.escalate_at is not None:
        target = sla.escalate_to.raw if sla.escalate_to else "approver's manager"
        parts.append(f"escalate at {sla.escalate_at:.0%} → {target}")
    if sla.auto_action and sla.auto_action_at is not None:
        parts.append(f"auto-{sla.auto_action} at {sla.auto_action_at:.0%}")
    return " · ".join(parts)


def _chips(marks: tuple[TaskMark, ...], left: float, top: float, width: float) -> tuple[str, float]:
    """Task chips laid out left to right, wrapping; returns SVG and the height used."""
    parts: list[str] = []
    x, y, h, gap = left, top, 22.0, 6.0
    for mark in marks:
        symbol, key = TASK_STYLE.get(mark.state, ("?", "plain"))
        label = _fit(f"{symbol} {mark.label}", width - 12, SANS_CHAR)
        w = min(width, len(label) * SANS_CHAR + 18)
        if x > left and x + w > left + width:
            x, y = left, y + h + gap
        colours = PALETTE[key]
        parts.append(
            f'<g class="task task-{_esc(mark.state)}"><title>{_esc(mark.tooltip)}</title>'
            + _rect(x, y, w, h, colours, rx=11, width=1)
            + _text(x + w / 2, y + 15, label, fill=colours[2], size=12)
            + "</g>"
        )
        x += w + gap
    return "".join(parts), (y + h - top) if marks else 0.0


# --- the nodes -------------------------------------------------------------------


def _status_colours(progress: StepProgress | None, default: str = "plain") -> tuple[str, ...]:
    key = progress.status if progress else default
    return PALETTE.get(key, PALETTE["plain"])


def _badge(progress: StepProgress | None) -> str:
    return f"  ·  {STATUS_WORDS[progress.status]}" if progress else ""


def _action_node(step: Step, y: float, progress: StepProgress | None) -> tuple[str, float]:
    w, h = 360.0, 50.0
    x = CENTER - w / 2
    key = f"action_{step.action}"
    if progress and progress.status == "done":
        key = "approved" if step.action == "approve" else "rejected"
    elif progress and progress.status in ("skipped", "not_reached", "current"):
        key = progress.status
    colours = PALETTE[key]
    outcome = "approved" if step.action == "approve" else "rejected"
    body = (
        _rect(x, y, w, h, colours, rx=h / 2, width=2, dashed=key == "skipped")
        + _text(CENTER, y + 21, _fit(step.id, w - 40, SANS_CHAR) + _badge(progress),
                fill=colours[2], weight="600")
        + _text(CENTER, y + 39, f"Ends the request: {outcome} by the system",
                fill=colours[2], size=12)
    )
    return _group(step, "action", body, progress), h


def _approval_node(step: Step, y: float, progress: StepProgress | None) -> tuple[str, float]:
    w = float(NODE_W)
    x = CENTER - w / 2
    colours = _status_colours(progress)
    ref = step.branches[0].raw if step.branches else ""
    lines = [(_fit(f"Approver: {ref}", w - 28, MONO_CHAR), True)]
    lines += [(line, False) for line in _wrap(_sla_line(step), w - 28, SANS_CHAR, 2) if line]
    chips, chips_h = _chips(progress.tasks if progress else (), x + 14, 0, w - 28)
    h = 30 + 18 * len(lines) + (chips_h + 10 if chips_h else 0) + 6
    body = [_rect(x, y, w, h, colours, width=3 if _is_current(progress) else 1.5,
                  dashed=_is_greyed(progress))]
    body.append(_text(x + 14, y + 21, _fit(step.id, w - 200, SANS_CHAR) + _badge(progress),
                      fill=colours[2], weight="600", anchor="start", size=14))
    body.append(_text(x + w - 14, y + 21, "approval", fill="#57606a", size=11, anchor="end"))
    ty = y + 42
    for line, mono in lines:
        body.append(_text(x + 14, ty, line, fill=colours[2], anchor="start", size=12, mono=mono))
        ty += 18
    if chips_h:
        body.append(_translate(chips, ty - 6))
    return _group(step, "approval", "".join(body), progress), h


def _parallel_node(step: Step, y: float, progress: StepProgress | None) -> tuple[str, float]:
    w = float(WIDE_W)
    x = CENTER - w / 2
    colours = _status_colours(progress)
    if step.approvers is not None:
        branches = [f"every member of {step.approvers.raw}"]
        total = "one task per member"
    else:
        branches = [b.raw for b in step.branches]
        total = f"{step.quorum.needed(len(branches))} of {len(branches)}"
    quorum = f"quorum {step.quorum} ({total})"
    sla = _sla_line(step)
    per_row = min(4, max(1, len(branches)))
    gap = 12.0
    bw = (w - 28 - gap * (per_row - 1)) / per_row
    rows = (len(branches) + per_row - 1) // per_row
    bh = 34.0
    head = 30 + (18 if sla else 0)
    fork_y = y + head + 8
    branch_top = fork_y + 16
    chips, chips_h = _chips(progress.tasks if progress else (), x + 14, 0, w - 28)
    join_y = branch_top + rows * (bh + 10) + 6
    h = join_y - y + 12 + (chips_h + 10 if chips_h else 0)

    body = [_rect(x, y, w, h, colours, width=3 if _is_current(progress) else 1.5,
                  dashed=_is_greyed(progress))]
    body.append(_text(x + 14, y + 21, _fit(step.id, w - 320, SANS_CHAR) + _badge(progress),
                      fill=colours[2], weight="600", anchor="start", size=14))
    body.append(_text(x + w - 14, y + 21, f"parallel · {quorum}", fill="#57606a", size=12,
                      anchor="end", weight="600", cls="quorum"))
    if sla:
        body.append(_text(x + 14, y + 40, _fit(sla, w - 28, SANS_CHAR), fill=colours[2],
                          anchor="start", size=12))
    bar = colours[1]
    used = min(per_row, len(branches))
    span_l = x + 14 + bw / 2
    span_r = x + 14 + (used - 1) * (bw + gap) + bw / 2
    body.append(f'<rect x="{span_l - 8:.1f}" y="{fork_y:.1f}" width="{span_r - span_l + 16:.1f}" '
                f'height="4" rx="2" fill="{bar}" class="fork"/>')
    body.append(f'<rect x="{span_l - 8:.1f}" y="{join_y:.1f}" width="{span_r - span_l + 16:.1f}" '
                f'height="4" rx="2" fill="{bar}" class="join"/>')
    for n, label in enumerate(branches):
        col, row = n % per_row, n // per_row
        bx = x + 14 + col * (bw + gap)
        by = branch_top + row * (bh + 10)
        cx = bx + bw / 2
        body.append(f'<line x1="{cx:.1f}" y1="{fork_y + 4:.1f}" x2="{cx:.1f}" y2="{by:.1f}" '
                    f'stroke="{bar}" stroke-width="1"/>')
        body.append(f'<line x1="{cx:.1f}" y1="{by + bh:.1f}" x2="{cx:.1f}" y2="{join_y:.1f}" '
                    f'stroke="{bar}" stroke-width="1"/>')
        body.append(f"<g class=\"branch\"><title>{_esc(label)}</title>"
                    + _rect(bx, by, bw, bh, PALETTE["plain"] if not _is_greyed(progress)
                            else PALETTE["skipped"], rx=6, width=1)
                    + _text(cx, by + 22, _fit(label, bw - 12, MONO_CHAR), size=12, mono=True,
                            fill=colours[2])
                    + "</g>")
    if chips_h:
        body.append(_translate(chips, join_y + 14))
    return _group(step, "parallel", "".join(body), progress), h


def _is_current(progress: StepProgress | None) -> bool:
    return bool(progress and progress.status == "current")


def _is_greyed(progress: StepProgress | None) -> bool:
    return bool(progress and progress.status in ("skipped", "not_reached"))


def _translate(svg: str, dy: float) -> str:
    return f'<g transform="translate(0 {dy:.1f})">{svg}</g>'


def _group(step: Step, kind: str, body: str, progress: StepProgress | None) -> str:
    status = progress.status if progress else "plain"
    return (
        f'<g class="step step-{kind} status-{_esc(status)}" data-step="{_esc(step.id)}">'
        f"<title>{_esc(step.id)}</title>{body}</g>"
    )


def _when_label(step: Step, y: float, greyed: bool) -> tuple[str, float]:
    lines = _wrap(f"when {step.when}", 520, MONO_CHAR)
    h = 10 + 16 * len(lines)
    w = min(560.0, max(len(line) for line in lines) * MONO_CHAR + 24)
    colours = ("#fff8c5", "#d4a72c", "#4d2d00") if not greyed else PALETTE["skipped"]
    parts = [f'<g class="when"><title>{_esc(step.when)}</title>',
             _rect(CENTER - w / 2, y, w, h, colours, rx=6, width=1)]
    for i, line in enumerate(lines):
        parts.append(_text(CENTER, y + 18 + 16 * i, line, fill=colours[2], size=12, mono=True))
    parts.append("</g>")
    return "".join(parts), h


def _terminal(y: float, label: str, key: str) -> tuple[str, float]:
    w, h = max(200.0, len(label) * SANS_CHAR + 40), 34.0
    colours = PALETTE[key]
    return (
        f'<g class="terminal">{_rect(CENTER - w / 2, y, w, h, colours, rx=h / 2, width=2)}'
        + _text(CENTER, y + 22, label, fill=colours[2], weight="600")
        + "</g>",
        h,
    )


def _legend(y: float) -> tuple[str, float]:
    items = [("approved", "approved"), ("rejected", "rejected"), ("current", "in progress"),
             ("changes", "changes requested"), ("skipped", "skipped / not reached")]
    parts, x = ['<g class="legend">'], 40.0
    for key, word in items:
        colours = PALETTE[key]
        parts.append(_rect(x, y, 14, 14, colours, rx=3, width=1.5))
        parts.append(_text(x + 20, y + 12, word, anchor="start", size=12, fill="#57606a"))
        x += 20 + len(word) * SANS_CHAR + 24
    parts.append("</g>")
    return "".join(parts), 14


# --- the drawing -----------------------------------------------------------------


def render_svg(recipe: Recipe, *, request: Request | None = None) -> str:
    """The recipe as an SVG document (a string); with ``request``, its progress too."""
    progress = progress_of(recipe, request) if request is not None else {}
    parts: list[str] = []
    y = 20.0
    parts.append(_text(24, y + 8, _fit(recipe.title, WIDTH - 48, 8.5), anchor="start", size=17,
                       weight="700"))
    subtitle = recipe.workflow
    if request is not None:
        subtitle += f" · request #{request.pk} · {request.get_state_display()}"
    parts.append(_text(24, y + 28, subtitle, anchor="start", size=12, fill="#57606a", mono=True))
    y += 52

    svg, h = _terminal(y, "Submitted", "plain")
    parts.append(svg)
    y += h
    for step in recipe.steps:
        step_progress = progress.get(step.id)
        greyed = _is_greyed(step_progress)
        if step.when:
            label, lh = _when_label(step, y + 14, greyed)
            parts.append(_arrow(CENTER, y, y + 14 + lh + 18))
            parts.append(label)  # drawn over the arrow
            y += 14 + lh + 18
        else:
            parts.append(_arrow(CENTER, y, y + 28))
            y += 28
        draw = {"action": _action_node, "parallel": _parallel_node}.get(step.kind, _approval_node)
        svg, h = draw(step, y, step_progress)
        parts.append(svg)
        y += h

    last = recipe.steps[-1] if recipe.steps else None
    if not (last and last.kind == "action" and last.when is None):
        parts.append(_arrow(CENTER, y, y + 28))
        y += 28
        end_key, end_label = "approved", "Approved"
        if request is not None:
            end_label = request.get_state_display()
            end_key = {
                RequestState.APPROVED: "approved",
                RequestState.REJECTED: "rejected",
                RequestState.CHANGES_REQUESTED: "changes",
            }.get(request.state, "closed" if not request.is_open else "upcoming")
            if request.is_open:
                end_label = "Approved, once every step passes"
        svg, h = _terminal(y, end_label, end_key)
        parts.append(svg)
        y += h
    y += 16
    parts.append(_text(24, y + 10, "A rejection at any step ends the request as rejected.",
                       anchor="start", size=12, fill="#57606a"))
    y += 20
    if request is not None:
        svg, h = _legend(y + 6)
        parts.append(svg)
        y += h + 12
    height = y + 16
    title = f"Workflow {recipe.workflow}: {len(recipe.steps)} steps"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="workflow-diagram" role="img" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
        f'aria-label="{_esc(title)}"><title>{_esc(title)}</title>'
        f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>'
        + "".join(parts)
        + "</svg>"
    )

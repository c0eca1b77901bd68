"""The quality report as one self-contained HTML page: inline CSS, inline SVG charts, no scripts.

Nothing is fetched from anywhere (no fonts, images, scripts or links to other hosts), so the page
opens on an air-gapped machine and can be mailed or printed as it is. Every chart is followed by
a table with the same numbers (for screen readers and for people who prefer numbers), and every
text that comes from the project is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from core.balance import BalanceSummary
from core.report import Confounds, FormattingRow, QualityReport, SideRow

CHOSEN = "#2166ac"  # blue and orange: apart for every common colour-vision deficiency
REJECTED = "#d6604d"
BOTH = "#b8b8b8"
BAR = "#4d7ea8"
TARGET = "#111111"
WIDTH = 640
CHART_ROWS = 20  # bars per chart; the table under it lists every row

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1d1d1d; background: #fff; margin: 0 auto; max-width: 920px; padding: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 32px 0 8px; border-bottom: 2px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05rem; margin: 20px 0 6px; }
.meta { color: #555; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.card b { display: block; font-size: 1.4rem; }
.warnings { list-style: none; padding: 0; }
.warnings li { background: #fff4d6; border-left: 5px solid #b27b00; padding: 8px 12px;
               margin: 6px 0; }
.ok { background: #e6f4ea; border-left: 5px solid #2e7d32; padding: 8px 12px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9rem; }
caption { text-align: left; color: #555; padding-bottom: 4px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #bbb; }
svg { max-width: 100%; height: auto; display: block; margin: 6px 0; }
svg text { font: 12px system-ui, sans-serif; fill: #1d1d1d; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
               vertical-align: middle; }
.muted { color: #666; }
footer { margin-top: 40px; color: #666; font-size: 0.85rem; }
@media print { body { max-width: none; padding: 0; } section { break-inside: avoid-page; }
               .warnings li { border: 1px solid #b27b00; } }
"""


def render_html(report: QualityReport) -> str:
    """The whole page."""
    ids = _Ids()
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Quality report: {escape(report.project)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<header>",
        f"<h1>Quality report: {escape(report.project)}</h1>",
        f'<p class="meta">Made {report.generated_at:%Y-%m-%d %H:%M} UTC by <code>prefer '
        f"report</code>{_build_meta(report)}.</p>",
        _source_filter(report),
        "</header><main>",
        _summary(report),
        _scale(report, ids),
        _filters(report),
        _balance(report, ids),
        _confounds(report, ids),
        _agreement(report),
        _staleness(report),
        _sources(report),
        "</main>",
        '<footer>Thresholds come from <code>[report]</code> in prefer.toml; '
        "docs/report.md explains each section and how to act on each warning.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _source_filter(report: QualityReport) -> str:
    """Under `--source`, which deciders' pairs the figures are of."""
    limited = report.source_filter
    if not limited.active:
        return ""
    names = [*limited.include, *(f"not {name}" for name in limited.exclude)]
    return (f'<p class="meta">Pairs decided by: {escape(", ".join(names))} '
            "(<code>--source</code>); agreement is every annotator's.</p>")


class _Ids:
    """Unique ids for the title and description of each chart (aria-labelledby)."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"chart{self.count}"


def _build_meta(report: QualityReport) -> str:
    f = report.filters
    if f.build_id is None:
        return ""
    return (f" from build <code>{escape(str(f.build_id))}</code> "
            f"({escape(str(f.strategy))})")


def _prose(text: str) -> str:
    """Escaped text with `commands` set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(caption: str, head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = [f"<table><caption>{escape(caption)}</caption><thead><tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [f'<th scope="row">{escape(str(row[0]))}</th>']
        cells += [f"<td>{escape(str(v))}</td>" for v in row[1:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _svg_open(ids: _Ids, height: int, title: str, desc: str) -> str:
    chart = ids.next()
    return (f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
            f'aria-labelledby="{chart}-t {chart}-d"><title id="{chart}-t">{escape(title)}</title>'
            f'<desc id="{chart}-d">{escape(desc)}</desc>')


def _short(text: str, limit: int = 20) -> str:
    """A chart label: the file name of a path, cut to `limit` characters (tables give it all)."""
    text = text.rsplit("/", 1)[-1] or text
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _side_name(row: SideRow) -> str:
    if row.value is None:
        return "imported" if row.kind == "variant" else "unknown"
    return f"run {row.value.removeprefix('run:')}" if row.value.startswith("run:") else row.value


# --- sections -------------------------------------------------------------------------------

def _summary(report: QualityReport) -> str:
    agreement = report.agreement.overall
    cards = [
        ("kept pairs", f"{report.scale.kept:,}", report.scale.verdict),
        ("warnings", str(len(report.warnings)), "below" if report.warnings else "none"),
        ("agreement (alpha)", _num(agreement.alpha) if agreement else "–",
         agreement.verdict if agreement else "no overlap yet"),
        ("stale pairs", f"{report.staleness.stale:,}",
         f"judged over {report.staleness.max_age_days} days ago or under older guidelines"),
    ]
    out = ['<section aria-labelledby="s-summary"><h2 id="s-summary">Summary</h2>',
           '<div class="cards">']
    out += [f'<div class="card">{escape(label)}<b>{escape(value)}</b>'
            f'<span class="muted">{escape(note)}</span></div>' for label, value, note in cards]
    out.append("</div>")
    if report.warnings:
        out.append("<h3>What to look at</h3><ul class=\"warnings\">")
        out += [f"<li>{_prose(w)}</li>" for w in report.warnings]
        out.append("</ul>")
    else:
        out.append('<p class="ok">No warnings: no figure crossed its threshold.</p>')
    out.append("</section>")
    return "\n".join(out)


# The scale bar gives each band a fixed width, so "too few" is as readable as "comprehensive".
_SCALE_BANDS = ((0, 500, 0.0, 0.2, "#f4c7c3", "too few"), (500, 2000, 0.2, 0.45, "#fde7b0", "narrow"),
                (2000, 5000, 0.45, 0.75, "#cfe8cf", "recommended"),
                (5000, 10000, 0.75, 1.0, "#cddff2", "comprehensive"))


def _scale_x(pairs: int, left: float, right: float) -> float:
    for low, high, start, end, _colour, _label in _SCALE_BANDS:
        if pairs < high:
            return left + (right - left) * (start + (end - start) * (pairs - low) / (high - low))
    return right


def _scale(report: QualityReport, ids: _Ids) -> str:
    kept = report.scale.kept
    left, right, y = 10.0, WIDTH - 10.0, 30
    svg = [_svg_open(ids, 80, "Kept pairs against the guidance",
                     f"{kept:,} kept pairs; bands: under 500 too few, 500-1,999 narrow, "
                     "2,000-4,999 recommended, 5,000 and more comprehensive.")]
    for low, high, _start, _end, colour, label in _SCALE_BANDS:
        x0, x1 = _scale_x(low, left, right), _scale_x(high, left, right)
        svg.append(f'<rect x="{x0:.1f}" y="{y}" width="{x1 - x0:.1f}" height="22" '
                   f'fill="{colour}"/><text x="{(x0 + x1) / 2:.1f}" y="{y + 15}" '
                   f'text-anchor="middle">{label}</text>')
    marker = _scale_x(kept, left, right)
    anchor = "end" if marker > WIDTH / 2 else "start"
    svg.append(f'<line x1="{marker:.1f}" y1="{y - 8}" x2="{marker:.1f}" y2="{y + 30}" '
               f'stroke="{TARGET}" stroke-width="3"/>'
               f'<text x="{marker + (-6 if anchor == "end" else 6):.1f}" y="{y - 12}" '
               f'text-anchor="{anchor}" font-weight="bold">{kept:,} pairs</text>')
    for tick in (500, 2000, 5000, 10000):
        label = f"{tick:,}" + ("+" if tick == 10000 else "")
        svg.append(f'<text x="{_scale_x(tick, left, right) - (12 if tick == 10000 else 0):.1f}" '
                   f'y="{y + 40}" text-anchor="middle">{label}</text>')
    svg.append("</svg>")
    return ('<section aria-labelledby="s-scale"><h2 id="s-scale">Scale</h2>'
            f"<p>{escape(report.scale.sentence)}</p>" + "".join(svg) +
            '<p class="muted">Guidance: under 500 pairs is too few for a consistent change; '
            "2,000-3,000 is recommended for most goals; from 5,000 the dataset is "
            "comprehensive, and contradictions matter most.</p></section>")


def _filters(report: QualityReport) -> str:
    f = report.filters
    rows: list[list[object]] = [["pairs built (before filters)", f"{f.pairs_built:,}"]]
    rows += [[f"dropped: {name.replace('_', ' ')}", f"{n:,}"] for name, n in f.dropped.items()]
    if f.balanced_out:
        rows.append(["removed by the balance plan", f"{f.balanced_out:,}"])
    rows.append(["kept", f"{f.kept:,}"])
    held = [["items held back: annotators disagree, nobody decided", f"{f.held_back_disputed:,}"],
            ["items held back: an open flag", f"{f.held_back_flagged:,}"]]
    intro = ("No pair build is recorded yet." if f.build_id is None else
             f"Build {f.build_id} ({f.strategy}) from "
             f"{'?' if f.items is None else f'{f.items:,}'} items with a decision.")
    return ('<section aria-labelledby="s-filters"><h2 id="s-filters">Pairs built and '
            f"filtered</h2><p>{escape(intro)}</p>"
            + _table("Pairs of the latest build", ["", "pairs"], rows)
            + _table("Items that gave no pairs yet", ["", "items"], held) + "</section>")


def _balance(report: QualityReport, ids: _Ids) -> str:
    out = ['<section aria-labelledby="s-balance"><h2 id="s-balance">Balance</h2>',
           "<p>Kept pairs per value against its target share (the black mark). Dimensions take "
           "their targets from prefer.toml <code>[balance.targets]</code> (equal by default); "
           "languages and sources are compared with equal shares.</p>"]
    names = {"dimension": "By behaviour dimension", "language": "By language",
             "source": "By prompt source (import file)"}
    for summary in (report.balance.dimension, report.balance.language, report.balance.source):
        out.append(f"<h3>{names[summary.by]}</h3>")
        out.append(_balance_chart(summary, ids))
        out.append(_table(
            f"{names[summary.by]}: {summary.total:,} kept pairs",
            [summary.by, "pairs", "share", "target", "more pairs needed"],
            [[r.value, f"{r.pairs:,}", _pct(r.share), _pct(r.target),
              "cannot be reached" if r.needed is None else f"{r.needed:,}"]
             for r in summary.rows]))
    out.append("</section>")
    return "\n".join(out)


def _balance_chart(summary: BalanceSummary, ids: _Ids) -> str:
    rows = summary.rows[:CHART_ROWS]
    if not rows:
        return '<p class="muted">No kept pairs.</p>'
    label_w, bar_w, row_h = 200, WIDTH - 200 - 110, 24
    scale = max([r.share for r in rows] + [r.target for r in rows] + [0.01])
    svg = [_svg_open(ids, row_h * len(rows) + 10, f"Share of kept pairs by {summary.by}",
                     "; ".join(f"{r.value}: {r.share:.0%} (target {r.target:.0%})"
                               for r in rows))]
    for i, r in enumerate(rows):
        y = 5 + i * row_h
        width = bar_w * r.share / scale
        target_x = label_w + bar_w * r.target / scale
        colour = BAR if r.share >= r.target - 0.05 else REJECTED
        svg.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
                   f"<title>{escape(r.value)}</title>{escape(_short(r.value))}</text>"
                   f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="16" fill="#eee"/>'
                   f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="16" '
                   f'fill="{colour}"/>'
                   f'<line x1="{target_x:.1f}" y1="{y}" x2="{target_x:.1f}" y2="{y + 22}" '
                   f'stroke="{TARGET}" stroke-width="2"/>'
                   f'<text x="{label_w + bar_w + 8}" y="{y + 15}">{r.pairs:,} · {r.share:.0%}'
                   "</text>")
    svg.append("</svg>")
    more = len(summary.rows) - len(rows)
    return "".join(svg) + (f'<p class="muted">and {more} more in the table.</p>' if more else "")


def _confounds(report: QualityReport, ids: _Ids) -> str:
    c = report.confounds
    length = c.length
    q = length.quantiles
    out = ['<section aria-labelledby="s-confounds"><h2 id="s-confounds">Confounds</h2>',
           "<p>Things that may decide which answer wins without being what you want the model "
           "to learn: length, formatting, and where an answer came from.</p>",
           "<h3>Length</h3>"]
    if length.pairs:
        out.append(
            f"<p>Chosen is longer in {_pct(length.chosen_longer_share)} of {length.pairs:,} "
            f"pairs, rejected in {_pct(length.rejected_longer_share)}. The median chosen answer "
            f"has {_num(length.median_chars_chosen, 0)} characters, the median rejected one "
            f"{_num(length.median_chars_rejected, 0)}; the median ratio chosen/rejected is "
            f"{_num(q.get('median'))}.</p>")
        out.append(_histogram(c, ids))
        out.append(_table("Chosen length divided by rejected length",
                          ["quantile", "ratio"], [[k, _num(v)] for k, v in q.items()]))
    else:
        out.append('<p class="muted">No kept pairs.</p>')
    out.append("<h3>Formatting</h3><p>Pairs where only one side has a feature. A feature that "
               "is almost always on the winning side teaches the model to use it, whatever the "
               "content.</p>")
    out.append(_legend(("only chosen has it", CHOSEN), ("only rejected has it", REJECTED)))
    out.append(_formatting_chart(c.formatting, ids))
    out.append(_table("Formatting features per pair", ["feature", "only chosen",
                                                        "only rejected", "both", "neither",
                                                        "chosen share"],
                      [[r.label, f"{r.only_chosen:,}", f"{r.only_rejected:,}", f"{r.both:,}",
                        f"{r.neither:,}", _pct(r.chosen_share)] for r in c.formatting]))
    for title, rows in (("Generation variants", c.variants), ("Sources of the answers",
                                                               c.sources)):
        out.append(f"<h3>{title}</h3>")
        if not rows:
            out.append('<p class="muted">No kept pairs.</p>')
            continue
        out.append(_legend(("chosen", CHOSEN), ("both sides", BOTH), ("rejected", REJECTED)))
        out.append(_sides_chart(title, rows, ids))
        out.append(_table(title, ["variant" if rows[0].kind == "variant" else "source", "pairs",
                                  "only chosen", "both sides", "only rejected",
                                  "chosen share", "rejected share"],
                          [[_side_name(r), f"{r.pairs:,}", f"{r.only_chosen:,}", f"{r.both:,}",
                            f"{r.only_rejected:,}", _pct(r.chosen_share),
                            _pct(r.rejected_share)] for r in rows]))
    out.append("</section>")
    return "\n".join(out)


def _legend(*items: tuple[str, str]) -> str:
    return ('<p class="legend" aria-hidden="true">' + "".join(
        f'<span style="background:{colour}"></span>{escape(label)}' for label, colour in items)
        + "</p>")


def _histogram(c: Confounds, ids: _Ids) -> str:
    bins = c.length.histogram
    height, base, top_pad = 200, 160, 20
    peak = max([b.pairs for b in bins] + [1])
    col_w = (WIDTH - 40) / len(bins)
    svg = [_svg_open(ids, height, "Length ratio chosen/rejected",
                     "; ".join(f"{b.label}: {b.pairs} pairs" for b in bins))]
    for i, b in enumerate(bins):
        h = (base - top_pad) * b.pairs / peak
        x = 20 + i * col_w
        colour = CHOSEN if i >= len(bins) // 2 else REJECTED
        svg.append(f'<rect x="{x + 6:.1f}" y="{base - h:.1f}" width="{col_w - 12:.1f}" '
                   f'height="{h:.1f}" fill="{colour}"/>'
                   f'<text x="{x + col_w / 2:.1f}" y="{base - h - 4:.1f}" '
                   f'text-anchor="middle">{b.pairs:,}</text>'
                   f'<text x="{x + col_w / 2:.1f}" y="{base + 16}" text-anchor="middle">'
                   f"{escape(b.label)}</text>")
    svg.append(f'<line x1="20" y1="{base}" x2="{WIDTH - 20}" y2="{base}" stroke="#888"/>'
               f'<text x="{WIDTH / 2:.0f}" y="{base + 34}" text-anchor="middle">chosen length '
               "÷ rejected length (left: chosen shorter, right: chosen longer)</text></svg>")
    return "".join(svg)


def _formatting_chart(rows: Sequence[FormattingRow], ids: _Ids) -> str:
    if not rows:
        return ""
    label_w, row_h = 120, 26
    half = (WIDTH - label_w - 100) / 2
    centre = label_w + half
    peak = max([max(r.only_chosen, r.only_rejected) for r in rows] + [1])
    svg = [_svg_open(ids, row_h * len(rows) + 24, "Formatting only on one side",
                     "; ".join(f"{r.label}: only chosen {r.only_chosen}, only rejected "
                               f"{r.only_rejected}" for r in rows))]
    for i, r in enumerate(rows):
        y = 4 + i * row_h
        wc, wr = half * r.only_chosen / peak, half * r.only_rejected / peak
        svg.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(r.label)}'
                   f'</text><rect x="{centre - wr:.1f}" y="{y + 3}" width="{wr:.1f}" height="16" '
                   f'fill="{REJECTED}"/><rect x="{centre:.1f}" y="{y + 3}" width="{wc:.1f}" '
                   f'height="16" fill="{CHOSEN}"/>'
                   f'<text x="{centre - wr - 4:.1f}" y="{y + 15}" text-anchor="end">'
                   f"{r.only_rejected:,}</text>"
                   f'<text x="{centre + wc + 4:.1f}" y="{y + 15}">{r.only_chosen:,}</text>')
    bottom = 4 + len(rows) * row_h
    svg.append(f'<line x1="{centre:.1f}" y1="0" x2="{centre:.1f}" y2="{bottom}" stroke="#888"/>'
               f'<text x="{centre - 6:.1f}" y="{bottom + 14}" text-anchor="end">only rejected'
               f'</text><text x="{centre + 6:.1f}" y="{bottom + 14}">only chosen</text></svg>')
    return "".join(svg)


def _sides_chart(title: str, rows: Sequence[SideRow], ids: _Ids) -> str:
    shown = rows[:CHART_ROWS]
    label_w, row_h = 230, 24
    bar_w = WIDTH - label_w - 70
    svg = [_svg_open(ids, row_h * len(shown) + 8, f"{title}: chosen or rejected",
                     "; ".join(f"{r.label}: chosen only {r.only_chosen}, both {r.both}, "
                               f"rejected only {r.only_rejected}" for r in shown))]
    for i, r in enumerate(shown):
        y = 4 + i * row_h
        total = r.pairs or 1
        x = float(label_w)
        svg.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end"><title>'
                   f"{escape(r.label)}</title>{escape(_short(_side_name(r), 30))}</text>")
        for count, colour in ((r.only_chosen, CHOSEN), (r.both, BOTH),
                              (r.only_rejected, REJECTED)):
            w = bar_w * count / total
            svg.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="16" '
                       f'fill="{colour}"/>')
            x += w
        svg.append(f'<text x="{label_w + bar_w + 6}" y="{y + 15}">{r.pairs:,}</text>')
    svg.append("</svg>")
    more = len(rows) - len(shown)
    return "".join(svg) + (f'<p class="muted">and {more} more in the table.</p>' if more else "")


def _agreement(report: QualityReport) -> str:
    a = report.agreement
    out = ['<section aria-labelledby="s-agreement"><h2 id="s-agreement">Agreement</h2>',
           f"<p>{a.judgments:,} judgments by {a.annotators} annotators; "
           f"{a.items_with_two_or_more:,} items judged by two or more.</p>"]
    if a.overall is None:
        out.append('<p class="muted">Agreement needs items judged by at least two annotators.</p>')
    else:
        rows = [a.overall, *a.by_dimension]
        out.append(_table("Krippendorff's alpha on the pairwise preferences (>= 0.7 strong, "
                          "0.5-0.7 moderate, < 0.5 ambiguous)",
                          ["scope", "alpha", "95% interval", "items", "verdict"],
                          [[r.scope, _num(r.alpha),
                            "–" if r.low is None or r.high is None
                            else f"{r.low:.2f} to {r.high:.2f}", f"{r.items:,}", r.verdict]
                           for r in rows]))
        out.append('<p class="muted"><code>prefer agreement</code> gives every statistic, per '
                   "annotator pair and per annotator.</p>")
    if a.has_no_preference_outcomes:
        o = a.outcome_agreement
        caption = ("Outcomes of the judgments: no meaningful difference and cannot judge are "
                   "outcomes of their own and yield no pair"
                   + ("" if o is None or o.alpha is None else
                      f"; agreement on the outcome (alpha) {_num(o.alpha)} over {o.items:,} "
                      f"items, {o.verdict}"))
        out.append(_table(caption, ["scope", "preference", "no difference", "cannot judge",
                                    "skipped"],
                          [[row.scope.replace("=", ": ", 1), f"{row.ranked:,}",
                            f"{row.no_difference:,}", f"{row.cannot_judge:,}",
                            f"{row.skipped:,}"] for row in a.outcomes]))
    out.append("</section>")
    return "\n".join(out)


def _sources(report: QualityReport) -> str:
    """Who decided the kept pairs, their prompts' user turns, pre-labels, changes at refresh."""
    sources = report.sources
    if sources is None:
        return ""
    out = ['<section aria-labelledby="s-sources"><h2 id="s-sources">Sources and conversations'
           "</h2>"]
    out.append(_table("Kept pairs by who decided their item", ["decided by", "pairs"],
                      [[name, f"{n:,}"] for name, n in sources.decided_by.items()]))
    out.append(_table("Kept pairs by the prompt's user turns", ["user turns", "pairs"],
                      [[turns, f"{n:,}"] for turns, n in
                       sorted(sources.by_turns.items(), key=lambda kv: int(kv[0]))]))
    if sources.pre_labels:
        out.append(_table("Pre-labels experts judged", ["kind", "judged", "confirmed",
                                                        "overturned"],
                          [[kind, f"{j:,}", f"{c:,}", f"{o:,}"]
                           for kind, (j, c, o) in sources.pre_labels.items()]))
    changes = sources.refresh
    out.append(_table(f"Changed at refresh: {changes.flipped:,} of {changes.answered:,} "
                      "decisions re-made flipped", ["dimension", "re-made", "flipped"],
                      [[d, f"{a:,}", f"{f:,}"] for d, (a, f) in changes.by_dimension.items()]))
    out.append("</section>")
    return "".join(out)


def _staleness(report: QualityReport) -> str:
    s = report.staleness
    oldest = f"{s.oldest_judged_at:%Y-%m-%d}" if s.oldest_judged_at else "–"
    rows = [[f"judged more than {s.max_age_days} days ago", f"{s.older_than_max_age:,}"],
            ["judged under an older guideline version", f"{s.older_guideline_version:,}"],
            ["guideline version unknown (e.g. imported judgments)",
             f"{s.unknown_guideline_version:,}"],
            ["judgment time unknown", f"{s.judged_at_unknown:,}"],
            ["oldest judgment behind a kept pair", oldest]]
    return ('<section aria-labelledby="s-stale"><h2 id="s-stale">Stale data</h2>'
            f"<p>Current guideline version: <code>{escape(s.current_guideline_version)}</code>."
            "</p>" + _table(f"Of {s.kept:,} kept pairs", ["", "pairs"], rows) + "</section>")

#!/usr/bin/env python3
"""Checks a Grafana dashboard against a real Prometheus scrape.

    python3 podman/check_dashboard.py podman/grafana/coffer.json scrape.txt
    python3 podman/check_dashboard.py --self-test

The dashboard must parse, every panel (rows and text panels aside) must query, and
every metric name in its PromQL (panel targets and query variables) must be exposed
by the scrape: as a sample name, or as a `# TYPE` family plus the suffix its type
allows, so families without samples yet still count. Exits 1 when a check fails or
no metric name was found at all. Python 3.11, standard library only.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field

IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
# Numbers, durations and hex: `0.99`, `1e-3`, `5m`, `1h30m`, `0x1f`.
NUMBER = re.compile(r"[0-9.]+(?:[eE][-+]?[0-9]+)?[A-Za-z0-9_]*")
# Grafana variables: `$var`, `${var}`, `${var:format}` (`[[var]]` is a bracket pair).
VARIABLE = re.compile(r"\$(?:\{[^}]*\}|\w+)")

# `sum by (le) (...)`: what follows an aggregation's name.
AGGREGATION_CLAUSE = re.compile(r"(?i)(?:by|without)\s*\(")

# Followed by parentheses holding label names, not expressions.
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Keywords and number literals that look like identifiers.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}

# A sample line ends in its value, then maybe a timestamp.
SAMPLE_END = re.compile(
    r"[\s}](?:[-+]?(?:[0-9][0-9.eE+-]*|\.[0-9][0-9eE+-]*|Inf|NaN))(?:\s+-?[0-9.]+)?$"
)

# Suffixes a `# TYPE` family's samples take, by type.
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
    "info": ("", "_info"),
}


# --- PromQL ---------------------------------------------------------------------------


def skip_string(s: str, i: int) -> int:
    """The index after the string literal opening at `i`."""
    quote, i = s[i], i + 1
    while i < len(s):
        if s[i] == "\\" and quote != "`":
            i += 2
            continue
        if s[i] == quote:
            return i + 1
        i += 1
    raise ValueError(f"unterminated string in {s!r}")


def skip_group(s: str, i: int, open_: str, close: str) -> int:
    """The index after the bracket pair opening at `i`; strings inside are skipped."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c in "\"'`":
            i = skip_string(s, i)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced {open_}{close} in {s!r}")


def unquote(literal: str) -> str:
    if literal[0] == "`":
        return literal[1:-1]
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def matcher_names(body: str) -> set[str]:
    """Metric names a `{...}` matcher list selects: `__name__="x"`, or a bare `"x"`."""
    tokens: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c.isspace():
            i += 1
        elif c in "\"'`":
            end = skip_string(body, i)
            tokens.append(body[i:end])
            i = end
        elif m := re.match(r"=~|!~|!=|=|,", body[i:]):
            tokens.append(m.group())
            i += len(m.group())
        elif m := IDENT.match(body, i):
            tokens.append(m.group())
            i = m.end()
        else:
            i += 1
    names = set()
    for k, tok in enumerate(tokens):
        if tok[0] not in "\"'`":
            continue
        before = tokens[k - 1] if k else ","
        if before == "," and (k + 1 == len(tokens) or tokens[k + 1] == ","):
            names.add(unquote(tok))
        elif before == "=" and k >= 2 and tokens[k - 2] in ("__name__", '"__name__"'):
            names.add(unquote(tok))
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    names: set[str] = set()
    s, i = expr, 0
    while i < len(s):
        c = s[i]
        if c.isspace():
            i += 1
        elif c == "#":
            end = s.find("\n", i)
            i = len(s) if end < 0 else end
        elif c in "\"'`":
            i = skip_string(s, i)
        elif c == "$" and (m := VARIABLE.match(s, i)):
            i = m.end()
        elif c == "[":
            # Ranges and subqueries (`[5m]`, `[$__rate_interval:1m]`), and `[[var]]`.
            i = skip_group(s, i, "[", "]")
        elif c == "{":
            end = skip_group(s, i, "{", "}")
            names |= matcher_names(s[i + 1 : end - 1])
            i = end
        elif c.isdigit() or (c == "." and s[i + 1 : i + 2].isdigit()):
            i = NUMBER.match(s, i).end()
        elif m := IDENT.match(s, i):
            word, i = m.group(), m.end()
            j = i
            while j < len(s) and s[j].isspace():
                j += 1
            follows_paren = s.startswith("(", j)
            if word.lower() in GROUPING:
                if follows_paren:
                    i = skip_group(s, j, "(", ")")
            elif word.lower() in KEYWORDS:
                pass
            elif follows_paren or AGGREGATION_CLAUSE.match(s, j):
                pass  # a function or aggregation: its arguments are read on
            else:
                names.add(word)
        else:
            i += 1
    return names


def split_args(s: str) -> list[str]:
    """Top-level comma-separated arguments of `s`."""
    args, depth, start, i = [], 0, 0, 0
    while i < len(s):
        c = s[i]
        if c in "\"'`":
            i = skip_string(s, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(s[start:i])
            start = i + 1
        i += 1
    args.append(s[start:])
    return [a.strip() for a in args]


def variable_query_names(query: str) -> set[str]:
    """Metric names a Grafana Prometheus variable query reads."""
    query = query.strip()
    m = re.fullmatch(r"(\w+)\s*\((.*)\)", query, re.S)
    if not m:
        return metric_names(query) if query else set()
    func, inner = m.group(1), m.group(2)
    if func in ("label_values", "label_names"):
        args = split_args(inner)
        # label_values(selector, label) or label_values(label); label_names(selector).
        selector = args[0] if (func == "label_names" or len(args) == 2) else ""
        return metric_names(selector) if selector else set()
    if func == "metrics":
        return set()  # a regex over names, nothing to check
    if func == "query_result":
        return metric_names(inner)
    return metric_names(query)


# --- Dashboard ------------------------------------------------------------------------


@dataclass
class Dashboard:
    """What the dashboard queries: metric name -> where it is used."""

    uses: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def use(self, names: set[str], where: str) -> None:
        for name in names:
            self.uses.setdefault(name, []).append(where)


def all_panels(panels: list[dict]) -> list[dict]:
    out = []
    for p in panels:
        out.append(p)
        out.extend(all_panels(p.get("panels", [])))  # collapsed rows
    return out


def read_dashboard(doc: dict) -> Dashboard:
    d = Dashboard()
    panels = all_panels(doc.get("panels", []))
    if not [p for p in panels if p.get("type") != "row"]:
        d.errors.append("the dashboard has no panels")
    for p in panels:
        kind, title = p.get("type"), p.get("title") or f"panel {p.get('id')}"
        if kind in ("row", "text"):
            continue
        ds = p.get("datasource")
        if isinstance(ds, dict) and not str(ds.get("uid", "")).startswith("$"):
            d.errors.append(f"{title}: datasource {ds} is not a template variable")
        exprs = 0
        for t in p.get("targets", []):
            if (t.get("datasource") or {}).get("type") == "__expr__":
                continue  # Grafana server-side expressions have no PromQL
            expr = (t.get("expr") or "").strip()
            if not expr:
                d.errors.append(f"{title}: target {t.get('refId')} has no expr")
                continue
            exprs += 1
            try:
                d.use(metric_names(expr), f"{title} ({t.get('refId')})")
            except ValueError as e:
                d.errors.append(f"{title}: {e}")
        if exprs == 0:
            d.errors.append(f"{title}: no target with an expr")
    for v in doc.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or v.get("definition", ""))
        try:
            d.use(variable_query_names(q), f"variable ${v.get('name')}")
        except ValueError as e:
            d.errors.append(f"variable ${v.get('name')}: {e}")
    return d


# --- Scrape ---------------------------------------------------------------------------


def exposed_names(text: str) -> set[str]:
    """Every name a query may use against this exposition."""
    names: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                family, kind = parts[2], parts[3].lower()
                if kind == "counter" and family.endswith("_total"):
                    names.add(family)  # prometheus-client's text encoder names it so
                else:
                    names.update(family + s for s in SUFFIXES.get(kind, ("",)))
            continue
        if not SAMPLE_END.search(line):
            continue  # not a sample: an error body, say
        if line.startswith('{"'):
            names.add(unquote(line[1 : skip_string(line, 1)]))  # quoted (UTF-8) name
        elif m := IDENT.match(line):
            names.add(m.group())
    return names


# --- Main -----------------------------------------------------------------------------


def check(dashboard_path: str, scrape_path: str) -> int:
    try:
        with open(dashboard_path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"FAIL: cannot read the dashboard: {e}")
        return 1
    try:
        with open(scrape_path, encoding="utf-8") as f:
            exposed = exposed_names(f.read())
    except (OSError, ValueError) as e:
        print(f"FAIL: cannot read the scrape: {e}")
        return 1
    d = read_dashboard(doc)
    failed = bool(d.errors)
    for e in d.errors:
        print(f"FAIL: {e}")
    if not exposed:
        print("FAIL: the scrape holds no metrics (a /metrics body? was the token given?)")
        failed = True
    if not d.uses:
        print("FAIL: no metric names found in the dashboard")
        failed = True
    for name in sorted(d.uses):
        found = name in exposed
        failed |= not found
        where = "; ".join(d.uses[name])
        print(f"{'ok     ' if found else 'MISSING'} {name}  [{where}]")
    missing = sum(name not in exposed for name in d.uses)
    print(f"{len(d.uses)} metric names, {missing} missing, {len(d.errors)} other errors")
    return 1 if failed else 0


# PromQL -> the metric names it must yield.
SELF_TEST_EXPRS = {
    'histogram_quantile(0.99, sum by (le, route) '
    '(rate(coffer_http_request_duration_seconds_bucket{job="coffer"}[5m])))':
        {"coffer_http_request_duration_seconds_bucket"},
    'sum by (route, status_class) (label_replace(rate(coffer_http_requests_total'
    '{job="$job", route=~"$route"}[$__rate_interval]), "status_class", "${1}xx", '
    '"status", "([0-9]).."))':
        {"coffer_http_requests_total"},
    "sum(rate(coffer_audit_wait_seconds_total[5m])) / sum(rate(coffer_audit_waits_total[5m]))":
        {"coffer_audit_wait_seconds_total", "coffer_audit_waits_total"},
    "max by (instance) (coffer_used_bytes) / on(instance) group_left(version) "
    "max by(instance, version) (build_info offset -5m @ end())":
        {"coffer_used_bytes", "build_info"},
    "sum(x) BY (le) > bool Inf and y unless z or w * NaN": {"x", "y", "z", "w"},
    'topk(5, a) + count_values("version", b) + quantile(0.9, rate(c[1h:1m])) * 1e-3 + 0x1f':
        {"a", "b", "c"},
    '{__name__="up", job="coffer"} + {"utf8.name", job="x"} + {__name__=~"a.*", job="y"}':
        {"up", "utf8.name"},
    'label_replace(rec:rule:rate5m, "a", "\\"}b", "c", "(.*)")  # fake_name in a comment':
        {"rec:rule:rate5m"},
    "$metric + [[old]] + ${__range_s} + rate(e[[[interval]]]) + vector(1)": {"e"},
    "sum without (le, route) (f)": {"f"},
}

SELF_TEST_SCRAPE = """\
# HELP coffer_http_requests_total HTTP requests.
# TYPE coffer_http_requests_total counter
# TYPE coffer_presigns counter
# TYPE coffer_http_request_duration_seconds histogram
# TYPE coffer_users gauge
coffer_users 3
coffer_x_total{kind="a"} 1
{"utf8.name"} 1
{"detail": "not a sample", "error_code": "X"}
"""


def self_test() -> int:
    """Checks the checker; plain comparisons, so `python3 -O` cannot skip them."""
    failures: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    for expr, want in SELF_TEST_EXPRS.items():
        got = metric_names(expr)
        expect(got == want, f"{expr!r}: got {sorted(got)}, want {sorted(want)}")

    for query, want in {
        'label_values(coffer_users{job="coffer"}, instance)': {"coffer_users"},
        "label_values(job)": set(),
        'query_result(topk(3, g{a="b"}))': {"g"},
        "metrics(coffer_.*)": set(),
    }.items():
        got = variable_query_names(query)
        expect(got == want, f"variable {query!r}: got {sorted(got)}, want {sorted(want)}")

    exposed = exposed_names(SELF_TEST_SCRAPE)
    for name in [
        "coffer_http_requests_total", "coffer_presigns_total", "coffer_users",
        "coffer_http_request_duration_seconds_bucket",
        "coffer_http_request_duration_seconds_count", "coffer_x_total", "utf8.name",
    ]:
        expect(name in exposed, f"{name} should be exposed")
    for name in [
        "coffer_http_requests", "coffer_http_requests_total_total", "coffer_presigns",
        "coffer_http_request_duration_seconds", "coffer_users_total", "coffer_x",
    ]:
        expect(name not in exposed, f"{name} should not be exposed")
    expect("detail" not in exposed, "a JSON line is not a sample")

    d = read_dashboard({
        "panels": [
            {"type": "row", "title": "r", "panels": [
                {"type": "stat", "title": "s", "targets": [{"refId": "A", "expr": "coffer_users"}]},
            ]},
            {"type": "timeseries", "title": "t", "targets": [{"refId": "A"}]},
        ],
        "templating": {"list": [
            {"type": "query", "name": "job", "query": {"query": "label_values(h, job)"}},
        ]},
    })
    expect(set(d.uses) == {"coffer_users", "h"}, f"dashboard uses {sorted(d.uses)}")
    expect("t: target A has no expr" in d.errors, f"errors {d.errors}")
    expect("t: no target with an expr" in d.errors, f"errors {d.errors}")

    for f in failures:
        print(f"FAIL: {f}")
    if failures:
        return 1
    print(f"self-test passed ({len(SELF_TEST_EXPRS)} expressions)")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print("usage: check_dashboard.py DASHBOARD.json SCRAPE.txt | --self-test", file=sys.stderr)
        return 2
    return check(*argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

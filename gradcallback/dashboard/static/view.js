// DOM building for the viewer. Every user string (tokens, run names, alerts, labels) goes in
// through textContent or a form control's value, never parsed as markup: a token that looks like
// an HTML tag shows as its characters and creates no element.
import {SPECIAL, SECOND} from "./decode.js";
import {colour, ink, printable} from "./model.js";

export function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

export function options(select, items, selected) {
  select.replaceChildren(...items.map(([value, label]) => el("option", {value, selected: value === selected}, label)));
}

function labelled(text, control) {
  const wrap = el("label", {class: "gc-field"});
  wrap.append(el("span", {}, text), control);
  return wrap;
}

// The page skeleton; returns the controls and containers the viewer drives.
export function layout(root) {
  const r = {
    run: el("select", {"data-gc": "run"}), method: el("select", {"data-gc": "method"}),
    compare: el("select", {"data-gc": "compare"}), diff: el("select", {"data-gc": "diff"}),
    merge: el("input", {type: "checkbox", "data-gc": "merge"}),
    slider: el("input", {type: "range", min: 0, max: 0, value: 0, step: 1, "data-gc": "slider"}),
    stepLabel: el("span", {class: "gc-step", "data-gc": "step"}), alerts: el("div", {class: "gc-alerts", "data-gc": "alerts"}),
    search: el("input", {type: "search", placeholder: "search text or token", "data-gc": "search"}),
    misclassified: el("input", {type: "checkbox", "data-gc": "misclassified"}),
    alerted: el("input", {type: "checkbox", "data-gc": "alerted"}),
    group: el("select", {"data-gc": "group"}), sort: el("select", {"data-gc": "sort"}),
    count: el("div", {class: "gc-count", "data-gc": "count"}), list: el("div", {class: "gc-list", "data-gc": "list"}),
    header: el("div", {class: "gc-header", "data-gc": "header"}), panes: el("div", {class: "gc-panes"}),
    legend: el("div", {class: "gc-legend", "data-gc": "legend"}),
    matrix: el("div", {class: "gc-matrix", "data-gc": "matrix", hidden: true}),
    table: el("div", {"data-gc": "token-table"}), tableBox: el("details", {class: "gc-table"}),
    tooltip: el("div", {class: "gc-tooltip", hidden: true, "data-gc": "tooltip"}),
    status: el("div", {class: "gc-status", "data-gc": "status"}),
  };
  options(r.diff, [["", "no diff"], ["first", "diff vs first step"], ["previous", "diff vs previous step"]], "");
  const bar = el("div", {class: "gc-bar"});
  bar.append(labelled("run", r.run), labelled("method", r.method), labelled("beside", r.compare), r.diff,
             labelled("words", r.merge), r.slider, r.stepLabel);
  const filters = el("div", {class: "gc-filters"});
  filters.append(r.search, labelled("misclassified", r.misclassified), labelled("alerted", r.alerted),
                 labelled("contains", r.group), labelled("sort", r.sort));
  const side = el("div", {class: "gc-side"});
  side.append(filters, r.count, r.list);
  r.tableBox.append(el("summary", {}, "Probe-set token table (this step)"), r.table);
  const main = el("div", {class: "gc-main"});
  main.append(r.header, r.legend, r.panes, r.matrix, r.tableBox);
  const body = el("div", {class: "gc-body"});
  body.append(side, main);
  root.replaceChildren(bar, r.status, r.alerts, body, r.tooltip);
  root.classList.add("gc-root");
  return r;
}

// One probe list row per probe, created once per run; filters only hide and reorder them.
export function listRow(i, text) {
  const row = el("div", {class: "gc-row", tabIndex: 0, "data-gc": "probe-row", "data-i": String(i)});
  row.append(el("span", {class: "gc-idx"}, `#${i}`), el("span", {class: "gc-conf"}), el("span", {class: "gc-snip"}, text));
  return row;
}

// Token elements of one probe: question | context for QA, span and group tokens outlined.
export function pane(title, list, span) {
  const box = el("div", {class: "gc-pane"}), text = el("div", {class: "gc-text"});
  box.append(el("div", {class: "gc-pane-title"}, title), text);
  const spans = list.map((u, j) => {
    const node = el("span", {class: "gc-tok", "data-gc": "token", "data-i": String(j)}, printable(u.text));
    if (u.flags & SPECIAL) node.classList.add("gc-special");
    if (u.bits) node.classList.add("gc-group");
    if (span && u.positions.some((p) => p >= span[0] && p <= span[1])) node.classList.add("gc-span");
    return node;
  });
  const split = spans.findIndex((s, j) => list[j].flags & SECOND);
  if (split > 0) text.append(...spans.slice(0, split), el("span", {class: "gc-sep"}, "|"), ...spans.slice(split));
  else text.append(...spans);
  return {box, spans};
}

// Recolour in place: only styles change, the elements stay.
export function paint(spans, values, scale, signed) {
  spans.forEach((node, j) => {
    const rgb = colour(scale > 0 ? values[j] / scale : 0, signed);
    node.style.backgroundColor = `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
    node.style.color = ink(rgb);
  });
}

// A causal LM's per-token matrix: one row per continuation token, one column per prompt token (its
// attribution of that token's log-probability), scaled by the matrix's largest |value|; `m` null hides it.
export function matrix(box, m, promptTokens, signed) {
  box.hidden = !m;
  if (!m) { box.replaceChildren(); return; }
  const head = el("tr", {}, "");
  head.append(el("th", {}, "continuation \\ prompt"), ...promptTokens.map((t) => el("th", {}, printable(t))));
  const rows = m.rows.map((row, j) => {
    const tr = el("tr", {"data-gc": "matrix-row"});
    tr.append(el("th", {}, printable(m.tokens[j])), ...row.map((v) => {
      const rgb = colour(v, signed), cell = el("td", {title: fmt(v * m.scale)}, "");
      cell.style.backgroundColor = `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
      return cell;
    }));
    return tr;
  });
  const grid = el("table", {}, "");
  grid.append(head, ...rows);
  box.replaceChildren(el("div", {class: "gc-pane-title"}, `per continuation token (scaled to ${fmt(m.scale)})`), grid);
}

export function legend(box, signed, scale, what) {
  const bar = el("span", {class: signed ? "gc-bar-signed" : "gc-bar-unsigned"});
  box.replaceChildren(el("span", {}, signed ? `−${fmt(scale)}` : "0"), bar,
                      el("span", {}, `${fmt(scale)}  (${what}; colours scaled to this probe's largest |value|)`));
}

export function fmt(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return x.toExponential(3);
  const text = x.toPrecision(4); // 4 significant digits; trailing zeros after the point dropped
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

export function tooltip(box, lines, x, y) {
  box.replaceChildren(...lines.map((line) => el("div", {}, line)));
  box.hidden = false;
  box.style.left = `${x + 12}px`;
  box.style.top = `${y + 14}px`;
}

const COLUMNS = [["token", "token"], ["share", "share of mass"], ["probes", "probes"], ["top", "in top-10"], ["score", "mean score"]];

// The probe-set token table, sorted by `key`; clicking a header calls `onSort(key)`.
export function table(box, rows, key, descending, onSort, limit = 300) {
  const order = (a, b) => (key === "token" ? (a.token < b.token ? -1 : a.token > b.token ? 1 : 0) : a[key] - b[key]);
  const sorted = [...rows].sort((a, b) => order(a, b) * (descending ? -1 : 1));
  const head = el("tr");
  for (const [k, label] of COLUMNS) {
    const th = el("th", {"data-gc": `sort-${k}`}, label + (k === key ? (descending ? " ▼" : " ▲") : ""));
    th.addEventListener("click", () => onSort(k));
    head.append(th);
  }
  const body = sorted.slice(0, limit).map((r) => {
    const tr = el("tr", {"data-gc": "table-row"});
    tr.append(el("td", {}, printable(r.token)), el("td", {}, `${(100 * r.share).toFixed(2)}%`),
              el("td", {}, String(r.probes)), el("td", {}, String(r.top)), el("td", {}, fmt(r.score)));
    return tr;
  });
  const note = rows.length > limit ? el("p", {}, `${limit} of ${rows.length} shown`) : "";
  const grid = el("table");
  grid.append(head, ...body);
  box.replaceChildren(grid, note);
}

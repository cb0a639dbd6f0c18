// The Attributions viewer: one module for the TensorBoard tab (data from the plugin's routes) and
// the offline HTML report (data inlined). `mount(root, source)`; a source has runs(), steps(run,
// method) -> {steps, alertSteps} and payload(run, method, step) -> ArrayBuffer. Payloads are fetched one step at a time.
import {decodePayload} from "./decode.js";
import {units, unitScores, ranksAndShares, peak, searchIndex, matches, misclassified, groupShare, containsGroup,
        alertStrength, rankChange, tokenTable} from "./model.js";
import {el, options, layout, listRow, pane, paint, legend, fmt, tooltip, table} from "./view.js";

const CACHED = 32; // decoded steps kept (about 300 KB each at 1,000 probes)
let active = null; // the viewer arrow keys move: the last one used (a report page holds one per run)

// Resolves once the browser has painted what the DOM now holds (the frame after the next one
// started), so the Performance measures below include style, layout and paint, not just our code.
function painted() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

export async function mount(root, source) {
  const viewer = new Viewer(root, source);
  await viewer.start();
  return viewer;
}

class Viewer {
  constructor(root, source) {
    this.root = root; this.source = source; this.r = layout(root);
    this.cache = new Map(); this.stepsOf = new Map(); this.seq = 0; this.busy = 0;
    active = active || this;
    this.s = {run: null, method: null, k: 0, probe: 0, tableKey: "share", tableDesc: true};
    this.wire();
  }

  load(method, step) {
    const key = `${this.s.run}\u0000${method}\u0000${step}`;
    if (!this.cache.has(key)) {
      this.cache.set(key, this.source.payload(this.s.run, method, step).then(decodePayload));
      if (this.cache.size > CACHED) this.cache.delete(this.cache.keys().next().value);
    }
    const hit = this.cache.get(key);
    hit.catch(() => this.cache.delete(key));
    return hit;
  }

  async steps(method) {
    const key = `${this.s.run}\u0000${method}`;
    if (!this.stepsOf.has(key)) this.stepsOf.set(key, this.source.steps(this.s.run, method));
    return this.stepsOf.get(key);
  }

  async start() {
    await this.guarded(async () => {
      this.runs = await this.source.runs();
      if (!this.runs.length) return this.status("No gradcallback dashboard data in this log folder yet.");
      options(this.r.run, this.runs.map((r) => [r.run, r.run]), this.runs[0].run);
      await this.selectRun(this.runs[0].run);
      await painted();
      performance.mark("gc-first-paint");
      this.root.setAttribute("data-gc-ready", "1");
    });
  }

  status(text) { this.r.status.textContent = text; }

  // Runs an async action; errors go to the status line; data-gc-pending counts actions in flight.
  async guarded(action) {
    this.root.setAttribute("data-gc-pending", String(++this.busy));
    try {
      await action();
    } catch (error) {
      this.status(`Could not load the dashboard data: ${error.message}`);
    } finally {
      this.root.setAttribute("data-gc-pending", String(--this.busy));
    }
  }

  // A run opens at its last logged step, on its most interesting probe.
  async selectRun(run) {
    this.s.run = run;
    const methods = this.runs.find((r) => r.run === run).methods.map((m) => m.method);
    this.methods = methods;
    options(this.r.method, methods.map((m) => [m, m]), methods[0]);
    this.index = null; this.stepList = null;
    await this.selectMethod(methods[0], true);
  }

  async selectMethod(method, initial = false) {
    const previous = this.stepList ? this.stepList[this.s.k] : undefined;
    this.s.method = method;
    options(this.r.compare, [["", "(none)"], ...this.methods.filter((m) => m !== method).map((m) => [m, m])],
            this.r.compare.value !== method ? this.r.compare.value : "");
    const {steps, alertSteps} = await this.steps(method);
    this.stepList = steps;
    // A run opens on its latest alert (else its last step); a method switch keeps the step.
    const opening = previous === undefined ? (alertSteps.length ? alertSteps[alertSteps.length - 1] : steps[steps.length - 1])
      : previous;
    const k = Math.max(0, steps.filter((s) => s <= opening).length - 1);
    this.r.slider.max = String(this.stepList.length - 1);
    this.r.slider.value = String(k);
    this.s.k = k;
    this.P = await this.load(method, this.stepList[k]);
    if (!this.index) this.buildList();
    if (initial) this.s.probe = await this.mostInteresting();
    await this.renderProbe();
    await this.afterStep();
  }

  buildList() {
    const P = this.P;
    this.index = searchIndex(P);
    this.rows = this.index.texts.map((text, i) => listRow(i, text));
    this.order = null;
    options(this.r.group, [["", "any group"], ...P.groups.map((g, k) => [String(k), g])], "");
    options(this.r.sort, [["index", "probe #"], ["conf-asc", "confidence, lowest first"],
                          ["conf-desc", "confidence, highest first"], ["rank", "rank change since first step"],
                          ["alert", "alerted group share"],
                          ...P.groups.map((g, k) => [`group:${k}`, `share of ${g}`])], "index");
  }

  // The largest alert; else the most confident misclassification; else the largest rank change.
  async mostInteresting() {
    const P = this.P, all = [...Array(P.n).keys()];
    const best = (score) => all.reduce((a, b) => (score(b) > score(a) ? b : a), 0);
    if (all.some((i) => alertStrength(P, i) > 0)) return best((i) => alertStrength(P, i));
    const wrong = all.filter((i) => misclassified(P, i));
    if (wrong.length) return wrong.reduce((a, b) => (P.probes.prob[b] > P.probes.prob[a] ? b : a));
    const first = await this.load(this.s.method, this.stepList[0]);
    return best((i) => rankChange(P, first, i));
  }

  async setStep(k) {
    const seq = ++this.seq;
    performance.mark("gc-step-start");
    const P = await this.load(this.s.method, this.stepList[k]);
    if (seq !== this.seq) return; // a later move of the slider wins
    this.s.k = k; this.P = P;
    await this.paintProbe();
    await this.afterStep();
    await painted();
    performance.measure("gc-step", "gc-step-start");
    for (const next of [k + 1, k - 1]) {
      if (next >= 0 && next < this.stepList.length) this.load(this.s.method, this.stepList[next]).catch(() => {});
    }
  }

  async afterStep() {
    const P = this.P, step = this.stepList[this.s.k];
    this.r.stepLabel.textContent = `step ${step} (${this.s.k + 1}/${this.stepList.length})`;
    this.r.stepLabel.setAttribute("data-value", String(step));
    this.r.alerts.replaceChildren(...P.alerts.map((a) => el("div", {class: "gc-alert"}, `[${a.tag}] ${a.text}`)));
    this.rows.forEach((row, i) => {
      const p = P.probes.prob[i], text = (misclassified(P, i) ? "✗ " : "") + (p === null ? "" : `p=${p.toFixed(2)}`);
      if (row.children[1].textContent !== text) row.children[1].textContent = text; // untouched rows: no relayout
    });
    await this.applyFilters();
    if (this.r.tableBox.open) this.renderTable();
  }

  async applyFilters() {
    const P = this.P, r = this.r, query = r.search.value, g = r.group.value, sort = r.sort.value;
    let shown = [...Array(P.n).keys()].filter((i) => matches(this.index, i, query)
      && (!r.misclassified.checked || misclassified(P, i)) && (!r.alerted.checked || alertStrength(P, i) > 0)
      && (g === "" || containsGroup(P, i, Number(g))));
    const first = sort === "rank" ? await this.load(this.s.method, this.stepList[0]) : null;
    const key = {
      "conf-asc": (i) => P.probes.prob[i] ?? 0, "conf-desc": (i) => -(P.probes.prob[i] ?? 0),
      rank: (i) => -rankChange(P, first, i), alert: (i) => -alertStrength(P, i),
    }[sort] || (sort.startsWith("group:") ? (i) => -groupShare(P, i, Number(sort.slice(6))) : (i) => i);
    const keys = new Map(shown.map((i) => [i, key(i)]));
    shown = shown.sort((a, b) => keys.get(a) - keys.get(b) || a - b);
    this.rows.forEach((row, i) => row.classList.toggle("gc-selected", i === this.s.probe));
    const order = shown.join(",");
    if (order !== this.order) { // the same list (a step that changed no order): leave the DOM alone
      r.list.replaceChildren(...shown.map((i) => this.rows[i]));
      this.order = order;
    }
    r.count.textContent = `${shown.length} of ${P.n} probes`;
  }

  // Typing in the search box: filter, redraw the list, and measure it until painted.
  async search() {
    performance.mark("gc-search-start");
    await this.applyFilters();
    await painted();
    performance.measure("gc-search", "gc-search-start");
  }

  async selectProbe(i) {
    this.s.probe = i;
    this.rows.forEach((row, j) => row.classList.toggle("gc-selected", j === i));
    await this.renderProbe();
  }

  // Build the token elements of the selected probe (one pane per method shown), then colour them.
  async renderProbe() {
    const merge = this.r.merge.checked, i = this.s.probe, methods = [this.s.method];
    if (this.r.compare.value) methods.push(this.r.compare.value);
    const P = this.P, span = P.probes.span ? P.probes.span[i] : null;
    this.panes = methods.map((method) => ({method, list: units(P, i, merge)}));
    this.panes.forEach((p) => Object.assign(p, pane(p.method, p.list, span)));
    this.r.panes.replaceChildren(...this.panes.map((p) => p.box));
    this.r.panes.classList.toggle("gc-two", this.panes.length > 1);
    await this.paintProbe();
  }

  // Recolour the existing token elements for the current step, method(s) and diff mode.
  async paintProbe() {
    const i = this.s.probe, diff = this.r.diff.value, step = this.stepList[this.s.k];
    for (const p of this.panes) {
      const steps = p.method === this.s.method ? this.stepList : (await this.steps(p.method)).steps;
      const at = steps.filter((s) => s <= step).pop() ?? steps[0];
      const Q = p.method === this.s.method ? this.P : await this.load(p.method, at);
      const ref = diff === "first" ? steps[0] : diff === "previous" ? (steps.filter((s) => s < at).pop() ?? at) : null;
      const R = ref === null ? null : await this.load(p.method, ref);
      p.scores = unitScores(Q, i, p.list);
      p.ref = R ? unitScores(R, i, p.list) : null;
      p.values = p.ref ? p.scores.map((s, j) => s - p.ref[j]) : p.scores;
      p.stats = ranksAndShares(p.scores);
      p.signed = Q.signed || Boolean(p.ref);
      p.scale = peak(p.values);
      paint(p.spans, p.values, p.scale, p.signed);
      p.box.firstChild.textContent = `${p.method} at step ${at}` + (ref === null ? "" : `, minus step ${ref}`);
      p.box.firstChild.title = `colours: ${p.signed ? "red negative, blue positive" : "white to blue"}, scaled to ` +
        `the largest |${p.ref ? "change" : "score"}| here, ${fmt(p.scale)}`;
    }
    const first = this.panes[0];
    legend(this.r.legend, first.signed, first.scale, first.ref ? "difference" : "score");
    this.header();
  }

  header() {
    const P = this.P, i = this.s.probe, pr = P.probes, names = P.labelNames;
    const name = (c) => (c === null || c === undefined ? "?" : names && names[c] !== undefined ? names[c] : String(c));
    const parts = [`probe #${i}`];
    if (P.task === "question_answering") {
      parts.push(`answer: "${pr.answer[i] ?? ""}"`, `tokens ${pr.span[i]?.join("–")}`, `p=${fmt(pr.prob[i])}`);
      if (pr.label[i] !== null) parts.push(`expected: "${pr.label[i]}"`);
    } else {
      parts.push(`predicted: ${name(pr.pred[i])}`, `p=${fmt(pr.prob[i])}`);
      if (pr.label[i] !== null) parts.push(`label: ${name(pr.label[i])}`);
      parts.push(`target: ${name(pr.target[i])}`);
    }
    if (pr.delta && pr.delta[i] !== null) parts.push(`IG delta ${fmt(pr.delta[i])}`);
    if (misclassified(P, i)) parts.push("✗ misclassified");
    this.r.header.textContent = parts.join("  ·  ");
  }

  hover(event) {
    const node = event.target.closest("[data-gc=token]");
    const p = node && this.panes.find((q) => q.box.contains(node));
    if (!p) { this.r.tooltip.hidden = true; return; }
    const j = Number(node.getAttribute("data-i")), u = p.list[j], groups = this.P.groups.filter((g, k) => (u.bits >> k) & 1);
    const lines = [node.textContent, `score ${fmt(p.scores[j])}`];
    if (p.ref) lines.push(`before ${fmt(p.ref[j])}, change ${fmt(p.values[j])}`);
    lines.push(`rank ${p.stats.rank[j]} of ${p.list.length}`, `share ${(100 * p.stats.share[j]).toFixed(1)}%`);
    if (groups.length) lines.push(`group: ${groups.join(", ")}`);
    const box = this.root.getBoundingClientRect();
    tooltip(this.r.tooltip, lines, event.clientX - box.left, event.clientY - box.top);
  }

  renderTable() {
    const rows = tokenTable(this.P, this.r.merge.checked);
    table(this.r.table, rows, this.s.tableKey, this.s.tableDesc, (key) => {
      this.s.tableDesc = key === this.s.tableKey ? !this.s.tableDesc : key !== "token";
      this.s.tableKey = key;
      this.renderTable();
    });
  }

  wire() {
    const r = this.r, run = (fn) => (...args) => this.guarded(() => fn(...args));
    r.slider.addEventListener("input", run(() => this.setStep(Number(r.slider.value))));
    r.method.addEventListener("change", run(() => this.selectMethod(r.method.value)));
    r.run.addEventListener("change", run(() => this.selectRun(r.run.value)));
    r.compare.addEventListener("change", run(() => this.renderProbe()));
    r.diff.addEventListener("change", run(() => this.paintProbe()));
    r.merge.addEventListener("change", run(async () => { await this.renderProbe(); if (r.tableBox.open) this.renderTable(); }));
    r.search.addEventListener("input", run(() => this.search()));
    for (const c of [r.misclassified, r.alerted, r.group, r.sort]) c.addEventListener("change", run(() => this.applyFilters()));
    r.tableBox.addEventListener("toggle", run(async () => { if (r.tableBox.open) this.renderTable(); }));
    r.list.addEventListener("click", (e) => {
      const row = e.target.closest("[data-gc=probe-row]");
      if (row) run(() => this.selectProbe(Number(row.getAttribute("data-i"))))();
    });
    r.panes.addEventListener("mouseover", (e) => this.hover(e));
    r.panes.addEventListener("mouseleave", () => { r.tooltip.hidden = true; });
    for (const kind of ["pointerdown", "focusin"]) this.root.addEventListener(kind, () => { active = this; });
    this.root.ownerDocument.addEventListener("keydown", (e) => {
      const typing = e.target.closest && e.target.closest("input, select, textarea");
      if (typing || active !== this || !["ArrowLeft", "ArrowRight"].includes(e.key) || !this.stepList) return;
      const k = Math.max(0, Math.min(this.stepList.length - 1, this.s.k + (e.key === "ArrowRight" ? 1 : -1)));
      if (k !== this.s.k) { r.slider.value = String(k); run(() => this.setStep(k))(); }
    });
  }
}

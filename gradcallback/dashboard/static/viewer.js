// The Attributions viewer: one module for the TensorBoard tab (data from the plugin's routes) and
// the offline HTML report (data inlined). `mount(root, source)`; a source has runs(), steps(run,
// method) -> {steps, alertSteps, alertMethods?} and payload(run, method, step) -> ArrayBuffer. Payloads
// are fetched one step at a time.
import {decodePayload, LRUCache} from "./decode.js";
import {units, searchIndex, misclassified, tokenTable, alertText, openingMethod, stepIndex, paneSteps, paneScores,
        mostInteresting, probeOrder} from "./model.js";
import {el, options, layout, listRow, pane, paint, legend, matrix, fmt, tooltip, table} from "./view.js";

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
    this.cache = new LRUCache(CACHED); this.stepsOf = new Map(); this.busy = 0;
    this.latest = 0; // bumped by every action: only the latest one paints (see refresh)
    active = active || this;
    // What the user asked for; null: the opening choice (the alert's method and step, the most
    // interesting probe). `shown` is what the page holds now, painted from one gather().
    this.s = {run: null, method: null, step: null, probe: null, tableKey: "share", tableDesc: true};
    this.shown = null;
    this.wire();
  }

  load(run, method, step) {
    const key = `${run}\u0000${method}\u0000${step}`;
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.source.payload(run, method, step).then(decodePayload);
      this.cache.set(key, hit);
      hit.catch(() => { if (this.cache.get(key) === hit) this.cache.delete(key); }); // retried next time
    }
    return hit;
  }

  steps(run, method) {
    const key = `${run}\u0000${method}`;
    if (!this.stepsOf.has(key)) {
      const answer = this.source.steps(run, method);
      this.stepsOf.set(key, answer);
      answer.catch(() => this.stepsOf.delete(key));
    }
    return this.stepsOf.get(key);
  }

  async start() {
    await this.guarded(async () => {
      this.runs = await this.source.runs();
      if (!this.runs.length) return this.status("No gradcallback dashboard data in this log folder yet.");
      options(this.r.run, this.runs.map((r) => [r.run, r.run]), this.runs[0].run);
      this.s.run = this.runs[0].run;
      await this.refresh();
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

  // The actions: each records what was asked in this.s (the other controls keep theirs), then refreshes.
  async selectRun(run) {
    Object.assign(this.s, {run, step: null, probe: null}); // a run opens on its alert; a picked method stays
    await this.refresh();
  }

  async selectMethod(method) {
    this.s.method = method;
    await this.refresh();
  }

  async selectProbe(i) {
    this.s.probe = i;
    await this.refresh();
  }

  async setStep(k) {
    if (!this.shown) return; // nothing shown yet: the slider has no steps
    const steps = this.shown.steps;
    this.s.step = steps[k];
    performance.mark("gc-step-start");
    if (!(await this.refresh())) return;
    await painted();
    performance.measure("gc-step", "gc-step-start");
    for (const next of [k + 1, k - 1]) {
      if (next >= 0 && next < steps.length) this.load(this.shown.run, this.shown.method, steps[next]).catch(() => {});
    }
  }

  // Typing in the search box: filter, redraw the list, and measure it until painted.
  async search() {
    performance.mark("gc-search-start");
    if (!(await this.refresh())) return;
    await painted();
    performance.measure("gc-search", "gc-search-start");
  }

  // Fetch what the page needs now, then paint it in one synchronous go, unless a newer action began
  // meanwhile (true: painted). One counter shared by all actions, not one per kind: each paint is of
  // the whole request (run, method, step, probe and every control), so the newest one already holds
  // what the older ones asked for, while a step answer arriving after a method switch must not paint.
  async refresh() {
    const ticket = ++this.latest;
    let d;
    try {
      d = await this.gather();
    } catch (error) {
      if (ticket !== this.latest) return false; // an older action's failure: the newer one decides
      throw error;
    }
    if (ticket !== this.latest) return false;
    this.paint(d);
    return true;
  }

  // Everything one paint shows, from this.s and the controls; awaits the data, touches no DOM.
  async gather() {
    const s = this.s, r = this.r, run = s.run;
    const methods = this.runs.find((x) => x.run === run).methods.map((m) => m.method);
    const method = await this.openingMethod(run, methods);
    const {steps, alertSteps} = await this.steps(run, method);
    const k = stepIndex(steps, alertSteps, s.step), step = steps[k];
    const P = await this.load(run, method, step);
    const first = () => this.load(run, method, steps[0]);
    const probe = s.probe !== null && s.probe < P.n ? s.probe : await mostInteresting(P, first);
    const diff = r.diff.value, merge = r.merge.checked;
    const compare = methods.includes(r.compare.value) && r.compare.value !== method ? r.compare.value : "";
    const panes = [];
    for (const m of compare ? [method, compare] : [method]) {
      const {at, ref} = paneSteps(m === method ? steps : (await this.steps(run, m)).steps, step, diff);
      const Q = m === method ? P : await this.load(run, m, at);
      panes.push({method: m, at, refStep: ref, Q, R: ref === null ? null : await this.load(run, m, ref)});
    }
    const sameRun = this.shown && this.shown.run === run;
    const filters = {query: r.search.value, misclassified: r.misclassified.checked, alerted: r.alerted.checked,
                     group: sameRun ? r.group.value : "", sort: sameRun ? r.sort.value : "index"};
    const firstP = filters.sort === "rank" ? await first() : null;
    return {run, methods, method, steps, k, step, P, probe, merge, diff, compare, panes, filters, firstP};
  }

  // The method a run opens on (see openingMethod): the latest alert's, from the steps answer's
  // alertMethods, or from that step's payload when the server predates alertMethods.
  async openingMethod(run, methods) {
    if (methods.includes(this.s.method)) return this.s.method;
    const {alertSteps, alertMethods} = await this.steps(run, methods[0]);
    if (!alertSteps.length) return methods[0];
    const named = alertMethods ? alertMethods[alertSteps.length - 1] || []
      : (await this.load(run, methods[0], alertSteps[alertSteps.length - 1])).alerts.map((a) => a.method);
    return openingMethod(methods, null, named);
  }

  // Synchronous: the DOM changes for d, only where it differs from what is shown.
  paint(d) {
    const r = this.r, was = this.shown || {}, newRun = d.run !== was.run;
    this.status("");
    if (newRun) this.buildList(d.P);
    if (newRun || d.method !== was.method) {
      options(r.method, d.methods.map((m) => [m, m]), d.method);
      options(r.compare, [["", "(none)"], ...d.methods.filter((m) => m !== d.method).map((m) => [m, m])], d.compare);
    }
    r.compare.value = d.compare;
    r.slider.max = String(d.steps.length - 1);
    r.slider.value = String(d.k);
    r.stepLabel.textContent = `step ${d.step} (${d.k + 1}/${d.steps.length})`;
    r.stepLabel.setAttribute("data-value", String(d.step));
    if (newRun || d.P !== was.P) this.paintStep(d.P);
    this.paintPanes(d, was);
    this.shown = d;
    Object.assign(this.s, {step: d.step, probe: d.probe});
    this.header();
    this.applyFilters(d);
    if (r.tableBox.open && (d.P !== was.P || d.merge !== was.merge)) this.renderTable();
  }

  buildList(P) {
    this.index = searchIndex(P);
    this.rows = this.index.texts.map((text, i) => listRow(i, text));
    this.order = null;
    options(this.r.group, [["", "any group"], ...P.groups.map((g, k) => [String(k), g])], "");
    options(this.r.sort, [["index", "probe #"], ["conf-asc", "confidence, lowest first"],
                          ["conf-desc", "confidence, highest first"], ["rank", "rank change since first step"],
                          ["alert", "alerted group share"],
                          ...P.groups.map((g, k) => [`group:${k}`, `share of ${g}`])], "index");
  }

  // What changes with the step: its alerts, and the confidence column of the probe list.
  paintStep(P) {
    this.r.alerts.replaceChildren(...(P.alerts || []).map((a) => el("div", {class: "gc-alert"}, alertText(a))));
    this.rows.forEach((row, i) => {
      const p = P.probes.prob[i], text = (misclassified(P, i) ? "✗ " : "") + (p === null ? "" : `p=${p.toFixed(2)}`);
      if (row.children[1].textContent !== text) row.children[1].textContent = text; // untouched rows: no relayout
    });
  }

  // Token elements are built when the probe, the words toggle or the panes change; else recoloured in place.
  paintPanes(d, was) {
    const same = (p, q) => q && p.method === q.method && p.Q === q.Q && p.R === q.R;
    const rebuild = d.run !== was.run || d.probe !== was.probe || d.merge !== was.merge
      || d.panes.map((p) => p.method).join() !== (was.panes || []).map((p) => p.method).join();
    if (!rebuild && d.panes.every((p, j) => same(p, was.panes[j]))) {
      d.panes = was.panes; // nothing to recolour (a filter or search changed)
      this.panes = d.panes;
      return;
    }
    const span = d.P.probes.span ? d.P.probes.span[d.probe] : null;
    d.panes.forEach((p, j) => {
      p.list = rebuild ? units(d.P, d.probe, d.merge) : was.panes[j].list;
      Object.assign(p, rebuild ? pane(p.method, p.list, span) : {box: was.panes[j].box, spans: was.panes[j].spans});
      Object.assign(p, paneScores(p.Q, p.R, d.probe, p.list));
      paint(p.spans, p.values, p.scale, p.signed);
      p.box.firstChild.textContent = `${p.method} at step ${p.at}` + (p.R ? `, minus step ${p.refStep}` : "");
      p.box.firstChild.title = `colours: ${p.signed ? "red negative, blue positive" : "white to blue"}, scaled to ` +
        `the largest |${p.R ? "change" : "score"}| here, ${fmt(p.scale)}`;
    });
    if (rebuild) {
      this.r.panes.replaceChildren(...d.panes.map((p) => p.box));
      this.r.panes.classList.toggle("gc-two", d.panes.length > 1);
    }
    this.panes = d.panes;
    const lead = d.panes[0];
    legend(this.r.legend, lead.signed, lead.scale, lead.R ? "difference" : "score");
  }

  applyFilters(d) {
    const shown = probeOrder(d.P, this.index, d.filters, d.firstP);
    this.rows.forEach((row, i) => row.classList.toggle("gc-selected", i === d.probe));
    const order = shown.join(",");
    if (order !== this.order) { // the same list (a step that changed no order): leave the DOM alone
      this.r.list.replaceChildren(...shown.map((i) => this.rows[i]));
      this.order = order;
    }
    this.r.count.textContent = `${shown.length} of ${d.P.n} probes`;
  }

  header() {
    const P = this.shown.P, i = this.shown.probe, pr = P.probes, names = P.labelNames;
    const name = (c) => (c === null || c === undefined ? "?" : names && names[c] !== undefined ? names[c] : String(c));
    const parts = [`probe #${i}`];
    if (pr.continuation) { // a causal LM's explained continuation, after the prompt shown below
      parts.push(`continuation: "${pr.continuation[i] ?? ""}"`, `greedy: "${pr.answer[i] ?? ""}"`,
                 `mean log p ${fmt(pr.mean_logprob[i])}`, `p=${fmt(pr.prob[i])}`);
      if (pr.label[i] !== null) parts.push(`expected: "${pr.label[i]}"`);
    } else if (P.task === "question_answering") {
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
    const lead = this.panes && this.panes[0];
    matrix(this.r.matrix, pr.token_scores ? pr.token_scores[i] : null, units(P, i, false).map((u) => u.text),
           lead ? lead.signed : true);
  }

  hover(event) {
    const node = event.target.closest("[data-gc=token]");
    const p = node && this.panes.find((q) => q.box.contains(node));
    if (!p) { this.r.tooltip.hidden = true; return; }
    const j = Number(node.getAttribute("data-i")), u = p.list[j], groups = this.shown.P.groups.filter((g, k) => (u.bits >> k) & 1);
    const lines = [node.textContent, `score ${fmt(p.scores[j])}`];
    if (p.ref) lines.push(`before ${fmt(p.ref[j])}, change ${fmt(p.values[j])}`);
    lines.push(`rank ${p.stats.rank[j]} of ${p.list.length}`, `share ${(100 * p.stats.share[j]).toFixed(1)}%`);
    if (groups.length) lines.push(`group: ${groups.join(", ")}`);
    const box = this.root.getBoundingClientRect();
    tooltip(this.r.tooltip, lines, event.clientX - box.left, event.clientY - box.top);
  }

  renderTable() {
    const rows = tokenTable(this.shown.P, this.shown.merge);
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
    // The other controls hold their own value: a change only refreshes (gather reads them).
    for (const c of [r.compare, r.diff, r.merge, r.misclassified, r.alerted, r.group, r.sort]) {
      c.addEventListener("change", run(() => this.refresh()));
    }
    r.search.addEventListener("input", run(() => this.search()));
    r.tableBox.addEventListener("toggle", () => { if (r.tableBox.open && this.shown) this.renderTable(); });
    r.list.addEventListener("click", (e) => {
      const row = e.target.closest("[data-gc=probe-row]");
      if (row) run(() => this.selectProbe(Number(row.getAttribute("data-i"))))();
    });
    r.panes.addEventListener("mouseover", (e) => this.hover(e));
    r.panes.addEventListener("mouseleave", () => { r.tooltip.hidden = true; });
    for (const kind of ["pointerdown", "focusin"]) this.root.addEventListener(kind, () => { active = this; });
    this.root.ownerDocument.addEventListener("keydown", (e) => {
      const typing = e.target.closest && e.target.closest("input, select, textarea");
      if (typing || active !== this || !["ArrowLeft", "ArrowRight"].includes(e.key) || !this.shown) return;
      const steps = this.shown.steps, now = stepIndex(steps, [], this.s.step); // from the step asked last
      const k = Math.max(0, Math.min(steps.length - 1, now + (e.key === "ArrowRight" ? 1 : -1)));
      if (k !== now) { r.slider.value = String(k); run(() => this.setStep(k))(); }
    });
  }
}

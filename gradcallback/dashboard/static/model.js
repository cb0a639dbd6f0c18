// What the view shows, computed from decoded payloads: units (tokens or merged words), colours,
// ranks and shares, per-probe metrics for filters and sorting, the probe-set token table.
import {WORD_START, SPECIAL} from "./decode.js";

const WHITE = [255, 255, 255], BLUE = [8, 81, 156], RED = [178, 24, 43]; // as render.py's PNG heatmaps
const LEVELS = 256;

// Control characters made visible as U+XXXX, like tables.printable in Python.
export function printable(text) {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point here
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => "U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0"));
}

// Colour of a score normalized to [-1, 1]: render.colours' lookup table (white at 0).
export function colour(value, signed) {
  const v = Number.isFinite(value) ? Math.max(-1, Math.min(1, value)) : 0;
  const index = Math.round((v + 1) * LEVELS), negative = index < LEVELS;
  const t = !signed && negative ? 0 : Math.abs(index / LEVELS - 1);
  const end = negative && signed ? RED : BLUE;
  return WHITE.map((w, k) => Math.round(w + (end[k] - w) * t));
}

export function ink([r, g, b]) {
  return 0.299 * r + 0.587 * g + 0.114 * b < 140 ? "#fff" : "#141414";
}

// A piece's text without the marker its tokenizer's scheme puts on it (the payload's `marker`, from
// adapters/words.py); payloads written before the scheme travelled fall back to guessing.
function pieceText(token, first, marker) {
  if (marker !== undefined) return (marker && token.startsWith(marker) ? token.slice(marker.length) : token) || token;
  if (!first && token.startsWith("##")) return token.slice(2);
  return token.replace(/^[\u0120\u2581]+/, "") || token; // BPE "Ġ", SentencePiece "▁"
}

// One probe's display units: tokens, or words (pieces merged, scores summed, as tables.words).
export function units(P, i, merge) {
  const out = [];
  for (let t = P.offsets[i]; t < P.offsets[i + 1]; t++) {
    const flags = P.flags[t], token = P.vocab[P.tokens[t]], bits = P.groupBits ? P.groupBits[t] : 0;
    const last = out[out.length - 1];
    if (merge && last && !(flags & WORD_START)) {
      last.text += pieceText(token, false, P.marker);
      last.positions.push(t - P.offsets[i]);
      last.bits |= bits;
    } else {
      const text = merge && !(flags & SPECIAL) ? pieceText(token, true, P.marker) : token;
      out.push({text, flags, bits, positions: [t - P.offsets[i]]});
    }
  }
  return out;
}

// Scores of `units` at payload P (summed over a word's pieces).
export function unitScores(P, i, list) {
  const base = P.offsets[i];
  return Float64Array.from(list, (u) => u.positions.reduce((s, p) => s + P.scores[base + p], 0));
}

// Rank of |score| (1 = largest) and share of the probe's attribution mass, per unit.
export function ranksAndShares(scores) {
  const mass = Array.from(scores, Math.abs), total = mass.reduce((a, b) => a + b, 0);
  const order = mass.map((m, k) => k).sort((a, b) => mass[b] - mass[a] || a - b);
  const rank = new Int32Array(scores.length);
  order.forEach((k, r) => { rank[k] = r + 1; });
  return {rank, share: mass.map((m) => (total > 0 ? m / total : 0))};
}

export function peak(scores) {
  let m = 0;
  for (const s of scores) if (Number.isFinite(s)) m = Math.max(m, Math.abs(s));
  return m;
}

// Per-probe words joined by spaces, lower-cased, for text search; and its token set.
export function searchIndex(P) {
  const texts = [], tokens = [];
  for (let i = 0; i < P.n; i++) {
    const words = units(P, i, true).filter((u) => !(u.flags & SPECIAL)).map((u) => u.text);
    texts.push(words.join(" "));
    const set = new Set();
    for (let t = P.offsets[i]; t < P.offsets[i + 1]; t++) set.add(P.vocab[P.tokens[t]].toLowerCase());
    tokens.push(set);
  }
  return {texts, lower: texts.map((t) => t.toLowerCase()), tokens};
}

export function matches(index, i, query) {
  const q = query.trim().toLowerCase();
  return !q || index.lower[i].includes(q) || index.tokens[i].has(q);
}

const norm = (text) => String(text ?? "").toLowerCase().split(/\s+/).filter(Boolean).join(" ");

// Predicted wrongly. The writer's own verdict, `probes.correct` (true / false / null: no label), when
// the payload has it: only Python knows how BPE answers and causal LMs compare with their labels.
// Payloads written before it existed fall back to comparing here.
export function misclassified(P, i) {
  if (P.probes.correct !== undefined) return P.probes.correct[i] === false;
  const label = P.probes.label[i];
  if (label === null || label === undefined) return false;
  if (P.task === "question_answering") return norm(P.probes.answer?.[i]) !== norm(label);
  return P.probes.pred[i] !== label;
}

// An alert as shown: structured records carry a `message`; older payloads {tag, text}.
export function alertText(alert) {
  return `[${alert.tag}] ${alert.message ?? alert.text ?? ""}`;
}

// The method a run opens on: the user's own pick when this run has it; else the first method that the
// latest alert step's alerts name (`named`, may hold nulls); else the run's first method.
export function openingMethod(methods, chosen, named = []) {
  if (methods.includes(chosen)) return chosen;
  return named.find((m) => methods.includes(m)) ?? methods[0];
}

// Index in `steps` of the step to show: the last one at or before `wanted` (a method switch keeps the
// step); with no wanted step, the latest alert step, else the last step.
export function stepIndex(steps, alertSteps, wanted) {
  const target = wanted ?? (alertSteps.length ? alertSteps[alertSteps.length - 1] : steps[steps.length - 1]);
  return Math.max(0, steps.filter((s) => s <= target).length - 1);
}

// For a pane of a method logged at `steps`, shown at `step`: the step it shows (its last at or before
// `step`) and the reference step of the diff mode ("first", "previous"; null: no diff).
export function paneSteps(steps, step, diff) {
  const at = steps.filter((s) => s <= step).pop() ?? steps[0];
  const ref = diff === "first" ? steps[0] : diff === "previous" ? (steps.filter((s) => s < at).pop() ?? at) : null;
  return {at, ref};
}

// What one pane paints for probe i's `list` of units: scores at Q, minus those at R when diffing.
export function paneScores(Q, R, i, list) {
  const scores = unitScores(Q, i, list), ref = R ? unitScores(R, i, list) : null;
  const values = ref ? scores.map((s, j) => s - ref[j]) : scores;
  return {scores, ref, values, stats: ranksAndShares(scores), signed: Q.signed || Boolean(ref), scale: peak(values)};
}

export function groupShare(P, i, g) {
  let hit = 0, total = 0;
  for (let t = P.offsets[i]; t < P.offsets[i + 1]; t++) {
    const m = Math.abs(P.scores[t]);
    total += m;
    if (P.groupBits && (P.groupBits[t] >> g) & 1) hit += m;
  }
  return total > 0 ? hit / total : 0;
}

export function containsGroup(P, i, g) {
  if (!P.groupBits) return false;
  for (let t = P.offsets[i]; t < P.offsets[i + 1]; t++) if ((P.groupBits[t] >> g) & 1) return true;
  return false;
}

// Largest share of a group named by this step's alerts (0: the probe holds none of them).
export function alertStrength(P, i) {
  let best = 0;
  for (const name of P.alertGroups || []) {
    const g = P.groups.indexOf(name);
    if (g >= 0 && containsGroup(P, i, g)) best = Math.max(best, groupShare(P, i, g), 1e-9);
  }
  return best;
}

// The probe a run opens on: the largest alert; else the most confident misclassification; else the
// largest rank change since the first step (`first()`: a promise of that step's payload, asked only then).
export async function mostInteresting(P, first) {
  const all = [...Array(P.n).keys()];
  const best = (score) => all.reduce((a, b) => (score(b) > score(a) ? b : a), 0);
  if (all.some((i) => alertStrength(P, i) > 0)) return best((i) => alertStrength(P, i));
  const wrong = all.filter((i) => misclassified(P, i));
  if (wrong.length) return wrong.reduce((a, b) => (P.probes.prob[b] > P.probes.prob[a] ? b : a));
  const F = await first();
  return best((i) => rankChange(P, F, i));
}

// The probes the list shows, in order: those passing the filters f = {query, misclassified, alerted,
// group ("" or a group's index), sort}, sorted by f.sort, ties by probe number. `first`: the first
// step's payload, needed by the "rank" sort only.
export function probeOrder(P, index, f, first) {
  const g = f.group, shown = [...Array(P.n).keys()].filter((i) => matches(index, i, f.query)
    && (!f.misclassified || misclassified(P, i)) && (!f.alerted || alertStrength(P, i) > 0)
    && (g === "" || containsGroup(P, i, Number(g))));
  const key = {
    "conf-asc": (i) => P.probes.prob[i] ?? 0, "conf-desc": (i) => -(P.probes.prob[i] ?? 0),
    rank: (i) => -rankChange(P, first, i), alert: (i) => -alertStrength(P, i),
  }[f.sort] || (f.sort.startsWith("group:") ? (i) => -groupShare(P, i, Number(f.sort.slice(6))) : (i) => i);
  const keys = new Map(shown.map((i) => [i, key(i)]));
  return shown.sort((a, b) => keys.get(a) - keys.get(b) || a - b);
}

function rankdata(values) {
  const order = Array.from(values.keys()).sort((a, b) => values[a] - values[b]), ranks = new Float64Array(values.length);
  for (let s = 0; s < order.length;) {
    let e = s;
    while (e + 1 < order.length && values[order[e + 1]] === values[order[s]]) e++;
    for (let k = s; k <= e; k++) ranks[order[k]] = (s + e) / 2;
    s = e + 1;
  }
  return ranks;
}

// 1 - Spearman correlation of |scores| with the first logged step (0: same order, up to 2: reversed).
export function rankChange(P, first, i) {
  const a = [], b = [];
  for (let t = P.offsets[i]; t < P.offsets[i + 1]; t++) a.push(Math.abs(P.scores[t]));
  for (let t = first.offsets[i]; t < first.offsets[i + 1]; t++) b.push(Math.abs(first.scores[t]));
  if (a.length !== b.length || a.length < 2) return 0;
  const ra = rankdata(a), rb = rankdata(b), mean = (a.length - 1) / 2;
  let num = 0, da = 0, db = 0;
  for (let k = 0; k < a.length; k++) {
    num += (ra[k] - mean) * (rb[k] - mean); da += (ra[k] - mean) ** 2; db += (rb[k] - mean) ** 2;
  }
  return da > 0 && db > 0 ? 1 - num / Math.sqrt(da * db) : 0;
}

// Probe-set table: per token (or word) its mean share of mass, probes holding it, probes with it in their top k.
export function tokenTable(P, merge, k = 10) {
  const rows = new Map();
  for (let i = 0; i < P.n; i++) {
    const list = units(P, i, merge), scores = unitScores(P, i, list), {rank, share} = ranksAndShares(scores);
    const top = list.map((u, j) => j).filter((j) => !(list[j].flags & SPECIAL))
      .sort((x, y) => rank[x] - rank[y]).slice(0, k);
    const seen = new Set();
    list.forEach((u, j) => {
      const row = rows.get(u.text) || {token: u.text, share: 0, probes: 0, top: 0, score: 0, count: 0};
      row.share += share[j] / P.n; row.score += scores[j]; row.count += 1;
      if (!seen.has(u.text)) { row.probes += 1; seen.add(u.text); }
      rows.set(u.text, row);
    });
    for (const text of new Set(top.map((j) => list[j].text))) rows.get(text).top += 1;
  }
  return [...rows.values()].map((r) => ({...r, score: r.score / r.count}));
}

// Payload decoding and data sources: the only code that knows the bytes (see payload.py).
// Plain ES module, no dependencies: served by the TensorBoard plugin and inlined in the HTML report.

export const WORD_START = 1, SPECIAL = 2, SECOND = 4;
const TYPES = {uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, float16: Uint16Array, float32: Float32Array};
let HALF = null; // float16 bits -> float32, built once (Float16Array is too recent to rely on)

function halfTable() {
  if (HALF) return HALF;
  HALF = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    if (exp === 0) HALF[h] = sign * frac * 2 ** -24;
    else if (exp === 31) HALF[h] = frac ? NaN : sign * Infinity;
    else HALF[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return HALF;
}

function view(buffer, start, [offset, dtype, count]) {
  const Type = TYPES[dtype];
  if (!Type) throw new Error(`unknown array type ${dtype}`);
  return new Type(buffer, start + offset, count); // offsets are 4-byte aligned by the writer
}

// An ArrayBuffer (uncompressed) -> one step of one method, scores as float32.
export function decodePayload(buffer) {
  const bytes = new Uint8Array(buffer, 0, 4);
  if (String.fromCharCode(...bytes) !== "GCA1") throw new Error("not a gradcallback payload");
  const size = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, size)));
  const start = 8 + size, a = header.arrays, half = halfTable(), scales = view(buffer, start, a.scales);
  const offsets = view(buffer, start, a.offsets), raw = view(buffer, start, a.scores);
  const scores = new Float32Array(raw.length);
  for (let i = 0; i + 1 < offsets.length; i++) {
    for (let t = offsets[i]; t < offsets[i + 1]; t++) scores[t] = half[raw[t]] * scales[i];
  }
  return {
    step: header.step, method: header.method, signed: header.signed, task: header.task,
    scheme: header.scheme, marker: header.marker, labelNames: header.label_names, groups: header.groups, alerts: header.alerts,
    alertGroups: header.alert_groups, vocab: header.vocab, probes: header.probes,
    n: offsets.length - 1, offsets, tokens: view(buffer, start, a.tokens), scores,
    flags: view(buffer, start, a.flags), groupBits: a.groups ? view(buffer, start, a.groups) : null,
  };
}

// The viewer's decoded-payload cache: at most `limit` entries, the least recently used evicted first
// (a hit moves its entry to the most-recent end, so the step being looked at and its neighbours stay).
export class LRUCache {
  constructor(limit) { this.limit = limit; this.entries = new Map(); } // a Map iterates in insertion order

  get size() { return this.entries.size; }

  has(key) { return this.entries.has(key); }

  get(key) {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key);
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key, value) {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value);
    return this;
  }

  delete(key) { return this.entries.delete(key); }

  keys() { return [...this.entries.keys()]; } // least recently used first
}

async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

// The writer sends alert_methods as {"<step>": [methods]} (keys: the alert steps); the viewer reads
// alertMethods[k] for alertSteps[k]. A list already in that order passes through; absent stays undefined.
export function methodsByAlertStep(alertSteps, alertMethods) {
  if (alertMethods === undefined || alertMethods === null || Array.isArray(alertMethods)) return alertMethods ?? undefined;
  return alertSteps.map((step) => alertMethods[String(step)] || []);
}

// The TensorBoard plugin's routes, relative to the plugin page (its <base> is plugin/gradcallback/).
// steps() answers {steps, alertSteps, alertMethods}: alertMethods[k] lists the methods named by the
// alerts at alertSteps[k]; undefined from a plugin that predates it (the viewer then reads a payload).
export function serverSource() {
  const q = (params) => new URLSearchParams(params).toString();
  return {
    runs: async () => (await (await fetchOk("runs")).json()).runs,
    steps: async (run, method) => {
      const answer = await (await fetchOk(`steps?${q({run, method})}`)).json();
      return {steps: answer.steps, alertSteps: answer.alert_steps,
              alertMethods: methodsByAlertStep(answer.alert_steps, answer.alert_methods)};
    },
    payload: async (run, method, step) =>
      (await fetchOk(`payload?${q({run, method, step})}`)).arrayBuffer(), // gzip undone by the browser
  };
}

// The offline report, inlined in the page: {runs: [{run, methods: {method: {payloads: {step: base64
// gzip}, alert_steps: [...], alert_methods: {step: [...]}}}}]} (alert_methods absent before it existed).
export function inlineSource(data) {
  const find = (run, method) => data.runs.find((r) => r.run === run).methods[method];
  return {
    runs: async () => data.runs.map((r) => ({run: r.run, methods: Object.keys(r.methods).map((method) => ({method}))})),
    steps: async (run, method) => ({
      steps: Object.keys(find(run, method).payloads).map(Number).sort((x, y) => x - y),
      alertSteps: find(run, method).alert_steps,
      alertMethods: methodsByAlertStep(find(run, method).alert_steps, find(run, method).alert_methods),
    }),
    payload: async (run, method, step) => {
      const text = atob(find(run, method).payloads[String(step)]);
      const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
      return gunzip(bytes);
    },
  };
}

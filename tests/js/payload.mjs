// Builds payload bytes by hand, as gradcallback/dashboard/payload.py lays them out (uncompressed):
// "GCA1" | uint32 LE header length | header JSON, space-padded to 4 bytes | arrays, each 4-byte aligned,
// header.arrays naming [byte offset from the first array, dtype, count]. No Python involved, so the
// decoder is checked against the format itself.

const TYPES = {uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, float16: Uint16Array, float32: Float32Array};

// arrays: [[name, dtype, values]]; float16 values are given as their bit patterns (0x3c00 is 1.0).
export function buildPayload(header, arrays) {
  const layout = {}, parts = [];
  let cursor = 0;
  for (const [name, dtype, values] of arrays) {
    const bytes = new Uint8Array(TYPES[dtype].from(values).buffer);
    layout[name] = [cursor, dtype, values.length];
    parts.push([cursor, bytes]);
    cursor += Math.ceil(bytes.length / 4) * 4;
  }
  let text = JSON.stringify({...header, arrays: layout});
  const encoded = new TextEncoder().encode(text);
  text += " ".repeat((4 - (encoded.length % 4)) % 4);
  const json = new TextEncoder().encode(text), out = new Uint8Array(8 + json.length + cursor);
  out.set([0x47, 0x43, 0x41, 0x31]); // "GCA1"
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, 8);
  for (const [offset, bytes] of parts) out.set(bytes, 8 + json.length + offset);
  return out.buffer;
}

// float16 bit patterns used below.
export const H = {0: 0x0000, 1: 0x3c00, 0.5: 0x3800, 0.75: 0x3a00, 0.125: 0x3000, "-0.25": 0xb400, "-1": 0xbc00};

export const VOCAB = ["[CLS]", "the", "at", "##iku", "[SEP]", "a", "film"];

// Two classification probes: "[CLS] the at ##iku [SEP]" (group "names" on at, ##iku) and
// "[CLS] a film [SEP]". Stored scores times scales (2 and 4): [0, 1, 2, -0.5, 0] and [0, 3, -4, 0.5].
export function classifier({step = 0, probes = {}, alerts = [], half = null, scales = [2, 4]} = {}) {
  const header = {
    version: 1, step, method: "gradient_norm", signed: false, task: "classification",
    label_names: ["general", "political"], groups: ["names"], alerts, alert_groups: ["names"], vocab: VOCAB,
    probes: {pred: [1, 0], prob: [0.9, 0.6], target: [1, 0], label: [1, 1], ...probes},
  };
  return buildPayload(header, [
    ["offsets", "uint32", [0, 5, 9]],
    ["tokens", "uint16", [0, 1, 2, 3, 4, 0, 5, 6, 4]],
    ["scores", "float16", half ?? [H[0], H[0.5], H[1], H["-0.25"], H[0], H[0], H[0.75], H["-1"], H[0.125]]],
    ["scales", "float32", scales],
    ["flags", "uint8", [3, 1, 1, 0, 3, 3, 1, 1, 3]],
    ["groups", "uint8", [0, 0, 1, 1, 0, 0, 0, 0, 0]],
  ]);
}

// One QA probe: question "[CLS] who ? [SEP]" | context "paris [SEP]" (flag 4), predicted span 4..4.
export function qa({answer = "Paris", label = "paris", probes = {}} = {}) {
  const header = {
    version: 1, step: 0, method: "gradient_x_input", signed: true, task: "question_answering",
    label_names: null, groups: [], alerts: [], alert_groups: [], vocab: ["[CLS]", "who", "?", "[SEP]", "paris"],
    probes: {pred: [null], prob: [0.7], target: [[4, 4]], label: [label], span: [[4, 4]], answer: [answer], ...probes},
  };
  return buildPayload(header, [
    ["offsets", "uint32", [0, 6]],
    ["tokens", "uint16", [0, 1, 2, 3, 4, 3]],
    ["scores", "float16", [H[0], H[0.5], H["-0.25"], H[0], H[1], H[0]]],
    ["scales", "float32", [1]],
    ["flags", "uint8", [3, 1, 1, 3, 5, 7]],
  ]);
}

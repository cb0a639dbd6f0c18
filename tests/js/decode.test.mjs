// decode.js in node: the payload format read from bytes built by hand (payload.mjs), the LRU cache,
// and the inline source's answers.
import {test} from "node:test";
import assert from "node:assert/strict";
import {gzipSync} from "node:zlib";
import {decodePayload, LRUCache, inlineSource, methodsByAlertStep, WORD_START, SPECIAL, SECOND} from "../../gradcallback/dashboard/static/decode.js";
import {classifier, qa, buildPayload} from "./payload.mjs";

test("flag bits match payload.py", () => {
  assert.deepEqual([WORD_START, SPECIAL, SECOND], [1, 2, 4]);
});

test("decodes the header and the aligned arrays", () => {
  const P = decodePayload(classifier({step: 7}));
  assert.equal(P.step, 7);
  assert.equal(P.method, "gradient_norm");
  assert.equal(P.signed, false);
  assert.equal(P.task, "classification");
  assert.equal(P.n, 2);
  assert.deepEqual([...P.offsets], [0, 5, 9]);
  assert.deepEqual([...P.tokens], [0, 1, 2, 3, 4, 0, 5, 6, 4]);
  assert.deepEqual([...P.flags], [3, 1, 1, 0, 3, 3, 1, 1, 3]);
  assert.deepEqual([...P.groupBits], [0, 0, 1, 1, 0, 0, 0, 0, 0]);
  assert.deepEqual(P.labelNames, ["general", "political"]);
  assert.deepEqual(P.groups, ["names"]);
  assert.deepEqual(P.alertGroups, ["names"]);
  assert.deepEqual(P.probes.pred, [1, 0]);
});

test("scores are the float16 values times each probe's scale", () => {
  const P = decodePayload(classifier());
  assert.ok(P.scores instanceof Float32Array);
  assert.deepEqual([...P.scores], [0, 1, 2, -0.5, 0, 0, 3, -4, 0.5]);
});

test("float16 subnormals, infinities and NaN", () => {
  // 0x0001 is 2**-24, the smallest subnormal; 0x7c00 +inf; 0xfc00 -inf; 0x7e00 NaN; 0x7bff 65504.
  const P = decodePayload(classifier({half: [0x0001, 0x7c00, 0xfc00, 0x7e00, 0x7bff, 0, 0, 0, 0], scales: [1, 1]}));
  assert.equal(P.scores[0], 2 ** -24);
  assert.equal(P.scores[1], Infinity);
  assert.equal(P.scores[2], -Infinity);
  assert.ok(Number.isNaN(P.scores[3]));
  assert.equal(P.scores[4], 65504);
});

test("a header whose length needs padding, with non-ASCII text", () => {
  const P = decodePayload(qa({answer: "Pärïs ✓"}));
  assert.equal(P.task, "question_answering");
  assert.deepEqual(P.probes.answer, ["Pärïs ✓"]);
  assert.deepEqual([...P.scores], [0, 0.5, -0.25, 0, 1, 0]);
  assert.equal(P.groupBits, null); // no groups array: no groups
});

test("uint32 token indices", () => {
  const header = {step: 0, method: "m", signed: true, task: "classification", label_names: null, groups: [],
                  alerts: [], alert_groups: [], vocab: ["a", "b"], probes: {pred: [0], prob: [1], target: [0], label: [null]}};
  const P = decodePayload(buildPayload(header, [["offsets", "uint32", [0, 2]], ["tokens", "uint32", [1, 0]],
    ["scores", "float16", [0x3c00, 0xbc00]], ["scales", "float32", [0.5]], ["flags", "uint8", [1, 1]]]));
  assert.deepEqual([...P.tokens], [1, 0]);
  assert.deepEqual([...P.scores], [0.5, -0.5]);
});

test("refuses bytes that are not a payload", () => {
  assert.throws(() => decodePayload(new TextEncoder().encode("GCA2\0\0\0\0").buffer), /not a gradcallback payload/);
});

test("LRU cache: a hit moves the entry to the most recent end", () => {
  const cache = new LRUCache(3);
  cache.set("a", 1).set("b", 2).set("c", 3);
  assert.deepEqual(cache.keys(), ["a", "b", "c"]);
  assert.equal(cache.get("a"), 1); // a is now the most recent
  assert.deepEqual(cache.keys(), ["b", "c", "a"]);
  cache.set("d", 4); // evicts b, the least recently used (insertion order would evict a)
  assert.deepEqual(cache.keys(), ["c", "a", "d"]);
  assert.equal(cache.has("b"), false);
  assert.equal(cache.get("b"), undefined); // a miss changes nothing
  assert.deepEqual(cache.keys(), ["c", "a", "d"]);
  cache.set("c", 30); // setting a key again refreshes it too
  assert.deepEqual(cache.keys(), ["a", "d", "c"]);
  assert.equal(cache.get("c"), 30);
  cache.delete("a");
  assert.equal(cache.size, 2);
  assert.deepEqual(cache.keys(), ["d", "c"]);
});

test("LRU cache: the limit holds however many entries arrive", () => {
  const cache = new LRUCache(2);
  for (let k = 0; k < 10; k++) { cache.set(k, k); cache.get(0); }
  assert.deepEqual(cache.keys(), [9, 0]); // 0, read after every insertion, survives as the most recent
});

test("alert methods: the writer's {step: methods} in alert-step order; a list or nothing passes through", () => {
  assert.deepEqual(methodsByAlertStep([1, 4], {"4": ["integrated_gradients"], "1": ["gradient_norm", "x"]}),
                   [["gradient_norm", "x"], ["integrated_gradients"]]);
  assert.deepEqual(methodsByAlertStep([3], {}), [[]]); // an alert step whose alerts name no method
  assert.deepEqual(methodsByAlertStep([3], [["a"]]), [["a"]]);
  assert.equal(methodsByAlertStep([3], undefined), undefined);
});

test("inline source: runs, steps with alert methods, gunzipped payloads", async () => {
  const b64 = (buffer) => gzipSync(Buffer.from(buffer)).toString("base64");
  const data = {runs: [{run: "r/attributions", methods: {
    gradient_norm: {payloads: {"10": b64(classifier({step: 10})), "2": b64(classifier({step: 2}))},
                    alert_steps: [10], alert_methods: {"10": ["integrated_gradients"]}}, // as the writer sends it
    old: {payloads: {"0": b64(classifier())}, alert_steps: []},
  }}]};
  const source = inlineSource(data);
  assert.deepEqual(await source.runs(), [{run: "r/attributions", methods: [{method: "gradient_norm"}, {method: "old"}]}]);
  assert.deepEqual(await source.steps("r/attributions", "gradient_norm"),
                   {steps: [2, 10], alertSteps: [10], alertMethods: [["integrated_gradients"]]});
  assert.deepEqual(await source.steps("r/attributions", "old"), {steps: [0], alertSteps: [], alertMethods: undefined});
  const P = decodePayload(await source.payload("r/attributions", "gradient_norm", 10));
  assert.equal(P.step, 10);
  assert.deepEqual([...P.scores], [0, 1, 2, -0.5, 0, 0, 3, -4, 0.5]);
});

// model.js in node on payloads built by hand (payload.mjs): words, ranks and shares, filters and
// sorting, diffs, the misclassified mark, alert strength, and the opening choices. Expected values are
// worked out by hand from the stored scores [0, 1, 2, -0.5, 0] and [0, 3, -4, 0.5].
import {test} from "node:test";
import assert from "node:assert/strict";
import {decodePayload} from "../../gradcallback/dashboard/static/decode.js";
import {
  printable, colour, ink, units, unitScores, ranksAndShares, peak, searchIndex, matches, misclassified, groupShare,
  containsGroup, alertStrength, rankChange, tokenTable, alertText, openingMethod, stepIndex, paneSteps, paneScores,
  mostInteresting, probeOrder,
} from "../../gradcallback/dashboard/static/model.js";
import {classifier, qa, H} from "./payload.mjs";

const P = decodePayload(classifier());
const close = (actual, expected) => assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} != ${expected}`);
const FILTERS = {query: "", misclassified: false, alerted: false, group: "", sort: "index"};

test("printable, colour and ink", () => {
  assert.equal(printable("a\u0000b\n\u007f"), "aU+0000bU+000AU+007F");
  assert.deepEqual(colour(0, false), [255, 255, 255]);
  assert.deepEqual(colour(1, false), [8, 81, 156]);
  assert.deepEqual(colour(-1, true), [178, 24, 43]);
  assert.deepEqual(colour(-1, false), [255, 255, 255]); // unsigned: negatives are white
  assert.deepEqual(colour(NaN, true), [255, 255, 255]);
  assert.equal(ink([8, 81, 156]), "#fff");
  assert.equal(ink([255, 255, 255]), "#141414");
});

test("units: the payload's marker is what a merged word's pieces lose", () => {
  // A SentencePiece payload: "▁at" starts the word, "##iku" is not a marker there and stays as text.
  const sp = {...P, marker: "\u2581", vocab: ["[CLS]", "\u2581the", "\u2581at", "iku", "[SEP]", "a", "film"]};
  assert.deepEqual(units(sp, 0, true).map((u) => u.text), ["[CLS]", "the", "atiku", "[SEP]"]);
  const whole = {...P, marker: null}; // word-level vocabulary: nothing is stripped
  assert.deepEqual(units(whole, 0, true).map((u) => u.text), ["[CLS]", "the", "at##iku", "[SEP]"]);
  assert.deepEqual(units({...P, marker: "##"}, 0, true).map((u) => u.text), ["[CLS]", "the", "atiku", "[SEP]"]);
});

test("units: tokens as stored, or words with pieces merged", () => {
  assert.deepEqual(units(P, 0, false).map((u) => u.text), ["[CLS]", "the", "at", "##iku", "[SEP]"]);
  const words = units(P, 0, true);
  assert.deepEqual(words.map((u) => u.text), ["[CLS]", "the", "atiku", "[SEP]"]);
  assert.deepEqual(words.map((u) => u.positions), [[0], [1], [2, 3], [4]]);
  assert.deepEqual(words.map((u) => u.bits), [0, 0, 1, 0]);
  assert.deepEqual([...unitScores(P, 0, words)], [0, 1, 1.5, 0]); // a word's score: its pieces' sum
  assert.deepEqual([...unitScores(P, 1, units(P, 1, true))], [0, 3, -4, 0.5]);
});

test("units: BPE and SentencePiece word markers are dropped when merging", () => {
  const bpe = {offsets: [0, 3], flags: [1, 0, 1], tokens: [0, 1, 2], vocab: ["\u0120par", "is", "\u2581city"], groupBits: null};
  assert.deepEqual(units(bpe, 0, true).map((u) => u.text), ["paris", "city"]);
  assert.deepEqual(units(bpe, 0, false).map((u) => u.text), ["\u0120par", "is", "\u2581city"]);
});

test("ranks and shares of the attribution mass", () => {
  const {rank, share} = ranksAndShares(unitScores(P, 0, units(P, 0, false)));
  assert.deepEqual([...rank], [4, 2, 1, 3, 5]); // |2| first, then |1|, |-0.5|, and the zeros by position
  assert.deepEqual(share, [0, 2 / 7, 4 / 7, 1 / 7, 0]);
  assert.deepEqual(ranksAndShares([0, 0]).share, [0, 0]);
  assert.equal(peak([0, -3, NaN, 2]), 3);
  assert.equal(peak([]), 0);
});

test("search: words and tokens, case-insensitive", () => {
  const index = searchIndex(P);
  assert.deepEqual(index.texts, ["the atiku", "a film"]);
  assert.equal(matches(index, 0, "atiku"), true); // a merged word
  assert.equal(matches(index, 0, "##IKU"), true); // a token
  assert.equal(matches(index, 0, " tik "), true); // part of the text
  assert.equal(matches(index, 1, "atiku"), false);
  assert.equal(matches(index, 1, ""), true);
  assert.equal(matches(index, 1, "[sep]"), true); // special tokens are in the token set, not the text
});

test("groups: share, containment, alert strength", () => {
  close(groupShare(P, 0, 0), 5 / 7); // |2| + |-0.5| of 3.5
  assert.equal(groupShare(P, 1, 0), 0);
  assert.equal(containsGroup(P, 0, 0), true);
  assert.equal(containsGroup(P, 1, 0), false);
  close(alertStrength(P, 0), 5 / 7);
  assert.equal(alertStrength(P, 1), 0);
  const quiet = {...P, alertGroups: []};
  assert.equal(alertStrength(quiet, 0), 0);
  const zero = decodePayload(classifier({half: [0, 0, 0, 0, 0, 0, 0, 0, 0]}));
  assert.equal(alertStrength(zero, 0), 1e-9); // holds the group with no mass: still counts as alerted
});

test("misclassified, computed here for payloads without `correct`", () => {
  assert.deepEqual([0, 1].map((i) => misclassified(P, i)), [false, true]); // pred 1 = label 1; pred 0 != label 1
  const unlabelled = decodePayload(classifier({probes: {label: [null, null]}}));
  assert.deepEqual([0, 1].map((i) => misclassified(unlabelled, i)), [false, false]);
  assert.equal(misclassified(decodePayload(qa({answer: " Paris ", label: "paris"})), 0), false); // normalized
  assert.equal(misclassified(decodePayload(qa({answer: "the capital", label: "paris"})), 0), true);
});

test("misclassified: the writer's `correct` wins when present", () => {
  const marked = decodePayload(classifier({probes: {correct: [false, null]}}));
  assert.deepEqual([0, 1].map((i) => misclassified(marked, i)), [true, false]); // null: no label, no mark
  const right = decodePayload(classifier({probes: {correct: [true, true]}}));
  assert.deepEqual([0, 1].map((i) => misclassified(right, i)), [false, false]); // though pred 0 != label 1
  // BPE QA: the answer "Ġparis" compared in JS looks wrong; the writer knows it is right.
  assert.equal(misclassified(decodePayload(qa({answer: "\u0120paris", label: "paris", probes: {correct: [true]}})), 0), false);
  assert.equal(misclassified(decodePayload(qa({answer: "paris", label: "paris", probes: {correct: [false]}})), 0), true);
});

test("filters and sorting of the probe list", () => {
  const index = searchIndex(P), order = (f, first = null) => probeOrder(P, index, {...FILTERS, ...f}, first);
  assert.deepEqual(order({}), [0, 1]);
  assert.deepEqual(order({query: "film"}), [1]);
  assert.deepEqual(order({misclassified: true}), [1]);
  assert.deepEqual(order({alerted: true}), [0]);
  assert.deepEqual(order({group: "0"}), [0]);
  assert.deepEqual(order({sort: "conf-asc"}), [1, 0]); // p = 0.9, 0.6
  assert.deepEqual(order({sort: "conf-desc"}), [0, 1]);
  assert.deepEqual(order({sort: "alert"}), [0, 1]);
  assert.deepEqual(order({sort: "group:0"}), [0, 1]);
  assert.deepEqual(order({sort: "conf-desc", query: "a"}), [0, 1]); // "a" is in "atiku" and is probe 1's word
  const tied = decodePayload(classifier({probes: {prob: [0.5, 0.5]}}));
  assert.deepEqual(probeOrder(tied, searchIndex(tied), {...FILTERS, sort: "conf-desc"}), [0, 1]); // ties: by number
  // The first step with probe 1's order reversed ([4, 0.5, 0, 2] against [0, 3, -4, 0.5]).
  const first = decodePayload(classifier({half: [H[0], H[0.5], H[1], H["-0.25"], H[0], H[1], H[0.125], H[0], H[0.5]]}));
  assert.equal(rankChange(P, first, 0), 0);
  assert.equal(rankChange(P, first, 1), 2);
  assert.deepEqual(order({sort: "rank"}, first), [1, 0]);
});

test("the probe-set token table", () => {
  const rows = new Map(tokenTable(P, false).map((r) => [r.token, r]));
  assert.equal(rows.size, 7);
  const film = rows.get("film");
  assert.deepEqual([film.probes, film.top, film.score, film.count], [1, 1, -4, 1]);
  close(film.share, 4 / 7.5 / 2); // its share of probe 1's mass, averaged over the 2 probes
  const sep = rows.get("[SEP]");
  assert.deepEqual([sep.probes, sep.top, sep.score], [2, 0, 0.25]); // special tokens never count as top
  close(sep.share, 0.5 / 7.5 / 2);
  const merged = new Map(tokenTable(P, true).map((r) => [r.token, r]));
  assert.equal(merged.has("##iku"), false);
  assert.equal(merged.get("atiku").score, 1.5);
  close(merged.get("atiku").share, 1.5 / 2.5 / 2);
});

test("diff steps: vs the first step, vs the previous one", () => {
  const steps = [0, 2, 4];
  assert.deepEqual(paneSteps(steps, 4, ""), {at: 4, ref: null});
  assert.deepEqual(paneSteps(steps, 4, "first"), {at: 4, ref: 0});
  assert.deepEqual(paneSteps(steps, 4, "previous"), {at: 4, ref: 2});
  assert.deepEqual(paneSteps(steps, 3, "previous"), {at: 2, ref: 0}); // another method's pane: its step at or before
  assert.deepEqual(paneSteps(steps, 0, "previous"), {at: 0, ref: 0}); // the first step: against itself
  assert.deepEqual(paneSteps([5, 6], 1, "first"), {at: 5, ref: 5}); // logged later than the step shown
});

test("diff scores: the step minus the reference, signed", () => {
  const Q = P, R = decodePayload(classifier({scales: [1, 4]})); // probe 0 at half: [0, 0.5, 1, -0.25, 0]
  const list = units(Q, 0, false), plain = paneScores(Q, null, 0, list);
  assert.deepEqual([...plain.values], [0, 1, 2, -0.5, 0]);
  assert.deepEqual([plain.ref, plain.signed, plain.scale], [null, false, 2]);
  const diff = paneScores(Q, R, 0, list);
  assert.deepEqual([...diff.ref], [0, 0.5, 1, -0.25, 0]);
  assert.deepEqual([...diff.values], [0, 0.5, 1, -0.25, 0]);
  assert.deepEqual([diff.signed, diff.scale], [true, 1]); // a difference is signed even for an unsigned method
  assert.deepEqual([...diff.stats.rank], [4, 2, 1, 3, 5]); // ranks of the step's own scores
});

test("alert text: the structured message, else the old text", () => {
  assert.equal(alertText({tag: "spurious/alerts", text: "group 'names' holds 60%"}), "[spurious/alerts] group 'names' holds 60%");
  const record = {monitor: "SpuriousGroups", subject: "names", step: 3, statistic: "share", value: 0.6, limit: 0.5,
                  action: "warn", method: "integrated_gradients", message: "group 'names' holds 60% <b>", tag: "spurious/alerts"};
  assert.equal(alertText(record), "[spurious/alerts] group 'names' holds 60% <b>");
  assert.equal(alertText({...record, text: "older"}), "[spurious/alerts] group 'names' holds 60% <b>");
});

test("the method a run opens on", () => {
  const methods = ["gradient_norm", "integrated_gradients"];
  assert.equal(openingMethod(methods, null, ["integrated_gradients"]), "integrated_gradients");
  assert.equal(openingMethod(methods, null, [null, "integrated_gradients"]), "integrated_gradients"); // a run-wide alert first
  assert.equal(openingMethod(methods, null, ["saliency"]), "gradient_norm"); // not one of this run's
  assert.equal(openingMethod(methods, null, [undefined]), "gradient_norm"); // old {tag, text} alerts
  assert.equal(openingMethod(methods, null), "gradient_norm"); // no alert
  assert.equal(openingMethod(methods, "gradient_norm", ["integrated_gradients"]), "gradient_norm"); // the user's pick
  assert.equal(openingMethod(methods, "saliency", ["integrated_gradients"]), "integrated_gradients"); // picked in another run
});

test("the step a method opens on", () => {
  assert.equal(stepIndex([0, 2, 4], [2], null), 1); // the latest alert
  assert.equal(stepIndex([0, 2, 4], [0, 2], null), 1);
  assert.equal(stepIndex([0, 2, 4], [], null), 2); // else the last step
  assert.equal(stepIndex([0, 2, 4], [2], 4), 2); // a step asked for wins
  assert.equal(stepIndex([0, 2, 4], [], 3), 1); // the last one at or before it
  assert.equal(stepIndex([2, 4], [], 0), 0);
});

test("the probe a run opens on", async () => {
  let asked = 0;
  const first = async () => { asked += 1; return decodePayload(classifier({half: [H[0], H[0.5], H[1], H["-0.25"], H[0],
                                                                                   H[1], H[0.125], H[0], H[0.5]]})); };
  assert.equal(await mostInteresting(P, first), 0); // the alerted group's probe
  assert.equal(await mostInteresting({...P, alertGroups: []}, first), 1); // else the misclassified one
  assert.equal(asked, 0); // the first step is fetched only when needed
  const right = decodePayload(classifier({probes: {correct: [true, true]}}));
  assert.equal(await mostInteresting({...right, alertGroups: []}, first), 1); // else the largest rank change
  assert.equal(asked, 1);
});

// view.js's causal-LM matrix in node, on a fake document that records what the view builds: the
// [continuation tokens x prompt tokens] grid of payload.py's `token_scores` ({tokens, scale, rows},
// rows divided by the largest |value|). Tokens go in as text (a token that looks like markup stays
// characters), each cell's colour and title come from its value, and no matrix hides the box.
import {test} from "node:test";
import assert from "node:assert/strict";

class FakeNode {
  constructor(tag) {
    Object.assign(this, {tag, children: [], attributes: {}, style: {}, textContent: "", className: "", hidden: false});
  }
  append(...nodes) { this.children.push(...nodes); }
  replaceChildren(...nodes) { this.children = nodes; }
  setAttribute(key, value) { this.attributes[key] = String(value); }
  find(tag) { return this.children.flatMap((c) => [...(c.tag === tag ? [c] : []), ...c.find(tag)]); }
}
globalThis.document = {createElement: (tag) => new FakeNode(tag)};
const {matrix} = await import("../../gradcallback/dashboard/static/view.js");

const M = {tokens: ["\u0120Paris", "<b>.</b>"], scale: 0.5, rows: [[1, -0.5, 0], [0.25, 0, -1]]};

test("matrix: a row per continuation token, a column per prompt token, tokens as text", () => {
  const box = new FakeNode("div");
  box.hidden = true;
  matrix(box, M, ["The", "capital\n", "is"], true);
  assert.equal(box.hidden, false);
  const [title, grid] = box.children;
  assert.equal(title.textContent, "per continuation token (scaled to 0.5)");
  const [head, ...rows] = grid.children;
  assert.deepEqual(head.children.map((th) => th.textContent), ["continuation \\ prompt", "The", "capitalU+000A", "is"]);
  assert.deepEqual(rows.map((tr) => tr.children[0].textContent), ["\u0120Paris", "<b>.</b>"]); // characters, no element
  assert.equal(grid.find("b").length, 0);
  assert.deepEqual(rows.map((tr) => tr.attributes["data-gc"]), ["matrix-row", "matrix-row"]);
});

test("matrix: each cell's colour is its scaled value's, its title the value before scaling", () => {
  const box = new FakeNode("div");
  matrix(box, M, ["The", "capital", "is"], true);
  const cells = box.children[1].children.slice(1).map((tr) => tr.children.slice(1));
  assert.deepEqual(cells.map((row) => row.map((td) => td.title)), [["0.5", "-0.25", "0"], ["0.125", "0", "-0.5"]]);
  assert.equal(cells[0][0].style.backgroundColor, "rgb(8, 81, 156)"); // +1: the darkest blue
  assert.equal(cells[1][2].style.backgroundColor, "rgb(178, 24, 43)"); // -1, signed: the darkest red
  assert.equal(cells[0][2].style.backgroundColor, "rgb(255, 255, 255)"); // 0: white
  matrix(box, M, ["The", "capital", "is"], false);
  const unsigned = box.children[1].children[2].children[3];
  assert.equal(unsigned.style.backgroundColor, "rgb(255, 255, 255)"); // unsigned: negatives are white
});

test("matrix: no matrix hides the box and empties it", () => {
  const box = new FakeNode("div");
  matrix(box, M, ["The", "capital", "is"], true);
  matrix(box, null, ["The"], true);
  assert.equal(box.hidden, true);
  assert.deepEqual(box.children, []);
});

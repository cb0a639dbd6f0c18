// The HTML report inlines the viewer's modules as ONE module, imports and `export` dropped
// (gradcallback/dashboard/assets.py: bundle()). So their top-level names share one scope: a name
// declared in two modules is a SyntaxError there only. This rebuilds the bundle the same way and
// has node parse it.
import {test} from "node:test";
import assert from "node:assert/strict";
import {readFileSync, writeFileSync, mkdtempSync, rmSync} from "node:fs";
import {tmpdir} from "node:os";
import {join} from "node:path";
import {execFileSync} from "node:child_process";

const STATIC = new URL("../../gradcallback/dashboard/static/", import.meta.url);
const MODULES = ["decode.js", "model.js", "view.js", "viewer.js"]; // assets.MODULES
const IMPORT = /^import\s[^;]*;\n/gm, EXPORT = /^export (?=(async )?(function|const|let|class) )/gm;

test("the modules inline as one module", () => {
  const code = MODULES.map((name) => readFileSync(new URL(name, STATIC), "utf8").replace(IMPORT, "").replace(EXPORT, ""))
    .join("\n");
  assert.doesNotMatch(code, /<\/script|<!--/i);
  assert.doesNotMatch(code, /^\s*(import|export)\s/m); // a form of import/export the bundler does not strip
  const folder = mkdtempSync(join(tmpdir(), "gc-bundle-"));
  try {
    writeFileSync(join(folder, "bundle.mjs"), code);
    execFileSync(process.execPath, ["--check", join(folder, "bundle.mjs")], {stdio: "pipe"}); // throws on a clash
  } finally {
    rmSync(folder, {recursive: true});
  }
});

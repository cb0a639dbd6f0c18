// ESLint for the Attributions viewer (plain ES modules run by the browser, no build step) and its
// node unit tests. `npx eslint` from the repository root; runs offline once `npm ci` has installed it.
import js from "@eslint/js";
import globals from "globals";

export default [
  // Only our own code: never the virtual environment's vendored JavaScript, build outputs or node_modules.
  {ignores: [".venv/**", "node_modules/**", "build/**", "runs/**", "**/*.egg-info/**"]},
  js.configs.recommended,
  {
    files: ["gradcallback/dashboard/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022, // what the browsers TensorBoard supports run; no newer syntax slips in
      sourceType: "module",
      globals: globals.browser, // DecompressionStream, fetch, document...: anything else is a typo (no-undef)
    },
  },
  {
    files: ["tests/js/**/*.mjs", "eslint.config.js"],
    languageOptions: {ecmaVersion: 2022, sourceType: "module", globals: globals.node},
  },
  {
    rules: {
      // A dead import or variable is usually a half-done refactor; `_`-prefixed arguments are kept on purpose.
      "no-unused-vars": ["error", {args: "after-used", argsIgnorePattern: "^_", caughtErrors: "none"}],
      eqeqeq: ["error", "always"], // == coerces: null/undefined checks are spelled out
      "no-undef": "error",
      "prefer-const": "error",
      "no-var": "error",
      "no-shadow": "error", // a shadowed `P` or `i` in the model code reads as the outer one
      "no-implicit-globals": "error",
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      // Every user string goes in through textContent (view.js): markup sinks are banned outright.
      "no-restricted-properties": ["error",
        {property: "innerHTML", message: "set user strings with textContent"},
        {property: "outerHTML", message: "set user strings with textContent"},
        {property: "insertAdjacentHTML", message: "set user strings with textContent"}],
      "no-restricted-syntax": ["error",
        {selector: "CallExpression[callee.property.name='write'][callee.object.name='document']",
         message: "no document.write"}],
      "no-console": "error",
      curly: ["error", "multi-line"],
      "no-return-assign": "error",
      "no-throw-literal": "error",
      "require-await": "off", // async source methods return promises by contract, awaited or not
    },
  },
];

// TensorBoard's entry point for the Attributions tab: plugin_entry.html imports this module and
// calls render(). Everything it loads comes from the plugin's own routes (the page's CSP allows
// same-origin scripts, styles and fetches only).
import {serverSource} from "./decode.js";
import {mount} from "./viewer.js";

export async function render() {
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = new URL("./viewer.css", import.meta.url).href;
  document.head.append(style);
  const root = document.createElement("div");
  document.body.append(root);
  await mount(root, serverSource());
}

// Playground, classify: an image dropped, pasted or chosen goes to POST /v1/classify; the top labels as bars.

import { call, describe } from "./api.js";
import { $, announce, bar, percent, say } from "./dom.js";
import { chosenModel, pickModel } from "./models.js";

let active = false;
let preview = null; // the object URL the preview shows

export async function init() {
  const drop = $("classify-drop");
  $("classify-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) classify(file);
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = imageOf(event.dataTransfer);
    if (file) classify(file);
    else say("classify-error", "That is not an image file.");
  });
  document.addEventListener("paste", (event) => {
    if (!active) return;
    const file = imageOf(event.clipboardData);
    if (file) {
      event.preventDefault();
      classify(file);
    }
  });
  $("classify-form").addEventListener("submit", (event) => event.preventDefault());
}

export async function show() {
  active = true;
  if (!(await pickModel($("classify-model"), "classification"))) {
    say("classify-error", "No image classifier is ready on this server.");
  }
}

export function hide() {
  active = false;
}

export function reset() {
  $("classify-bars").replaceChildren();
  $("classify-preview").hidden = true;
  if (preview) URL.revokeObjectURL(preview);
  preview = null;
}

function imageOf(transfer) {
  for (const file of (transfer && transfer.files) || []) {
    if (file.type.startsWith("image/")) return file;
  }
  return null;
}

async function classify(file) {
  say("classify-error", "");
  say("classify-status", `Classifying ${file.name || "the pasted image"}…`);
  if (preview) URL.revokeObjectURL(preview);
  preview = URL.createObjectURL(file);
  const image = $("classify-preview");
  image.src = preview;
  image.alt = file.name ? `The image: ${file.name}` : "The pasted image";
  image.hidden = false;
  try {
    const form = new FormData();
    form.append("file", file, file.name || "pasted-image");
    form.append("model", await chosenModel($("classify-model"), "classification"));
    form.append("top_k", $("classify-top-k").value || "5");
    const result = await (await call("v1/classify", { method: "POST", body: form })).json();
    const best = result.predictions[0];
    $("classify-bars").replaceChildren(
      ...result.predictions.map((p) => bar(p.label, p.confidence, percent(p.confidence))),
    );
    const said = best ? `Most likely ${best.label}, ${percent(best.confidence)}.` : "No labels.";
    say("classify-status", `${said} (${result.model})`);
    announce(said);
  } catch (error) {
    say("classify-status", "");
    say("classify-error", describe(error));
  }
  $("classify-file").value = "";
}

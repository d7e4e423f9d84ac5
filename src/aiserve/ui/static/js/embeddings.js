// Playground, embeddings: a few sentences through POST /v1/embeddings, compared pairwise as a cosine heatmap.

import { call, describe } from "./api.js";
import { $, announce, el, lines, say } from "./dom.js";
import { chosenModel, pickModel } from "./models.js";

const EXAMPLE = [
  "A dog runs across the park.",
  "A puppy is playing on the grass.",
  "The stock market fell sharply today.",
  "Shares dropped at the opening bell.",
  "I am baking bread this afternoon.",
].join("\n");

export async function init() {
  $("embeddings-input").value = EXAMPLE;
  $("embeddings-form").addEventListener("submit", (event) => {
    event.preventDefault();
    compare();
  });
}

export async function show() {
  if (!(await pickModel($("embeddings-model"), "embeddings"))) {
    say("embeddings-error", "No embedding model is ready on this server.");
  }
}

export function hide() {}

export function reset() {
  $("embeddings-heatmap").hidden = true;
  $("embeddings-legend").replaceChildren();
}

function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

async function compare() {
  const sentences = lines($("embeddings-input").value);
  say("embeddings-error", "");
  if (sentences.length < 2 || sentences.length > 12) {
    say("embeddings-error", "Write 2 to 12 sentences, one a line.");
    $("embeddings-input").focus();
    return;
  }
  say("embeddings-status", "Embedding…");
  try {
    const json = { model: await chosenModel($("embeddings-model"), "embeddings"), input: sentences };
    const result = await (await call("v1/embeddings", { method: "POST", json })).json();
    const vectors = result.data.sort((a, b) => a.index - b.index).map((item) => item.embedding);
    draw(sentences, vectors);
    const said = `${sentences.length} sentences, ${vectors[0].length} dimensions, ${result.usage.prompt_tokens} tokens.`;
    say("embeddings-status", said);
    announce(said);
  } catch (error) {
    say("embeddings-status", "");
    say("embeddings-error", describe(error));
  }
}

function cell(value) {
  const shade = Math.max(0, Math.min(1, value));
  const lightness = 96 - shade * 62; // 96% (unrelated) to 34% (the same)
  const td = el("td", { text: value.toFixed(2) });
  td.style.backgroundColor = `hsl(215 70% ${lightness}%)`;
  if (lightness < 58) td.classList.add("light-text");
  return td;
}

function draw(sentences, vectors) {
  const table = $("embeddings-heatmap");
  const label = (i) => `S${i + 1}`;
  const head = el("tr", {}, el("td"), ...sentences.map((s, i) => el("th", { scope: "col", title: s, text: label(i) })));
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(
    ...vectors.map((a, i) =>
      el("tr", {}, el("th", { scope: "row", title: sentences[i], text: label(i) }), ...vectors.map((b) => cell(cosine(a, b)))),
    ),
  );
  table.hidden = false;
  $("embeddings-legend").replaceChildren(...sentences.map((s, i) => el("li", { text: `${label(i)}: ${s}` })));
}

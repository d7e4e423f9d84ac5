// Playground, rerank: POST /v1/rerank with a query and documents; the documents come back best first.

import { call, describe } from "./api.js";
import { $, announce, bar, el, lines, say } from "./dom.js";
import { chosenModel, pickModel } from "./models.js";

const EXAMPLE_QUERY = "Which animal barks?";
const EXAMPLE_DOCUMENTS = [
  "A cat purrs on the sofa.",
  "The dog barks at the postman.",
  "Paris is the capital of France.",
  "Wolves howl at night; dogs, their cousins, bark.",
].join("\n");

export async function init() {
  $("rerank-query").value = EXAMPLE_QUERY;
  $("rerank-documents").value = EXAMPLE_DOCUMENTS;
  $("rerank-form").addEventListener("submit", (event) => {
    event.preventDefault();
    rerank();
  });
}

export async function show() {
  if (!(await pickModel($("rerank-model"), "rerank"))) say("rerank-error", "No rerank model is ready on this server.");
}

export function hide() {}

export function reset() {
  $("rerank-results").replaceChildren();
}

/** Bar lengths: scores in [0, 1] as they are, others (a cross-encoder's logits) scaled between the lowest and highest. */
function scaler(scores) {
  const low = Math.min(...scores);
  const high = Math.max(...scores);
  if (low >= 0 && high <= 1) return (score) => score;
  return (score) => (high === low ? 1 : (score - low) / (high - low));
}

async function rerank() {
  const query = $("rerank-query").value.trim();
  const documents = lines($("rerank-documents").value);
  say("rerank-error", "");
  if (!query || documents.length === 0) {
    say("rerank-error", "Write a query and at least one document.");
    return;
  }
  say("rerank-status", "Ranking…");
  try {
    const json = { model: await chosenModel($("rerank-model"), "rerank"), query, documents };
    const result = await (await call("v1/rerank", { method: "POST", json })).json();
    const length = scaler(result.results.map((r) => r.relevance_score));
    $("rerank-results").replaceChildren(
      ...result.results.map((r, rank) =>
        bar(documents[r.index], length(r.relevance_score), r.relevance_score.toFixed(3),
          el("span", { class: "rank", text: `${rank + 1}.`, title: `document ${r.index + 1}` })),
      ),
    );
    const said = `Best: “${documents[result.results[0].index]}”`;
    say("rerank-status", `${said} (${result.model}, ${result.usage.prompt_tokens} tokens)`);
    announce(said);
  } catch (error) {
    say("rerank-status", "");
    say("rerank-error", describe(error));
  }
}

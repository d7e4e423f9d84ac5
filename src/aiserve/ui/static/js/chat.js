// Playground, chat: POST /v1/chat/completions with stream=true, tokens shown as they arrive, a stop button.

import { call, describe, events } from "./api.js";
import { $, announce, el, say } from "./dom.js";
import { chosenModel, pickModel } from "./models.js";

const EXAMPLE_TOOLS = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "The weather now in a city.",
      parameters: {
        type: "object",
        properties: { city: { type: "string" } },
        required: ["city"],
      },
    },
  },
];

let history = [];
let running = null; // the AbortController of the answer being streamed

export async function init() {
  if (matchMedia("(max-width: 960px)").matches) $("chat-settings").open = false; // the conversation first on a phone
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("chat-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("chat-form").requestSubmit();
    }
  });
  $("chat-stop").addEventListener("click", () => running && running.abort());
  $("chat-clear").addEventListener("click", clear);
  $("chat-tools-example").addEventListener("click", () => {
    $("chat-tools").value = JSON.stringify(EXAMPLE_TOOLS, null, 2);
  });
}

export async function show() {
  if (!(await pickModel($("chat-model"), "chat"))) say("chat-error", "No chat model is ready on this server.");
  $("chat-input").focus();
}

export function hide() {}

export function reset() {
  if (running) running.abort();
  clear();
}

function clear() {
  history = [];
  $("chat-log").replaceChildren();
  say("chat-status", "");
  say("chat-error", "");
}

function tools() {
  const text = $("chat-tools").value.trim();
  if (!text) return undefined;
  const parsed = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new SyntaxError("the tools must be a JSON list");
  return parsed;
}

function request(messages, model) {
  const body = {
    model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
    temperature: Number($("chat-temperature").value || 0.7),
    max_tokens: Number($("chat-max-tokens").value || 256),
  };
  if ($("chat-json").checked) body.response_format = { type: "json_object" };
  const chosen = tools();
  if (chosen) {
    body.tools = chosen;
    body.tool_choice = $("chat-tool-choice").value;
  }
  return body;
}

function bubble(role, text) {
  const body = el("div", { class: "text" }, document.createTextNode(text));
  const item = el("li", { class: `msg msg-${role}` }, el("span", { class: "who", text: role === "user" ? "You" : "Assistant" }), body);
  $("chat-log").append(item);
  item.scrollIntoView({ block: "nearest" });
  return item;
}

async function send() {
  const text = $("chat-input").value.trim();
  if (!text || running) return;
  running = new AbortController(); // one answer at a time, from now on
  say("chat-error", "");
  const system = $("chat-system").value.trim();
  const messages = [...(system ? [{ role: "system", content: system }] : []), ...history, { role: "user", content: text }];
  let body;
  try {
    body = request(messages, await chosenModel($("chat-model"), "chat"));
  } catch (error) {
    say("chat-error", error instanceof SyntaxError ? `Tools: ${error.message}` : error.message);
    if (error instanceof SyntaxError) $("chat-tools").focus();
    running = null;
    return;
  }
  history.push({ role: "user", content: text });
  $("chat-input").value = "";
  bubble("user", text);
  const answer = bubble("assistant", "");
  await stream(body, answer);
}

async function stream(body, answer) {
  const started = performance.now();
  const output = answer.querySelector(".text").firstChild;
  const calls = [];
  const outcome = { finish: "", usage: null };
  answer.dataset.state = "streaming";
  answer.setAttribute("aria-busy", "true");
  $("chat-send").disabled = true;
  $("chat-stop").disabled = false;
  say("chat-status", "Answering…");
  try {
    const response = await call("v1/chat/completions", { method: "POST", json: body, signal: running.signal });
    let ended = false;
    let failure = "";
    for await (const data of events(response)) {
      if (data === "[DONE]") {
        ended = true;
        break;
      }
      const chunk = JSON.parse(data);
      if (chunk.error) failure = chunk.error.message; // a failure after the answer began (a deadline, say)
      else take(chunk, output, calls, outcome);
      answer.scrollIntoView({ block: "nearest" });
    }
    if (!ended && !failure) failure = "The answer was cut short: the stream ended before the server said it was done.";
    answer.dataset.state = failure ? "error" : "done";
    say("chat-error", failure);
  } catch (error) {
    if (error.name === "AbortError") {
      answer.dataset.state = "stopped";
    } else {
      answer.dataset.state = "error";
      say("chat-error", describe(error));
    }
  } finally {
    finish(answer, output.data, calls, outcome, performance.now() - started);
  }
}

/** One chunk: its text goes on the answer as it comes; tool calls are gathered. */
function take(chunk, output, calls, outcome) {
  if (chunk.usage) outcome.usage = chunk.usage;
  for (const choice of chunk.choices || []) {
    const delta = choice.delta || {};
    if (delta.content) output.appendData(delta.content);
    for (const part of delta.tool_calls || []) {
      const made = (calls[part.index ?? calls.length] ??= { id: "", name: "", arguments: "" });
      if (part.id) made.id = part.id;
      if (part.function?.name) made.name += part.function.name;
      if (part.function?.arguments) made.arguments += part.function.arguments;
    }
    if (choice.finish_reason) outcome.finish = choice.finish_reason;
  }
}

function finish(answer, text, calls, outcome, elapsed) {
  running = null;
  answer.removeAttribute("aria-busy");
  $("chat-send").disabled = false;
  $("chat-stop").disabled = true;
  for (const made of calls.filter(Boolean)) {
    answer.append(el("pre", { class: "mono", text: `${made.name}(${made.arguments})` }));
  }
  const parts = [];
  if (outcome.usage) parts.push(`${outcome.usage.completion_tokens} tokens`);
  parts.push(`${(elapsed / 1000).toFixed(1)} s`);
  const state = answer.dataset.state;
  parts.push(state === "done" ? outcome.finish || "done" : state);
  answer.append(el("span", { class: "meta", text: parts.join(" · ") }));
  if (text) history.push({ role: "assistant", content: text });
  const said = state === "done" ? "Answer complete." : state === "stopped" ? "Answer stopped." : "The answer failed.";
  say("chat-status", said);
  announce(said);
  $("chat-input").focus();
}

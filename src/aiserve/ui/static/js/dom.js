// Small DOM helpers. Text is always set as text: no HTML strings (Trusted Types forbid them anyway).

export const $ = (id) => document.getElementById(id);

/**
 * A new element: `el("td", { class: "num", text: "3" })`, `el("button", { type: "button", onclick: fn }, "Go")`.
 * Props: `class`, `text`, `dataset` (an object), `on<event>` handlers, other attributes (false/null: left out).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Tell screen readers something that changed out of their sight. */
export function announce(text) {
  const region = $("announcer");
  region.textContent = "";
  // a fresh text node after a tick is announced even when the text repeats
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

const integers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimals = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export const count = (value) => integers.format(value ?? 0);
export const decimal = (value) => decimals.format(value ?? 0);
export const percent = (fraction) => `${decimals.format((fraction ?? 0) * 100)}%`;

/** A moment as a short local date and time, or "never". */
export function when(iso) {
  if (!iso) return "never";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A horizontal bar: `label`, a bar `fraction` (0 to 1) long, and `figure` (text) after it. */
export function bar(label, fraction, figure, ...before) {
  const fill = el("span", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  return el(
    "li",
    {},
    ...before,
    el("span", { class: "label", text: label }),
    el("span", { class: "track", "aria-hidden": "true" }, fill),
    el("span", { class: "figure", text: figure }),
  );
}

/** A definition list's cards: [[term, value], ...]. */
export function cards(list, pairs) {
  list.replaceChildren(...pairs.map(([term, value]) => el("div", {}, el("dt", { text: term }), el("dd", { text: value }))));
}

/** Report `text` in a status line (role=status) or an error line (role=alert); empty clears it. */
export function say(id, text) {
  $(id).textContent = text || "";
}

/** Lines of a textarea, trimmed, without empty ones. */
export function lines(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
}

/** Fill a select with `names`, keeping the current choice when it is still there. */
export function fillSelect(select, names) {
  const chosen = select.value;
  select.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
  if (names.includes(chosen)) select.value = chosen;
}

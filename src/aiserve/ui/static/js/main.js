// The console: sign in with an API key, then the pages the key's scopes allow (#/chat, #/dashboard, #/admin/keys).
// What the key may do comes from GET /v1/me, so no page ever calls a route the key may not use.

import { describe, getJson, session } from "./api.js";
import { $, announce, say } from "./dom.js";
import { dropCharts, repaint } from "./charts.js";
import { forgetModels } from "./models.js";
import * as admin from "./admin.js";
import * as chat from "./chat.js";
import * as classify from "./classify.js";
import * as dashboard from "./dashboard.js";
import * as embeddings from "./embeddings.js";
import * as rerank from "./rerank.js";

const VIEWS = {
  chat: { module: chat, needs: "inference", title: "Chat" },
  classify: { module: classify, needs: "inference", title: "Classify" },
  embeddings: { module: embeddings, needs: "inference", title: "Embeddings" },
  rerank: { module: rerank, needs: "inference", title: "Rerank" },
  dashboard: { module: dashboard, needs: "usage:read", title: "My usage" },
  admin: { module: admin, needs: "admin", title: "Admin" },
};
const THEMES = ["auto", "light", "dark"];
/** A server without keys (auth.enabled = false) answers /v1/me 400: its model routes are open, nothing else. */
const OPEN_SERVER = { user: "anyone", key_prefix: "", scopes: ["inference"] };

let me = null; // the signed-in key, as GET /v1/me describes it
let current = null; // the view shown
const started = new Set();

function allows(scope) {
  return Boolean(me) && (me.scopes.includes(scope) || me.scopes.includes("admin"));
}

function firstView() {
  return Object.keys(VIEWS).find((name) => allows(VIEWS[name].needs)) || "denied";
}

async function whoAmI(key) {
  try {
    return await getJson("v1/me", { key });
  } catch (error) {
    if (error.status === 400) return OPEN_SERVER;
    throw error;
  }
}

async function signIn(event) {
  event.preventDefault();
  const field = $("signin-key");
  const key = field.value.trim();
  say("signin-error", "");
  if (!key) {
    say("signin-error", "Paste an API key.");
    field.focus();
    return;
  }
  try {
    me = await whoAmI(key);
  } catch (error) {
    say("signin-error", error.status === 401 ? "This key is not valid: it may be mistyped, expired or revoked." : describe(error));
    field.focus();
    return;
  }
  session.key = key;
  field.value = "";
  signedIn();
  announce(`Signed in as ${me.user}.`);
  const [name] = parse();
  if (VIEWS[name] && allows(VIEWS[name].needs)) route();
  else location.hash = `#/${firstView()}`;
}

function signedIn() {
  for (const item of document.querySelectorAll("#nav li[data-needs]")) item.hidden = !allows(item.dataset.needs);
  $("nav").hidden = false;
  $("who").textContent = me.key_prefix ? `${me.user} · sk-${me.key_prefix}…` : me.user;
  $("who").hidden = false;
  $("sign-out").hidden = false;
}

function signOut() {
  session.forget();
  me = null;
  if (current) VIEWS[current]?.module.hide();
  for (const name of started) VIEWS[name].module.reset?.();
  forgetModels();
  dropCharts();
  $("nav").hidden = true;
  $("who").hidden = true;
  $("sign-out").hidden = true;
  announce("Signed out.");
  if (location.hash === "#/") route();
  else location.hash = "#/";
}

function parse() {
  return location.hash.replace(/^#\/?/, "").split("/");
}

async function route() {
  if (location.hash && !location.hash.startsWith("#/")) return; // an in-page link, not a page
  const [name = "", sub = ""] = parse();
  if (!me) return show("signin");
  if (!name) {
    location.replace(`#/${firstView()}`);
    return undefined;
  }
  const view = VIEWS[name];
  return show(view && allows(view.needs) ? name : "denied", sub);
}

async function show(name, sub = "") {
  if (current && current !== name) VIEWS[current]?.module.hide();
  current = name;
  for (const section of document.querySelectorAll("main > .view")) section.hidden = section.id !== `view-${name}`;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = VIEWS[name];
  document.title = `${view ? view.title : name === "signin" ? "Sign in" : "Not available"} · aiserve console`;
  const heading = $(`view-${name}`).querySelector("h1");
  if (document.activeElement !== heading && !$(`view-${name}`).contains(document.activeElement)) heading.focus();
  if (name === "signin") $("signin-key").focus();
  if (!view) return;
  if (!started.has(name)) {
    started.add(name);
    await view.module.init();
  }
  await view.module.show(sub);
}

function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const button = $("theme");
  button.textContent = theme[0].toUpperCase() + theme.slice(1);
  button.setAttribute("aria-label", `Colour theme: ${theme === "auto" ? "automatic" : theme}. Change`);
  repaint();
}

function nextTheme() {
  const now = localStorage.getItem("aiserve.theme") || "auto";
  const next = THEMES[(THEMES.indexOf(now) + 1) % THEMES.length];
  localStorage.setItem("aiserve.theme", next);
  applyTheme(next);
}

async function boot() {
  applyTheme(localStorage.getItem("aiserve.theme") || "auto");
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", repaint);
  $("theme").addEventListener("click", nextTheme);
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("skip").addEventListener("click", (event) => {
    event.preventDefault();
    $("main").focus();
  });
  if (session.key) {
    try {
      me = await whoAmI(session.key);
      signedIn();
    } catch (error) {
      if (error.status === 401) session.forget(); // revoked or expired since: sign in again
      say("signin-error", describe(error));
    }
  }
  $("booting").hidden = true;
  window.addEventListener("hashchange", route);
  await route();
}

boot();

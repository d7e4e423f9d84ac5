// Talking to the server: the key (this tab's session storage only), JSON calls, server-sent events, errors.

const KEY = "aiserve.key";
// the console is served under <root>/ui/, the API under <root>/ (this works behind a path prefix too)
const ROOT = new URL("..", document.baseURI);

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set key(value) {
    sessionStorage.setItem(KEY, value);
  },
  forget() {
    sessionStorage.removeItem(KEY);
  },
};

/** An error the API answered, with its status and message. */
export class ApiError extends Error {
  constructor(status, message, type) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
  }
}

/** The URL of an API path such as "v1/models", with `query` (an object) as its query string. */
export function apiUrl(path, query) {
  const url = new URL(path.replace(/^\//, ""), ROOT);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url;
}

/**
 * Call the API with the session's key (or `key`). `json` is sent as a JSON body, `body` as it is (FormData).
 * Resolves to the Response when it is a success; throws ApiError otherwise.
 */
export async function call(path, { method = "GET", json, body, query, signal, key } = {}) {
  const headers = { Accept: "application/json" };
  const token = key ?? session.key;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await fetch(apiUrl(path, query), {
    method,
    headers,
    body,
    signal,
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** Call the API and read its JSON answer. */
export async function getJson(path, options) {
  const response = await call(path, options);
  return response.status === 204 ? null : response.json();
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let type;
  try {
    const body = await response.json();
    const error = body.error || {};
    message = error.message || body.detail || message;
    type = error.type;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, type);
}

/** The `data:` payloads of a server-sent event stream, one string each, until the stream ends. */
export async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (data) yield data;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** A message for people from any error (aborts are not errors). */
export function describe(error) {
  if (error instanceof ApiError) return error.message;
  if (error && error.name === "TypeError") return "The server cannot be reached.";
  return String((error && error.message) || error);
}

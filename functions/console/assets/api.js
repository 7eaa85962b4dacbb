// The one module that talks to the API: the account (local) or the token (deployed), the scope
// each call needs, and errors as the API names them.

const SCOPES = [
  // [method, path pattern, scope]: as template.yaml requires them.
  ["GET", /.*/, "backorder/read"],
  ["POST", /^\/sales\//, "backorder/sell"],
  ["POST", /^\/replenishments/, "backorder/buy"],
  ["PUT", /.*/, "backorder/admin"],
  ["POST", /^\/skus\//, "backorder/admin"],
];

/** The scope a call needs (what a 403 means). */
export function scopeOf(method, path) {
  const hit = SCOPES.find(([m, p]) => m === method && p.test(path));
  return hit ? hit[2] : "";
}

/** An error answer of the API (or no answer at all). */
export class ApiError extends Error {
  constructor(status, code, message, field, scope) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
    this.scope = scope || null;
  }
}

let config = { auth: "local", api_base: "" };

export async function loadConfig() {
  const resp = await fetch("/console/config.json", { cache: "no-store" });
  config = await resp.json();
  return config;
}

export function authMode() {
  return config.auth;
}

export function account() {
  return localStorage.getItem("backorder.account") || "demo";
}

export function setAccount(value) {
  localStorage.setItem("backorder.account", value);
}

export function token() {
  return sessionStorage.getItem("backorder.token");
}

/** A call; resolves to the JSON answer, or throws ApiError. */
export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (config.auth === "local") {
    headers["X-Account-Id"] = account();
  } else if (token()) {
    headers.Authorization = `Bearer ${token()}`;
  }
  let resp;
  try {
    resp = await fetch(config.api_base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "unreachable", `the API did not answer (${e.message})`);
  }
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (resp.ok) return json;
  const err = (json && json.error) || {};
  const scope = scopeOf(method, path.split("?")[0]);
  if (resp.status === 401) {
    throw new ApiError(401, err.code || "unauthorized",
      config.auth === "local" ? (err.message || "no account") : "you are not signed in, or your sign-in expired: sign in again");
  }
  if (resp.status === 403) {
    throw new ApiError(403, "forbidden",
      `your sign-in does not have the scope ${scope} this needs; ask for it to be granted`, null, scope);
  }
  throw new ApiError(resp.status, err.code || `http_${resp.status}`,
    err.message || json?.message || `the API answered ${resp.status}`, err.field);
}

// ---- OAuth 2.0 authorization code with PKCE (deployed) -------------------------------------

function randomString(bytes) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return base64url(a);
}

function base64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function redirectUri() {
  return `${location.origin}/console`;
}

export function signInConfigured() {
  return Boolean(config.authorize_url && config.token_url && config.client_id);
}

/** Sends the browser to the issuer's sign-in page. */
export async function signIn() {
  const verifier = randomString(48);
  const state = randomString(16);
  sessionStorage.setItem("backorder.pkce", JSON.stringify({ verifier, state }));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: config.scopes,
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  });
  location.assign(`${config.authorize_url}?${params}`);
}

/** On the way back from the issuer: trades the code for a token. */
export async function finishSignIn() {
  const url = new URL(location.href);
  const code = url.searchParams.get("code");
  const error = url.searchParams.get("error");
  if (!code && !error) return;
  history.replaceState(null, "", url.pathname);
  if (error) throw new ApiError(0, error, `sign-in failed: ${url.searchParams.get("error_description") || error}`);
  const saved = JSON.parse(sessionStorage.getItem("backorder.pkce") || "{}");
  sessionStorage.removeItem("backorder.pkce");
  if (!saved.state || saved.state !== url.searchParams.get("state")) {
    throw new ApiError(0, "state_mismatch", "sign-in failed: the answer is not for this page's request; sign in again");
  }
  const resp = await fetch(config.token_url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri(),
      client_id: config.client_id,
      code_verifier: saved.verifier,
    }),
  });
  const json = await resp.json().catch(() => ({}));
  if (!resp.ok || !json.access_token) {
    throw new ApiError(resp.status, json.error || "token_failed", `sign-in failed: ${json.error_description || json.error || resp.status}`);
  }
  sessionStorage.setItem("backorder.token", json.access_token);
}

export function signOut() {
  sessionStorage.removeItem("backorder.token");
}

/** The claims of the token (for showing who is signed in), without checking it. */
export function claims() {
  const t = token();
  if (!t) return null;
  try {
    return JSON.parse(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return null;
  }
}

// The node's public JSON API, read from the same origin (the CSP allows no other).

/** An error answer of the API: its stable code, message and HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Build an API path with a query string from the non-empty entries of `params`. */
export function apiPath(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** GET a path of the API and return its JSON; throws ApiError for an error answer. */
export async function getJSON(path, params) {
  let res;
  try {
    res = await fetch(apiPath(path, params), { headers: { Accept: "application/json" } });
  } catch (exc) {
    throw new ApiError(0, "unreachable", "the node does not answer");
  }
  let doc = null;
  try {
    doc = await res.json();
  } catch (exc) {
    doc = null;
  }
  if (!res.ok) {
    const err = (doc && doc.error) || {};
    throw new ApiError(res.status, err.code || "http_" + res.status, err.message || res.statusText);
  }
  return doc;
}

/** GET a path, returning `fallback` when the API answers 404 (a feature not present). */
export async function getOptional(path, params, fallback = null) {
  try {
    return await getJSON(path, params);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 404) return fallback;
    throw exc;
  }
}

/** Encode one path segment (ids may hold any character; ":" of vehicle ids stays readable). */
export function seg(s) {
  return encodeURIComponent(String(s)).replace(/%3A/gi, ":");
}

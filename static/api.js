// api.js — the page's only door to the server: same-origin JSON over fetch with the
// session cookie, error bodies turned into ApiError, and followJob() for long work.
//
//   const api = createApi({ onUnauthorized });
//   await api.get('/api/v1/jobs', { query: { limit: 20 }, signal });
//   await api.post('/api/v1/jobs', { kind, params });
//   const f = api.followJob(id, (job) => ..., { after: job.seq }); f.stop(); await f.done;
//   await api.postBytes('/api/v1/students/3/versions/2/predict', file, 'image/jpeg');
//   const { blob, filename } = await api.download('/api/v1/students/3/versions/2/export.pt');
//
// Errors: every non-2xx answer rejects with ApiError {status, code, message, body};
// 409 answers carry .conflict = true (the thing changed under you: a job already
// finished, a version moved on) so callers can say so instead of "failed".
// A 401 on anything but the login call means the session is gone: onUnauthorized()
// runs once (the app shows the login view) and the call still rejects.
// Network failures reject with ApiError status 0, code "network".
// Reads in flight are counted for perf.js ("have the views caught up?"), except
// background ones: long-polls and periodic refreshes pass {background: true}.
// Leaves out: retries of writes (never safe to repeat blindly), caching.

import { requestStarted, requestEnded } from './perf.js';

export class ApiError extends Error {
  constructor(status, code, message, body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
    this.conflict = status === 409;
  }
}

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export function isAbort(err) {
  return err && (err.name === 'AbortError' || err.code === 'aborted');
}

function withQuery(path, query) {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

// The file name of a Content-Disposition header ('attachment; filename="a.pt"'), or null.
export function filenameOf(disposition) {
  const m = /filename="?([^";]+)"?/i.exec(disposition || '');
  return m ? m[1] : null;
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

export function createApi({ base = '', onUnauthorized = () => {}, fetchFn = (...a) => fetch(...a) } = {}) {
  async function request(method, path, opts = {}) {
    if (opts.background) return send(method, path, opts);
    requestStarted();
    try {
      return await send(method, path, opts);
    } finally {
      requestEnded();
    }
  }

  // raw: a body sent as it is (a Blob, a File) with rawType as its Content-Type;
  // asBlob: a 2xx answer is returned as {blob, filename} (a download), not JSON.
  async function send(method, path, { body, raw, rawType, asBlob = false, query, signal, unauthorizedIsLogout = true } = {}) {
    const headers = { Accept: asBlob ? '*/*' : 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store', signal };
    if (raw !== undefined) {
      headers['Content-Type'] = rawType || 'application/octet-stream';
      init.body = raw;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetchFn(base + withQuery(path, query), init);
    } catch (e) {
      if (isAbort(e)) throw e;
      throw new ApiError(0, 'network', `The server could not be reached (${e.message}).`);
    }
    if (res.status === 204) return null;
    if (asBlob && res.ok) {
      const blob = await res.blob();
      return { blob, filename: filenameOf(res.headers.get('Content-Disposition')) };
    }
    const text = await res.text();
    let json = null;
    if (text) {
      try { json = JSON.parse(text); } catch { /* not JSON: described below */ }
    }
    if (res.ok) {
      if (json === null && text) throw new ApiError(res.status, 'bad_response', `${method} ${path}: the answer was not JSON.`);
      return json;
    }
    const e = json && typeof json.error === 'object' && json.error ? json.error : {};
    const err = new ApiError(res.status, e.code || `http_${res.status}`,
      e.message || `${method} ${path} failed with HTTP ${res.status}.`, json);
    if (res.status === 401 && unauthorizedIsLogout) onUnauthorized(err);
    throw err;
  }

  const api = {
    request,
    get: (path, opts) => request('GET', path, opts),
    post: (path, body, opts) => request('POST', path, { ...opts, body }),
    patch: (path, body, opts) => request('PATCH', path, { ...opts, body }),
    del: (path, opts) => request('DELETE', path, opts),
    // A body of bytes (an uploaded JPEG): JSON back, errors as above.
    postBytes: (path, bytes, type, opts) => request('POST', path, { ...opts, raw: bytes, rawType: type }),
    // A file to save: {blob, filename} (the server's Content-Disposition name); an
    // error answer is still read as JSON and rejects with ApiError.
    download: (path, opts) => request('GET', path, { ...opts, asBlob: true }),

    // Session calls. login() rejects with ApiError 401 on bad credentials and does not
    // treat that as a lost session.
    login: (credentials) => request('POST', '/api/v1/auth/login', { body: credentials, unauthorizedIsLogout: false }),
    logout: () => request('POST', '/api/v1/auth/logout', { unauthorizedIsLogout: false }),
    me: (opts) => request('GET', '/api/v1/me', opts),

    // followJob(id, onUpdate, {after, wait}) -> {stop(), done: Promise<job|null>}
    // Long-polls GET /api/v1/jobs/{id}?wait=&after=seq: one open request at a time,
    // onUpdate(job) for every new seq, until the job is finished (done resolves with
    // it) or stop() aborts the open request (done resolves with null). Network errors
    // and 5xx back off (1 s doubling to 15 s) and retry; 401/403/404 end it (done rejects).
    followJob(id, onUpdate, { after = 0, wait = 25 } = {}) {
      const ctl = new AbortController();
      const done = (async () => {
        let seq = after;
        let backoff = 1000;
        while (!ctl.signal.aborted) {
          let job;
          try {
            job = await request('GET', `/api/v1/jobs/${encodeURIComponent(id)}`,
              { query: { wait, after: seq }, signal: ctl.signal, background: true });
          } catch (e) {
            if (isAbort(e) || ctl.signal.aborted) return null;
            if (e.status === 0 || e.status >= 500) {
              await sleep(backoff, ctl.signal);
              backoff = Math.min(backoff * 2, 15000);
              continue;
            }
            throw e;
          }
          backoff = 1000;
          if (job.seq > seq || TERMINAL.has(job.state)) {
            seq = Math.max(seq, job.seq);
            onUpdate(job);
          }
          if (TERMINAL.has(job.state)) return job;
        }
        return null;
      })();
      return { stop: () => ctl.abort(), done, signal: ctl.signal };
    },
  };
  return api;
}

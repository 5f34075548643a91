// views/jobs.js — the Jobs panel: recent jobs with live progress, cancel, errors.
//
// How it stays live: the list (GET /api/v1/jobs?limit=N) is re-read every few
// seconds while the page is visible, which finds jobs started anywhere (another tab,
// a script); each queued or running job is then followed by api.followJob, one open
// long-poll per job, at most MAX_FOLLOW at once (the browser allows ~6 connections
// per host; the rest of the page needs some), stopped when the job finishes or the
// panel stops. A job's newest snapshot wins by seq.
//
// Other views that start a job hand it over with store.command('job:new', job), so
// it shows up (and is followed) at once. The panel publishes the list it shows as
// store data 'jobs' (array, newest first) for views that show progress themselves.
//
// init(store, api, el) -> {start(), stop()}; start after sign-in, stop on sign-out.

import { TERMINAL, isAbort } from '../api.js';
import { announce, percent, when, duration, canEdit } from '../ui.js';

const d3 = window.d3;
const LIST_LIMIT = 20;
const REFRESH_MS = 3000;
const MAX_FOLLOW = 4;

const STATE_LABEL = {
  queued: 'queued', running: 'running', succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled',
};
// A shape beside each state's colour, so the state never rests on colour alone.
const STATE_MARK = { queued: '○', running: '◔', succeeded: '✓', failed: '✕', cancelled: '–' };

export function init(store, api, el) {
  const jobs = new Map();       // id -> newest job snapshot
  const followers = new Map();  // id -> {stop, done}
  const notes = new Map();      // id -> {text, kind} shown under a job (cancel outcome)
  const cancelling = new Set(); // ids with a cancel request in flight
  let total = 0;
  let running = false;
  let timer = null;
  let ticker = null;
  let listCtl = null;
  let listError = '';
  let loaded = false;

  const root = d3.select(el);
  const summary = root.append('p').attr('class', 'jobs-summary').attr('aria-live', 'polite');
  const status = root.append('p').attr('class', 'jobs-status').attr('role', 'status');
  const list = root.append('ol').attr('class', 'job-list').attr('aria-label', 'Recent jobs');
  const empty = root.append('div').attr('class', 'empty-state jobs-empty').attr('hidden', true);
  empty.append('p').attr('class', 'empty-title').text('No jobs yet.');
  empty.append('p').attr('class', 'empty-what')
    .text('Long work — computing concept presence, distilling a student, re-training after tuning — runs as a job and shows here with a progress bar you can follow or cancel.');

  // Keep the snapshot with the higher seq; announce state changes and quarter steps.
  function merge(job) {
    const old = jobs.get(job.id);
    if (old && old.seq > job.seq && !TERMINAL.has(job.state)) return false;
    jobs.set(job.id, job);
    if (TERMINAL.has(job.state) && notes.get(job.id)?.kind === 'info') notes.delete(job.id);
    if (old && old.state !== job.state) {
      announce(`Job ${job.id} (${job.kind}) ${STATE_LABEL[job.state] || job.state}` +
        (job.state === 'failed' && job.error ? `: ${job.error}` : '.'));
    } else if (old && job.state === 'running' &&
               Math.floor((job.progress || 0) * 4) > Math.floor((old.progress || 0) * 4)) {
      announce(`Job ${job.id} (${job.kind}) ${percent(job.progress)} done.`);
    }
    return true;
  }

  function follow() {
    // Stop followers of jobs that finished or dropped off the list.
    for (const [id, f] of followers) {
      const j = jobs.get(id);
      if (!j || TERMINAL.has(j.state)) { f.stop(); followers.delete(id); }
    }
    const active = [...jobs.values()].filter((j) => !TERMINAL.has(j.state))
      .sort((a, b) => (a.state === 'running' ? 0 : 1) - (b.state === 'running' ? 0 : 1) || b.id - a.id);
    for (const j of active) {
      if (followers.size >= MAX_FOLLOW) break;
      if (followers.has(j.id)) continue;
      const f = api.followJob(j.id, (job) => { if (merge(job)) render(); }, { after: j.seq });
      followers.set(j.id, f);
      f.done.then((job) => {
        if (followers.get(j.id) === f) followers.delete(j.id);
        if (job) { merge(job); render(); follow(); }
      }, (e) => {
        if (followers.get(j.id) === f) followers.delete(j.id);
        if (e.status === 404) { jobs.delete(j.id); render(); }
      });
    }
  }

  async function refresh() {
    if (!running) return;
    listCtl?.abort();
    listCtl = new AbortController();
    try {
      // background: the periodic refresh is not part of any view update (perf.js)
      const page = await api.get('/api/v1/jobs', { query: { limit: LIST_LIMIT }, signal: listCtl.signal, background: true });
      if (!running) return;
      total = page.total ?? page.items.length;
      const seen = new Set();
      for (const j of page.items) { seen.add(j.id); merge(j); }
      // Drop jobs that fell off the first page, unless we are following them.
      for (const id of [...jobs.keys()]) if (!seen.has(id) && !followers.has(id)) jobs.delete(id);
      listError = '';
      loaded = true;
      follow();
      render();
    } catch (e) {
      if (isAbort(e) || !running) return;
      listError = e.status === 0 ? 'The server cannot be reached; retrying…' : `Could not load jobs: ${e.message}`;
      render();
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (!running) return;
    timer = setTimeout(async () => {
      if (!document.hidden) await refresh();
      schedule();
    }, REFRESH_MS);
  }

  async function cancel(job) {
    cancelling.add(job.id);
    notes.delete(job.id);
    render();
    try {
      const j = await api.post(`/api/v1/jobs/${job.id}/cancel`);
      merge(j);
      if (!TERMINAL.has(j.state)) notes.set(j.id, { kind: 'info', text: 'Cancel requested; the job stops at its next checkpoint.' });
      follow();
    } catch (e) {
      if (e.conflict) notes.set(job.id, { kind: 'conflict', text: 'This job had already finished, so there was nothing to cancel.' });
      else notes.set(job.id, { kind: 'error', text: `Could not cancel: ${e.message}` });
      refresh();
    } finally {
      cancelling.delete(job.id);
      render();
    }
  }

  function render() {
    const user = store.data('user');
    const items = [...jobs.values()].sort((a, b) => b.id - a.id);
    store.setData('jobs', items);

    const nRun = items.filter((j) => j.state === 'running').length;
    const nQueued = items.filter((j) => j.state === 'queued').length;
    summary.text(!loaded ? '' : `${nRun} running, ${nQueued} queued` +
      (total > items.length ? ` · showing the newest ${items.length} of ${total}` : ''));
    status.text(loaded ? listError : (listError || 'Loading jobs…'));
    empty.attr('hidden', loaded && !items.length ? null : true);

    list.selectAll('li.job')
      .data(items, (d) => d.id)
      .join((enter) => {
        const li = enter.append('li').attr('class', 'job');
        const head = li.append('div').attr('class', 'job-head');
        head.append('span').attr('class', 'job-kind');
        head.append('span').attr('class', 'job-id');
        head.append('span').attr('class', 'job-state');
        const bar = li.append('div').attr('class', 'progress').attr('role', 'progressbar')
          .attr('aria-valuemin', 0).attr('aria-valuemax', 100);
        bar.append('div').attr('class', 'progress-fill');
        const meta = li.append('div').attr('class', 'job-meta');
        meta.append('span').attr('class', 'job-pct');
        meta.append('span').attr('class', 'job-message');
        meta.append('span').attr('class', 'job-time');
        li.append('p').attr('class', 'job-error');
        li.append('p').attr('class', 'job-note').attr('role', 'status');
        li.append('button').attr('type', 'button').attr('class', 'job-cancel quiet')
          .on('click', (ev, d) => cancel(jobs.get(d.id) || d));
        return li;
      })
      .attr('class', (d) => `job state-${d.state}`)
      .attr('data-job-id', (d) => d.id)
      .attr('data-state', (d) => d.state)
      .call((li) => {
        li.select('.job-kind').text((d) => d.kind);
        li.select('.job-id').text((d) => `#${d.id}`);
        li.select('.job-state').text((d) => `${STATE_MARK[d.state] || '?'} ${STATE_LABEL[d.state] || d.state}`);
        li.select('.progress')
          .attr('aria-label', (d) => `Job ${d.id} (${d.kind}) progress`)
          .attr('aria-valuenow', (d) => Math.round(100 * Math.max(0, Math.min(1, d.progress || 0))))
          .attr('aria-valuetext', (d) => `${percent(d.progress)}, ${d.state}`)
          .select('.progress-fill').style('width', (d) => percent(d.progress));
        li.select('.job-pct').text((d) => percent(d.progress));
        li.select('.job-message').text((d) => (d.cancel_requested && !TERMINAL.has(d.state) ? 'cancel requested' : d.message && d.message !== d.state ? d.message : ''));
        li.select('.job-time').text(timeText);
        li.select('.job-error')
          .attr('hidden', (d) => (d.state === 'failed' && d.error ? null : true))
          .text((d) => (d.state === 'failed' && d.error ? `Error: ${d.error}` : ''));
        li.select('.job-note')
          .attr('hidden', (d) => (notes.has(d.id) ? null : true))
          .attr('data-kind', (d) => notes.get(d.id)?.kind || null)
          .text((d) => notes.get(d.id)?.text || '');
        li.select('.job-cancel')
          .attr('hidden', (d) => (!TERMINAL.has(d.state) && canEdit(user) ? null : true))
          .attr('aria-label', (d) => `Cancel job ${d.id} (${d.kind})`)
          .property('disabled', (d) => cancelling.has(d.id) || !!d.cancel_requested)
          .text((d) => (cancelling.has(d.id) ? 'Cancelling…' : d.cancel_requested ? 'Cancel requested' : 'Cancel'));
      });
  }

  function timeText(d) {
    if (d.state === 'queued') return `queued ${when(d.created_at)}`;
    if (d.state === 'running') return `running for ${duration(d.started_at)}`;
    const took = d.started_at ? ` after ${duration(d.started_at, d.finished_at)}` : '';
    return `${d.state} ${when(d.finished_at)}${took}`;
  }

  function tick() {
    list.selectAll('li.job.state-running, li.job.state-queued').select('.job-time').text(timeText);
  }

  function onVisible() { if (!document.hidden && running) refresh(); }

  store.on('job:new.jobs-panel', (job) => {
    if (job && running) {
      merge(job);
      follow();
      render();
    }
  });

  return {
    start() {
      if (running) return;
      running = true;
      loaded = false;
      render();
      refresh();
      schedule();
      ticker = setInterval(tick, 1000);
      document.addEventListener('visibilitychange', onVisible);
    },
    stop() {
      running = false;
      clearTimeout(timer);
      clearInterval(ticker);
      listCtl?.abort();
      for (const f of followers.values()) f.stop();
      followers.clear();
      jobs.clear();
      notes.clear();
      document.removeEventListener('visibilitychange', onVisible);
      list.selectAll('li.job').remove();
    },
  };
}

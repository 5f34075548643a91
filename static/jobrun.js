// jobrun.js — a "start a long job here and watch it" control, used by views that
// start jobs themselves (teacher outputs, concept extraction): a button, then a
// progress bar (role=progressbar) with the job's message, a Cancel button, and
// words for every outcome in an aria-live region (finished, failed with the
// server's reason, cancelled, refused with the API's message).
//
//   const run = createJobRunner(api, store, el, {
//     label: 'Run teacher outputs', what: 'Teacher outputs',
//     start: () => api.post(...),            // resolves with the 202 job
//     onDone: (job) => reload(),             // after a job succeeded
//     notFound: 'sentence shown when start() answers 404',
//   });
//   run.render({ editable, canCancel, disabledReason }); // after any change of context
//     editable: show the start button; canCancel: show Cancel on a running job
//     (defaults to editable); disabledReason: why the button is off, in words
//   run.attach(job);                           // follow a job started elsewhere
//   run.reset();                               // context changed: stop following
//
// The job is also handed to the Jobs panel (store command 'job:new').
// State lives in this closure, never on DOM nodes.

import { TERMINAL, isAbort } from './api.js';
import { announce, percent } from './ui.js';

const d3 = window.d3;
const MARK = { queued: '○', running: '◔', succeeded: '✓', failed: '✕', cancelled: '–' };

export function createJobRunner(api, store, el, opts) {
  const o = { label: 'Run', what: 'Job', notFound: 'This is not available in this version yet.', onDone: () => {}, ...opts };
  let job = null;        // newest snapshot of the job this control follows
  let follower = null;   // {stop, done}
  let starting = false;
  let cancelling = false;
  let note = { text: '', kind: '' }; // outcome sentence
  let ctx = { editable: false, disabledReason: '' };
  let generation = 0;    // bumped by reset(); late answers of an older context are dropped

  const root = d3.select(el).append('div').attr('class', 'job-runner');
  const button = root.append('button').attr('type', 'button').attr('class', 'run-button')
    .text(o.label).on('click', () => start());
  const reason = root.append('p').attr('class', 'run-reason');
  const box = root.append('div').attr('class', 'run-job').attr('hidden', true);
  const head = box.append('div').attr('class', 'job-head');
  head.append('span').attr('class', 'job-kind');
  head.append('span').attr('class', 'job-state');
  const bar = box.append('div').attr('class', 'progress').attr('role', 'progressbar')
    .attr('aria-valuemin', 0).attr('aria-valuemax', 100).attr('aria-label', `${o.what} progress`);
  bar.append('div').attr('class', 'progress-fill');
  const meta = box.append('div').attr('class', 'job-meta');
  meta.append('span').attr('class', 'job-pct');
  meta.append('span').attr('class', 'job-message');
  const cancelBtn = box.append('button').attr('type', 'button').attr('class', 'job-cancel quiet')
    .text('Cancel').on('click', () => cancel());
  const status = root.append('p').attr('class', 'run-status').attr('role', 'status').attr('aria-live', 'polite');

  function render() {
    const active = job && !TERMINAL.has(job.state);
    button.attr('hidden', !ctx.editable || active ? true : null)
      .property('disabled', starting || !!ctx.disabledReason)
      .text(starting ? 'Starting…' : job && job.state === 'succeeded' ? `${o.label} again` : o.label);
    reason.attr('hidden', ctx.disabledReason && ctx.editable && !active ? null : true).text(ctx.disabledReason || '');
    box.attr('hidden', job ? null : true);
    if (job) {
      box.attr('class', `run-job state-${job.state}`).attr('data-state', job.state).attr('data-job-id', job.id);
      head.select('.job-kind').text(`${o.what} · job #${job.id}`);
      head.select('.job-state').text(`${MARK[job.state] || '?'} ${job.state}`);
      const v = Math.round(100 * Math.max(0, Math.min(1, job.progress || 0)));
      bar.attr('aria-valuenow', v).attr('aria-valuetext', `${percent(job.progress)}, ${job.state}`);
      bar.select('.progress-fill').style('width', `${v}%`);
      meta.select('.job-pct').text(percent(job.progress));
      meta.select('.job-message').text(job.message && job.message !== job.state ? job.message : '');
      cancelBtn.attr('hidden', active && (ctx.canCancel ?? ctx.editable) ? null : true)
        .property('disabled', cancelling || !!job.cancel_requested)
        .attr('aria-label', `Cancel ${o.what.toLowerCase()} job ${job.id}`)
        .text(cancelling ? 'Cancelling…' : job.cancel_requested ? 'Cancel requested' : 'Cancel');
    }
    status.attr('data-kind', note.kind || null).text(note.text);
  }

  function say(text, kind = 'info') {
    note = { text, kind };
    render();
  }

  function finished(j) {
    if (j.state === 'succeeded') {
      say(`${o.what} finished.`, 'ok');
      announce(`${o.what} finished.`);
      o.onDone(j);
    } else if (j.state === 'failed') {
      say(`${o.what} failed: ${j.error || 'the server gave no reason.'}`, 'error');
    } else {
      say(`${o.what} was cancelled.`, 'info');
    }
  }

  function follow(j) {
    follower?.stop();
    job = j;
    render();
    if (TERMINAL.has(j.state)) { finished(j); return; }
    const gen = generation;
    const f = api.followJob(j.id, (next) => {
      if (gen !== generation) return;
      job = next;
      render();
    }, { after: j.seq || 0 });
    follower = f;
    f.done.then((last) => {
      if (gen !== generation || !last) return;
      job = last;
      follower = null;
      finished(last);
    }, (e) => {
      if (gen !== generation || isAbort(e)) return;
      follower = null;
      say(e.status === 404 ? 'The job is gone from the server.' : `Lost track of the job: ${e.message}`, 'error');
    });
  }

  async function start() {
    if (starting) return;
    starting = true;
    note = { text: '', kind: '' };
    render();
    const gen = generation;
    try {
      const j = await o.start();
      if (gen !== generation) return;
      store.command('job:new', j);
      announce(`${o.what} started as job ${j.id}.`);
      starting = false;
      follow(j);
    } catch (e) {
      if (gen !== generation) return;
      starting = false;
      if (e.status === 404 && /route/i.test(e.message)) say(o.notFound, 'error');
      else if (e.status === 403) say('Your role cannot start this; an editor or admin can.', 'error');
      else if (e.status === 0) say(`The server could not be reached. ${e.message}`, 'error');
      else say(`The server refused: ${e.message}`, 'error');
    }
  }

  async function cancel() {
    if (!job) return;
    cancelling = true;
    render();
    try {
      const j = await api.post(`/api/v1/jobs/${job.id}/cancel`);
      if (j.seq >= (job.seq || 0)) job = j;
      if (!TERMINAL.has(j.state)) say('Cancel requested; the job stops at its next checkpoint.');
    } catch (e) {
      if (e.conflict) say('The job had already finished, so there was nothing to cancel.');
      else say(`Could not cancel: ${e.message}`, 'error');
    } finally {
      cancelling = false;
      render();
    }
  }

  return {
    render(next = {}) { ctx = { ...ctx, ...next }; render(); },
    attach(j) { if (!job || job.id !== j.id) follow(j); },
    get job() { return job; },
    reset() {
      generation++;
      follower?.stop();
      follower = null;
      job = null;
      starting = false;
      cancelling = false;
      note = { text: '', kind: '' };
      render();
    },
  };
}

// sources/student.js — the selected project's student: a data source (not a view),
// shared by the views that show it (performance, concepts, instances, overview,
// provenance).
//
// One source per store (studentSource(store, api) is idempotent): when the project
// changes, or the session does, it reads GET /api/v1/projects/{id}, then finds the
// project's student in GET /api/v1/students?dataset_id= (the newest whose
// extraction_id and teacher_output_id are the project's) and fires
//   store.setData('student', {project, state, info, student, error})
//     project  the store's project key this answer is for
//     state    'idle' (no project / signed out) | 'loading' | 'draft' (an unsaved
//              "dataset:<id>" project) | 'none' (no student yet) | 'ready' | 'error'
//     info     the project, normalised (shapes.js normaliseProject), or null
//     student  the API's student {id, name, classes, stale, head: {number, id, measures}}
//
// Anything that makes a new version (a tune, a restore) asks for a re-read with
// reloadStudent(store), i.e. store.command('student:reload', {full: false}): one
// GET of the student shown, for its new head. A distillation makes a new student:
// reloadStudent(store, {full: true}) looks for the project's student again. Every
// view listening to data 'student' then re-renders without a page reload.
//
// fromSnap(snap): the snapshot as the tuning views read it ({none, student, head,
// project}, or null while there is nothing to show); headOf(that) its head number.
// shownVersion(store, snap): the version the views show.
//
// fetchVersion(api, studentId, number): a version's body (weights, measures). Versions
// never change, so the promise is cached per (student, number).

import { isAbort } from '../api.js';
import { DRAFT_PREFIX, normaliseProject } from '../shapes.js';

const sources = new WeakMap(); // store -> source
const live = new Set();        // every source, for reloadStudent() without a store
const versions = new Map();    // "sid/number" -> Promise<version>

// The store's 'student' snapshot as the tuning views (concepts, instances) read it:
// {none, student, head, project} or null while there is nothing to show.
export function fromSnap(snap) {
  if (!snap || (snap.state !== 'ready' && snap.state !== 'none')) return null;
  return { none: snap.state === 'none', student: snap.student, head: snap.student?.head?.number ?? null, project: snap.info };
}

export const headOf = (info) => info?.head ?? null;

export function fetchVersion(api, studentId, number) {
  const key = `${studentId}/${number}`;
  if (!versions.has(key)) {
    const p = api.get(`/api/v1/students/${studentId}/versions/${number}`);
    versions.set(key, p);
    p.catch(() => versions.delete(key));
  }
  return versions.get(key);
}

// reloadStudent(store): re-read the student (after a tune, restore or distillation).
// Without a store, every source on the page re-reads.
export function reloadStudent(store, { full = false } = {}) {
  if (store) { store.command('student:reload', { full }); return; }
  for (const s of live) s.reload({ full });
}

// The version a view shows: the store's version (a number) when it names one the
// student has, else the head.
export function shownVersion(store, snap) {
  const head = snap?.student?.head?.number;
  const v = Number(store.get('version'));
  return Number.isInteger(v) && v >= 1 && head && v <= head ? v : head ?? null;
}

export function studentSource(store, api) {
  if (sources.has(store)) return sources.get(store);
  let snap = { project: null, state: 'idle', info: null, student: null, error: '' };
  let gen = 0;
  let ctl = null;

  function publish(next) {
    snap = next;
    store.setData('student', snap);
  }

  async function load({ quiet = false, full = false } = {}) {
    const g = ++gen;
    ctl?.abort();
    const key = store.data('user') ? store.get('project') : null;
    const base = { project: key, state: 'idle', info: null, student: null, error: '' };
    if (!key) { publish(base); return; }
    if (key.startsWith(DRAFT_PREFIX)) { publish({ ...base, state: 'draft' }); return; }
    // A re-read of the same project keeps showing the old answer until the new one.
    if (!quiet || snap.project !== key) publish({ ...base, state: 'loading' });
    ctl = new AbortController();
    const { signal } = ctl;
    // The same student's new head: one read instead of the project and the list.
    if (quiet && !full && snap.project === key && snap.state === 'ready') {
      try {
        const student = await api.get(`/api/v1/students/${snap.student.id}`, { signal });
        if (g !== gen) return;
        if (student?.head) { publish({ ...snap, student }); return; }
      } catch (e) {
        if (isAbort(e) || g !== gen) return;
        if (e.status !== 404) { publish({ ...snap, state: 'error', error: e.message }); return; }
      }
    }
    try {
      const info = normaliseProject(await api.get(`/api/v1/projects/${encodeURIComponent(key)}`, { signal }));
      if (g !== gen) return;
      let student = null;
      if (info.extraction_id && info.teacher_output_id) {
        const r = await api.get('/api/v1/students', { query: { dataset_id: info.dataset_id, limit: 500 }, signal });
        if (g !== gen) return;
        student = (r.items || []).find((s) => s.extraction_id === info.extraction_id &&
          s.teacher_output_id === info.teacher_output_id && s.head) || null;
      }
      publish({ ...base, state: student ? 'ready' : 'none', info, student });
    } catch (e) {
      if (isAbort(e) || g !== gen) return;
      publish({ ...base, state: 'error', error: e.status === 404 ? `Project ${key} does not exist.` : e.message });
    }
  }

  store.on('select.student-source', ({ changed }) => { if (changed.includes('project')) load(); });
  store.on('data.student-source', ({ key }) => {
    if (key === 'user') load();
    // The project's parts became ready (teacher outputs, extraction finished).
    else if (key === 'projects' && (snap.state === 'none' || snap.state === 'error')) load({ quiet: true });
  });
  store.on('student:reload.student-source', (value) => load({ quiet: true, full: !!value?.full }));

  const source = {
    get current() { return snap; },
    reload: ({ full = false } = {}) => load({ quiet: true, full }),
  };
  sources.set(store, source);
  live.add(source);
  load();
  return source;
}

// views/provenance.js — the student's history, newest first (GET …/provenance):
// each version with what made it (distil, tune actions, restore), who and when, and
// the change in each measure on the selected split (▲ up / ▼ down; bluish green
// when better, vermillion when worse: the Okabe–Ito pair, never colour alone).
// "Show" selects that version (store 'version', a number; the other student views
// follow); "Restore" (editor+) makes a new head that copies it (POST …/restore); a
// 409 says the student changed under you and offers to reload the head. The export
// link downloads the shown version as JSON (…/versions/{v}/export).
// Re-reads whenever store data 'student' changes (a tune elsewhere, a restore here).
// init(store, api, el) -> {update()}

import { emptyState, canEdit, announce, when } from '../ui.js';
import { isAbort } from '../api.js';
import { begin } from '../perf.js';
import { studentSource, reloadStudent, shownVersion } from '../sources/student.js';

const d3 = window.d3;
const DEFAULT_SPLIT = 'test';
// Measures shown per entry: better is up for all but disagreements.
const MEASURES = [
  { key: 'fidelity', label: 'fidelity', pp: true, up: true },
  { key: 'student_accuracy', label: 'student accuracy', pp: true, up: true },
  { key: 'disagreements', label: 'disagreements', pp: false, up: false },
];

function describeAction(a) {
  if (a.action === 'restore') return `restored version ${a.version}`;
  const what = `“${a.concept}” for ${a.class}`;
  if (a.action === 'uptune' || a.action === 'downtune') return `${a.action} ${what} ×${a.factor ?? ''}`;
  if (a.action === 'set') return `set ${what} to ${a.value}`;
  return `${a.action} ${what}`;
}

export function init(store, api, el) {
  const source = studentSource(store, api);
  const root = d3.select(el);
  const status = root.append('p').attr('class', 'sv-status').attr('role', 'status');
  const emptyBox = root.append('div');
  const body = root.append('div').attr('class', 'prov').attr('hidden', true);
  const bar = body.append('div').attr('class', 'prov-bar');
  const headLine = bar.append('p').attr('class', 'sv-note prov-head');
  const exportLink = bar.append('a').attr('class', 'prov-export');
  const outcome = body.append('p').attr('class', 'prov-outcome').attr('role', 'status');
  const notice = body.append('div').attr('class', 'prov-notice').attr('role', 'alert').attr('hidden', true);
  const noticeText = notice.append('p');
  const noticeBtn = notice.append('button').attr('type', 'button').attr('class', 'quiet').text('Reload the head')
    .on('click', () => { notice.attr('hidden', true); reloadStudent(store); });
  body.append('p').attr('class', 'prov-legend sv-note')
    .text('Changes on the selected split: ▲ up, ▼ down; green is better, red is worse.');
  const list = body.append('ol').attr('class', 'prov-list').attr('aria-label', 'Versions, newest first');

  let items = null;   // provenance items for `forSid`
  let forSid = null;
  let gen = 0;
  let restoring = null; // version number being restored

  function deltaParts(it, split) {
    const d = it.deltas?.splits?.[split];
    if (!d) return [];
    return MEASURES.filter((m) => typeof d[m.key] === 'number').map((m) => {
      const v = d[m.key];
      const eps = m.pp ? 5e-5 : 0.5;
      const dir = v > eps ? 'up' : v < -eps ? 'down' : 'same';
      const better = dir === 'same' ? 'same' : (dir === 'up') === m.up ? 'better' : 'worse';
      const num = m.pp ? `${d3.format('+.1f')(v * 100)} pp` : d3.format('+d')(Math.round(v));
      const mark = dir === 'up' ? '▲' : dir === 'down' ? '▼' : '=';
      return { key: m.key, text: `${mark} ${m.label} ${dir === 'same' ? '±0' : num}`, better, dir };
    });
  }

  function render() {
    const snap = source.current;
    const ready = snap.state === 'ready' && items && forSid === snap.student.id;
    status.attr('data-kind', snap.state === 'error' ? 'error' : null)
      .text(snap.state === 'loading' ? 'Loading the student…' : snap.state === 'error' ? snap.error : '');
    emptyBox.attr('hidden', ready || snap.state === 'loading' ? true : null);
    if (!ready) {
      emptyState(emptyBox.node(), {
        title: 'No history yet.',
        what: 'The versions of the student and the tuning actions that made them, with the change in each measure; restore any version, export the current one.',
        needs: ['a project with a distilled student (Student performance → Distil a student)'],
      });
    }
    body.attr('hidden', ready ? null : true);
    if (!ready) return;
    const sid = snap.student.id;
    const head = snap.student.head.number;
    if (forSid !== null && forSid !== sid) outcome.text(''); // a word about another student
    const shown = shownVersion(store, snap);
    const split = store.get('split') ?? DEFAULT_SPLIT;
    const editable = canEdit(store.data('user'));
    headLine.text(`${snap.student.name || `Student ${sid}`}: ${head} version${head === 1 ? '' : 's'}, head is version ${head}.`);
    exportLink.attr('href', `/api/v1/students/${sid}/versions/${shown}/export`)
      .attr('download', `student-${sid}-v${shown}.json`)
      .text(`Export version ${shown} (JSON)`);

    const li = list.selectAll('li.prov-item').data(items, (d) => d.version).join((enter) => {
      const x = enter.append('li').attr('class', 'prov-item');
      const h = x.append('div').attr('class', 'prov-item-head');
      h.append('span').attr('class', 'prov-version');
      h.append('span').attr('class', 'prov-kind');
      h.append('span').attr('class', 'prov-who');
      x.append('p').attr('class', 'prov-actions');
      x.append('ul').attr('class', 'prov-deltas');
      const b = x.append('div').attr('class', 'prov-buttons');
      b.append('button').attr('type', 'button').attr('class', 'quiet prov-show');
      b.append('button').attr('type', 'button').attr('class', 'quiet prov-restore');
      return x;
    })
      .attr('data-version', (d) => d.version)
      .classed('is-head', (d) => d.version === head)
      .classed('is-shown', (d) => d.version === shown);
    li.select('.prov-version').text((d) => `v${d.version}${d.version === head ? ' · head' : ''}`);
    li.select('.prov-kind').text((d) => d.kind);
    li.select('.prov-who').text((d) => `by ${d.author_name || (d.author ? `user ${d.author}` : 'the server')}, ${when(d.created_at)}`);
    li.select('.prov-actions').text((d) => {
      if (d.kind === 'distill') return 'distilled from the teacher';
      const acts = (d.actions || []).map(describeAction).join('; ');
      return `${acts || d.kind}${d.parent ? ` (from v${d.parent})` : ''}`;
    });
    li.select('.prov-deltas').selectAll('li').data((d) => deltaParts(d, split), (p) => p.key).join('li')
      .attr('class', (p) => `delta ${p.better} ${p.dir}`)
      .text((p) => p.text);
    li.select('.prov-show')
      .attr('aria-pressed', (d) => String(d.version === shown))
      .attr('aria-label', (d) => `Show version ${d.version} in the other views`)
      .text((d) => (d.version === shown ? 'Shown' : 'Show'))
      .on('click', (ev, d) => {
        store.select({ version: d.version === head ? null : String(d.version) }, { source: 'provenance' });
        announce(`Showing version ${d.version}.`);
      });
    li.select('.prov-restore')
      .attr('hidden', (d) => (editable && d.version !== head ? null : true))
      .property('disabled', restoring !== null)
      .attr('aria-label', (d) => `Restore version ${d.version} as a new head`)
      .text((d) => (restoring === d.version ? 'Restoring…' : 'Restore'))
      .on('click', (ev, d) => restore(d.version, head));
  }

  async function restore(v, head) {
    const sid = source.current.student.id;
    begin('restore-updated', { until: () => restoring === null });
    restoring = v;
    notice.attr('hidden', true);
    outcome.text('');
    render();
    try {
      const r = await api.post(`/api/v1/students/${sid}/versions/${v}/restore`, { note: `restored from version ${v} (head was ${head})` });
      outcome.attr('data-kind', 'ok').text(`Version ${v} restored as version ${r.number}.`);
      announce(`Version ${v} restored as version ${r.number}.`);
      restoring = null;
      if (store.get('version') !== null) store.select({ version: null }, { source: 'provenance' });
      reloadStudent(store);
    } catch (e) {
      restoring = null;
      if (e.conflict) {
        noticeText.text(/stale/.test(e.message)
          ? `The server refused: ${e.message}. Its inputs were recomputed, so its versions can no longer be restored; reload the head to see where it stands.`
          : `The student changed since this page read it (${e.message}). Reload the head to see the newest version, then try again.`);
        notice.attr('hidden', null);
        noticeBtn.node().focus();
      } else {
        outcome.attr('data-kind', 'error').text(e.status === 403 ? 'Your role cannot restore versions; an editor or admin can.' : `Could not restore version ${v}: ${e.message}`);
      }
      render();
    }
  }

  async function load() {
    const snap = source.current;
    const g = ++gen;
    if (snap.state !== 'ready') { items = null; forSid = null; render(); return; }
    const sid = snap.student.id;
    const head = snap.student.head.number;
    if (forSid !== null && forSid !== sid) outcome.text(''); // a word about another student
    // Entries never change: with this student's history in hand, read only the
    // versions made since (a tune adds one), not the whole log again.
    const have = forSid === sid && items?.length ? items[0].version : 0;
    if (have === head) { render(); return; }
    const fresh = head - have;
    const more = have > 0 && fresh > 0 && fresh <= 50;
    try {
      const r = await api.get(`/api/v1/students/${sid}/provenance`, { query: { limit: more ? fresh : 200 } });
      if (g !== gen) return;
      const got = r.items || [];
      if (!more) items = got;
      else if (got.length === fresh && got.every((it) => it.version > have)) items = [...got, ...items].slice(0, 200);
      else { forSid = null; items = null; load(); return; } // not what we expected: read it all
      forSid = sid;
    } catch (e) {
      if (isAbort(e) || g !== gen) return;
      status.attr('data-kind', 'error').text(`Could not read the history: ${e.message}`);
      return;
    }
    render();
  }

  store.on('data.provenance', ({ key }) => { if (key === 'student') load(); });
  // The history does not depend on the class, concept or subset.
  store.on('select.provenance', ({ changed }) => {
    if (changed.some((k) => k === 'version' || k === 'split' || k === 'project')) render();
  });
  load();
  return { update: render };
}

// views/provenance.js — the student's history, newest first (GET …/provenance):
// each version with what made it (distil, tune actions, restore), who and when, and
// its change in each measure on every split side by side (a table: measures ×
// splits, the header's split highlighted; ▲ up / ▼ down, bluish green when better,
// vermillion when worse: the Okabe–Ito pair, never colour alone; a change that
// rounds to zero is "±0.0" in grey, deltas.js), per class on demand ("Per class":
// each class's fidelity change on every split). A distillation has no change: its
// entry shows the measures it started from.
// "Show" selects that version (store 'version', a number; the other student views
// follow); "Restore" (editor+), on any version but the head that is not stale, makes
// a new head that copies it, its own concept list included (POST …/restore with the
// head this page saw as `parent`); the outcome names the concepts it came back with.
// A stale version (GET …/versions says so, and why: its teacher output or a presence
// column it uses was computed again) says so instead of offering Restore. A 409 says
// the student changed under you and offers to reload the head.
// Using the shown version: "Try an image" (store command 'predict:open', views/
// predict.js), and its export as JSON (…/versions/{v}/export) or TorchScript
// (…/export.pt), downloaded through api.download and saved under the server's name.
// Notices that no longer hold go: the restore's outcome and a 409 notice are about
// one head, and a later head (a tune, a restore) clears them.
// Re-reads whenever store data 'student' changes (a tune elsewhere, a restore here).
// init(store, api, el) -> {update()}

import { emptyState, canEdit, announce, when, saveBlob } from '../ui.js';
import { isAbort } from '../api.js';
import { begin } from '../perf.js';
import { formatDelta, formatValue } from '../deltas.js';
import { shownSplit, orderSplits, splitLabel } from '../splits.js';
import { studentSource, reloadStudent, shownVersion, fetchVersion } from '../sources/student.js';

const d3 = window.d3;
// Measures shown per entry: better is up for all but disagreements.
const MEASURES = [
  { key: 'fidelity', label: 'fidelity', title: 'fidelity (agreement with the teacher), percentage points', pp: true, up: true },
  { key: 'student_accuracy', label: 'accuracy', title: 'student accuracy against the labels, percentage points', pp: true, up: true },
  { key: 'disagreements', label: 'disagree', title: 'images where student and teacher disagree', pp: false, up: false },
];

function describeAction(a) {
  if (a.action === 'restore') return `restored version ${a.version}`;
  if (a.action === 'add') return `added the concept “${a.concept}”`;
  if (a.action === 'drop') return `dropped the concept “${a.concept}”`;
  const what = `“${a.concept}” ${a.class ? `for ${a.class}` : 'in every class'}`;
  if (a.action === 'uptune' || a.action === 'downtune') return `${a.action} ${what} ×${a.factor ?? ''}`;
  if (a.action === 'set') return `set ${what} to ${a.value}`;
  return `${a.action} ${what}`;
}

// An entry's splits, in reading order: those its change (or, for a distillation,
// its measures) covers.
function entrySplits(it) {
  return orderSplits(Object.keys((it.deltas?.splits && Object.keys(it.deltas.splits).length
    ? it.deltas.splits : it.measures_after?.splits) || {}));
}

// One table cell: the change (a delta) or, without a parent, the value itself.
function cell(it, split, get, m) {
  const hasDelta = !!it.deltas?.splits;
  const src = hasDelta ? it.deltas.splits[split] : it.measures_after?.splits?.[split];
  const v = src ? get(src) : undefined;
  if (!hasDelta) return { text: formatValue(v, m), better: 'none', dir: 'none' };
  return formatDelta(v, m);
}

export function init(store, api, el) {
  const source = studentSource(store, api);
  const root = d3.select(el);
  const status = root.append('p').attr('class', 'sv-status').attr('role', 'status');
  const emptyBox = root.append('div');
  const body = root.append('div').attr('class', 'prov').attr('hidden', true);
  const bar = body.append('div').attr('class', 'prov-bar');
  const headLine = bar.append('p').attr('class', 'sv-note prov-head');
  const use = body.append('div').attr('class', 'prov-use').attr('role', 'group').attr('aria-labelledby', 'prov-use-label');
  const useLabel = use.append('span').attr('class', 'prov-use-label').attr('id', 'prov-use-label');
  const tryBtn = use.append('button').attr('type', 'button').attr('class', 'quiet prov-try')
    .on('click', () => store.command('predict:open', { version: shownVersion(store, source.current) }));
  const jsonBtn = use.append('button').attr('type', 'button').attr('class', 'quiet prov-export').attr('data-format', 'json')
    .text('Export JSON').on('click', () => exportVersion('json'));
  const ptBtn = use.append('button').attr('type', 'button').attr('class', 'quiet prov-export').attr('data-format', 'pt')
    .text('Export TorchScript').on('click', () => exportVersion('pt'));
  const useMsg = body.append('p').attr('class', 'prov-use-msg').attr('role', 'status');
  const outcome = body.append('p').attr('class', 'prov-outcome').attr('role', 'status');
  const notice = body.append('div').attr('class', 'prov-notice').attr('role', 'alert').attr('hidden', true);
  const noticeText = notice.append('p');
  const noticeBtn = notice.append('button').attr('type', 'button').attr('class', 'quiet').text('Reload the head')
    .on('click', () => { hideNotice(); reloadStudent(store); });
  const legend = body.append('p').attr('class', 'prov-legend sv-note');
  const list = body.append('ol').attr('class', 'prov-list').attr('aria-label', 'Versions, newest first');

  let items = null;   // provenance items for `forSid`
  let summaries = new Map(); // version number -> {stale, stale_reason, n_concepts} (GET …/versions)
  let forSid = null;
  let gen = 0;
  let restoring = null; // version number being restored
  let exporting = null; // 'json' | 'pt' while a download runs
  let outcomeHead = null; // the head the restore's outcome speaks of
  let noticeHead = null;  // the head a 409 notice was about
  const open = new Set(); // versions whose per-class table is shown

  function hideNotice() { notice.attr('hidden', true); noticeHead = null; }
  function clearOutcome() { outcome.attr('data-kind', null).text(''); outcomeHead = null; }

  // A later head than the one a notice speaks of: the notice no longer holds.
  function dropStale(snap) {
    const head = snap.state === 'ready' ? snap.student.head.number : null;
    if (outcomeHead !== null && head !== null && head > outcomeHead) clearOutcome();
    if (noticeHead !== null && head !== null && head > noticeHead) hideNotice();
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
        what: 'The versions of the student and the tuning actions that made them, with the change in each measure on every split; restore any version, try it on an image, export it.',
        needs: ['a project with a distilled student (Student performance → Distil a student)'],
      });
    }
    body.attr('hidden', ready ? null : true);
    if (!ready) return;
    const sid = snap.student.id;
    const head = snap.student.head.number;
    const shown = shownVersion(store, snap);
    const split = shownSplit(store);
    const cls = store.get('class');
    const classes = snap.student.classes || [];
    const editable = canEdit(store.data('user'));
    headLine.text(`${snap.student.name || `Student ${sid}`}: ${head} version${head === 1 ? '' : 's'}, head is version ${head}.`);
    useLabel.text(`Version ${shown}:`);
    tryBtn.text('Try an image').property('disabled', !!snap.student.stale)
      .attr('title', snap.student.stale ? 'This version is out of date (its inputs were computed again): restore one that is not stale, or distil again' : null)
      .attr('aria-label', `Try an image with version ${shown}`);
    jsonBtn.property('disabled', exporting !== null).attr('aria-label', `Export version ${shown} as JSON`)
      .text(exporting === 'json' ? 'Exporting…' : 'Export JSON');
    ptBtn.property('disabled', exporting !== null).attr('aria-label', `Export version ${shown} as TorchScript`)
      .text(exporting === 'pt' ? 'Exporting…' : 'Export TorchScript');
    legend.text(`Change on every split, the ${splitLabel(split).toLowerCase()} one in bold: fidelity and accuracy in ` +
      'percentage points, disagreements in images; ▲ up, ▼ down, green better, red worse, ±0 none at this precision.');

    const li = list.selectAll('li.prov-item').data(items, (d) => d.version).join((enter) => {
      const x = enter.append('li').attr('class', 'prov-item');
      const h = x.append('div').attr('class', 'prov-item-head');
      h.append('span').attr('class', 'prov-version');
      h.append('span').attr('class', 'prov-kind');
      h.append('span').attr('class', 'prov-who');
      x.append('p').attr('class', 'prov-actions');
      const t = x.append('table').attr('class', 'prov-table prov-deltas');
      t.append('thead').append('tr');
      t.append('tbody');
      const c = x.append('table').attr('class', 'prov-table prov-classes').attr('hidden', true);
      c.append('caption');
      c.append('thead').append('tr');
      c.append('tbody');
      const b = x.append('div').attr('class', 'prov-buttons');
      b.append('button').attr('type', 'button').attr('class', 'quiet prov-show');
      b.append('button').attr('type', 'button').attr('class', 'quiet prov-per-class');
      b.append('button').attr('type', 'button').attr('class', 'quiet prov-restore');
      b.append('span').attr('class', 'prov-stale');
      return x;
    })
      .attr('data-version', (d) => d.version)
      .classed('is-head', (d) => d.version === head)
      .classed('is-shown', (d) => d.version === shown);
    li.select('.prov-version').text((d) => `v${d.version}${d.version === head ? ' · head' : ''}`);
    li.select('.prov-kind').text((d) => {
      const n = summaries.get(d.version)?.n_concepts;
      return `${d.kind}${n != null ? ` · ${n} concept${n === 1 ? '' : 's'}` : ''}`;
    });
    li.classed('is-stale', (d) => !!summaries.get(d.version)?.stale);
    li.select('.prov-who').text((d) => `by ${d.author_name || (d.author ? `user ${d.author}` : 'the server')}, ${when(d.created_at)}`);
    li.select('.prov-actions').text((d) => {
      if (d.kind === 'distill') return 'distilled from the teacher; its measures:';
      const acts = (d.actions || []).map(describeAction).join('; ');
      return `${acts || d.kind}${d.parent ? ` (from v${d.parent})` : ''}`;
    });

    // Measures × splits, side by side.
    li.each(function (d) {
      const item = d3.select(this);
      const splits = entrySplits(d);
      const table = item.select('table.prov-deltas')
        .attr('aria-label', `Version ${d.version}: ${d.deltas?.splits ? 'change' : 'measures'} on every split`)
        .attr('hidden', splits.length ? null : true);
      table.select('thead tr').selectAll('th').data(['', ...splits], (s) => s).join('th')
        .attr('scope', (s, i) => (i ? 'col' : null))
        .classed('is-split', (s) => s === split)
        .text((s, i) => (i ? s : d.deltas?.splits ? 'change' : ''));
      const rows = table.select('tbody').selectAll('tr').data(MEASURES, (m) => m.key).join((enter) => {
        const r = enter.append('tr').attr('data-measure', (m) => m.key);
        r.append('th').attr('scope', 'row');
        return r;
      });
      rows.select('th').text((m) => m.label).attr('title', (m) => m.title);
      rows.selectAll('td').data((m) => splits.map((s) => ({ s, ...cell(d, s, (x) => x[m.key], m) })), (c) => c.s).join('td')
        .attr('class', (c) => `delta ${c.better} ${c.dir}`)
        .attr('data-split', (c) => c.s)
        .classed('is-split', (c) => c.s === split)
        .text((c) => c.text);

      // Per class: each class's fidelity (change) on every split.
      const isOpen = open.has(d.version);
      const per = item.select('table.prov-classes').attr('hidden', isOpen && splits.length ? null : true);
      item.select('.prov-per-class')
        .attr('hidden', splits.length && classes.length ? null : true)
        .attr('aria-expanded', String(isOpen))
        .attr('aria-label', `${isOpen ? 'Hide' : 'Show'} version ${d.version}'s per-class fidelity on every split`)
        .text(isOpen ? 'Hide classes' : 'Per class')
        .on('click', () => { if (open.has(d.version)) open.delete(d.version); else open.add(d.version); render(); });
      if (!isOpen) return;
      const fid = { pp: true, up: true };
      per.select('caption').text(d.deltas?.splits ? 'Change in each class’s fidelity, pp' : 'Each class’s fidelity');
      per.select('thead tr').selectAll('th').data(['class', ...splits], (s) => s).join('th')
        .attr('scope', 'col')
        .classed('is-split', (s) => s === split)
        .text((s) => s);
      const crow = per.select('tbody').selectAll('tr').data(classes, (c) => c).join((enter) => {
        const r = enter.append('tr');
        r.append('th').attr('scope', 'row');
        return r;
      }).classed('is-class', (c) => c === cls).attr('data-class', (c) => c);
      crow.select('th').text((c) => c);
      crow.selectAll('td').data((c, k) => splits.map((s) => ({ s, ...cell(d, s, (x) => x.classes?.[k]?.fidelity, fid) })), (c) => c.s)
        .join('td')
        .attr('class', (c) => `delta ${c.better} ${c.dir}`)
        .attr('data-split', (c) => c.s)
        .classed('is-split', (c) => c.s === split)
        .text((c) => c.text);
    });

    li.select('.prov-show')
      .attr('aria-pressed', (d) => String(d.version === shown))
      .attr('aria-label', (d) => `Show version ${d.version} in the other views`)
      .text((d) => (d.version === shown ? 'Shown' : 'Show'))
      .on('click', (ev, d) => {
        store.select({ version: d.version === head ? null : String(d.version) }, { source: 'provenance' });
        announce(`Showing version ${d.version}.`);
      });
    const stale = (d) => !!summaries.get(d.version)?.stale;
    li.select('.prov-restore')
      .attr('hidden', (d) => (editable && d.version !== head && !stale(d) ? null : true))
      .property('disabled', restoring !== null)
      .attr('aria-label', (d) => `Restore version ${d.version} as a new head`)
      .text((d) => (restoring === d.version ? 'Restoring…' : 'Restore'))
      .on('click', (ev, d) => restore(d.version, head));
    li.select('.prov-stale')
      .attr('hidden', (d) => (stale(d) ? null : true))
      .text((d) => (stale(d) ? `Stale: its ${summaries.get(d.version).stale_reason || 'input data'} was computed again since, ` +
        'so it cannot be used or restored.' : ''));
  }

  async function exportVersion(format) {
    const snap = source.current;
    if (snap.state !== 'ready' || exporting) return;
    const sid = snap.student.id;
    const v = shownVersion(store, snap);
    exporting = format;
    useMsg.attr('data-kind', 'busy').text(format === 'pt' ? `Building version ${v} as a TorchScript module…` : `Exporting version ${v}…`);
    render();
    try {
      const { blob, filename } = await api.download(`/api/v1/students/${sid}/versions/${v}/export${format === 'pt' ? '.pt' : ''}`);
      const name = filename || `student-${sid}-v${v}.${format}`;
      saveBlob(blob, name);
      useMsg.attr('data-kind', 'ok').text(`Saved ${name} (${d3.format('.3~s')(blob.size)}B).`);
      announce(`Version ${v} exported as ${name}.`);
    } catch (e) {
      useMsg.attr('data-kind', 'error').text(`Could not export version ${v}: ${e.message}`);
    } finally {
      exporting = null;
      render();
    }
  }

  async function restore(v, head) {
    const sid = source.current.student.id;
    begin('restore-updated', { until: () => restoring === null });
    restoring = v;
    hideNotice();
    clearOutcome();
    render();
    try {
      const r = await api.post(`/api/v1/students/${sid}/versions/${v}/restore`,
        { parent: head, note: `restored from version ${v} (head was ${head})` });
      let concepts = null;
      try { concepts = (await fetchVersion(api, sid, r.number)).concepts; } catch { /* said without them */ }
      outcome.attr('data-kind', 'ok').text(`Version ${v} restored as version ${r.number}` +
        (concepts ? `, with its ${concepts.length} concepts: ${concepts.join(', ')}.` : '.'));
      outcomeHead = r.number;
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
        noticeHead = head;
        noticeBtn.node().focus();
      } else {
        outcome.attr('data-kind', 'error').text(e.status === 403 ? 'Your role cannot restore versions; an editor or admin can.' : `Could not restore version ${v}: ${e.message}`);
        outcomeHead = head;
      }
      render();
    }
  }

  async function load() {
    const snap = source.current;
    const g = ++gen;
    dropStale(snap);
    if (snap.state !== 'ready') { items = null; forSid = null; render(); return; }
    const sid = snap.student.id;
    const head = snap.student.head.number;
    if (forSid !== null && forSid !== sid) { clearOutcome(); hideNotice(); open.clear(); } // words about another student
    // Entries never change: with this student's history in hand, read only the
    // versions made since (a tune adds one), not the whole log again.
    const have = forSid === sid && items?.length ? items[0].version : 0;
    if (have === head) { render(); return; }
    const fresh = head - have;
    const more = have > 0 && fresh > 0 && fresh <= 50;
    try {
      // Staleness can change with any head (another extraction, a recomputed column):
      // the versions' summaries are read again each time, beside the new entries.
      const [r, vs] = await Promise.all([
        api.get(`/api/v1/students/${sid}/provenance`, { query: { limit: more ? fresh : 200 } }),
        api.get(`/api/v1/students/${sid}/versions`, { query: { limit: 200 } }),
      ]);
      if (g !== gen) return;
      summaries = new Map((vs.items || []).map((x) => [x.number, x]));
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
  // The history does not depend on the concept or subset; the class marks a row of
  // the per-class tables.
  store.on('select.provenance', ({ changed }) => {
    if (changed.some((k) => k === 'version' || k === 'split' || k === 'project')) { useMsg.text(''); render(); }
    else if (changed.includes('class') && open.size) render();
  });
  load();
  return { update: render };
}

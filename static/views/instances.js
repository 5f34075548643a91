// views/instances.js — thumbnails of the selected disagreement subset, concept or
// class (in that order of precedence) on the split the header shows, paged, each
// with the teacher's and the student's answer; the hovered concept (store command 'concept:hover') or the selected
// concept has its segments outlined over each thumbnail (an SVG over the <img>);
// clicking a thumbnail shows its top contributing concepts for the student's class.
//
// Sources: one JSON read per page, with both answers for every thumbnail:
// subset "teacher=a,student=b" -> GET …/versions/{v}/disagreements?agreement=all&
// teacher_class=a&student_class=b&split=s (a diagonal cell lists the agreements);
// class -> the same with agreement=all&label=k&split=s; concept -> GET /extractions/
// {x}/concepts/{word}/gallery?split=s (its top images in that split, each with its
// segment), then their answers on the split in one …/disagreements?
// agreement=all&split=s&image_ids=…; that list is paged here. Versions never change, so these reads are cached per
// (student, version, query). Only a clicked image reads its
// contributions (GET …/versions/{v}/images/{id}/contributions, cached too); the
// outlines come from GET /extractions/{x}/images/{id}/segments (cached per image).
// A stale student (its teacher output or a presence column it uses was computed
// again) has no answers: a class's images then come from
// GET /datasets/{d}/images?label=k&split=s and are shown without them (a concept's
// gallery still keeps to the split).
//
// init(store, api, el) -> {update()}

import { announce } from '../ui.js';
import { track } from '../perf.js';
import { prefetchInIdle } from '../prefetch.js';
import { parseSubset } from '../shapes.js';
import { maskPath } from '../outline.js';
import { shownSplit, splitLabel } from '../splits.js';
import { studentSource, shownVersion, fromSnap } from '../sources/student.js';

const d3 = window.d3;
const PAGE = 12;
const THUMB = 128;
const GALLERY_ALL = 200; // a concept gallery's whole list (the server keeps its top 48)

export function init(store, api, el) {
  const source = studentSource(store, api);
  let snap = source.current;  // the store's 'student' snapshot (sources/student.js)
  let info = null;            // fromSnap(snap)
  // [{image_id, label?, class?, box?, mask?, answer?: {teacher_class, student_class}, answerError?}]
  let items = [];
  let total = 0;
  let offset = 0;
  let state = 'idle';         // idle | loading | ok | error
  let error = '';
  let hover = null;           // concept word hovered in another view (or here)
  let picked = null;          // image id whose contributions are shown
  let pickedBody = null;      // its contributions body (for the shown version)
  let contribState = 'idle';
  const reads = new Map();    // JSON of [sid, v, query] -> Promise<disagreements page>
  const contribs = new Map(); // `${sid}:${v}:${image}` -> Promise<contributions body>
  const segments = new Map(); // `${x}:${image}` -> segments body | 'loading' | 'error'
  let gen = 0;

  const root = d3.select(el).append('div').attr('class', 'tuning instances-view');
  const empty = root.append('div').attr('class', 'tuning-empty');
  const main = root.append('div').attr('class', 'tuning-main').attr('hidden', true);
  const caption = main.append('p').attr('class', 'tuning-caption').attr('id', 'instances-caption');
  const statusEl = main.append('p').attr('class', 'tuning-status').attr('role', 'status');
  const grid = main.append('ul').attr('class', 'thumb-grid').attr('aria-labelledby', 'instances-caption');
  const pager = main.append('div').attr('class', 'pager');
  const prev = pager.append('button').attr('type', 'button').attr('class', 'quiet').text('Previous')
    .on('click', () => { offset = Math.max(0, offset - PAGE); load(); });
  const pageText = pager.append('span').attr('class', 'page-text').attr('aria-live', 'polite');
  const next = pager.append('button').attr('type', 'button').attr('class', 'quiet').text('Next')
    .on('click', () => { offset += PAGE; load(); });
  const detail = main.append('section').attr('class', 'contrib').attr('aria-labelledby', 'contrib-title').attr('hidden', true);
  const detailTitle = detail.append('h3').attr('id', 'contrib-title');
  const detailNote = detail.append('p').attr('class', 'contrib-note');
  const detailList = detail.append('ol').attr('class', 'contrib-list');

  const sid = () => info?.student?.id;
  const ver = () => shownVersion(store, snap);
  const xid = () => info?.student?.extraction_id ?? info?.project?.extraction_id;
  const analysable = () => info && !info.none && info.student && !info.student.stale;
  const shownConcept = () => hover || store.get('concept');
  const cname = (c) => (typeof c === 'number' ? info?.student?.classes?.[c] ?? String(c) : c);

  function mode() {
    const s = store.state;
    if (s.subset) return 'subset';
    if (s.concept) return 'concept';
    if (s.class) return 'class';
    return null;
  }

  // ---- loading --------------------------------------------------------------------
  function takeSnap(next) {
    if (next.project !== store.get('project')) return;
    const old = info;
    snap = next;
    info = fromSnap(next);
    if (old?.student?.id !== info?.student?.id || !!old?.student?.stale !== !!info?.student?.stale) load();
    else if (old?.head !== info?.head) {
      // A new head (a tune): one read either way: the page again (a subset's images
      // may change; a class's stay, with new answers) or, for a concept's gallery
      // (the same images), the page's answers.
      if (mode() !== 'concept' || state !== 'ok') load({ quiet: true });
      else loadAnswers(++gen);
      if (picked !== null) loadDetail();
    } else render();
  }

  // A page of a version's images with both answers (GET …/disagreements); the
  // version is immutable, so each query is read once (the last 64 are kept). A read
  // a prefetch started is joined, and counted as the view's own from then on.
  function answered(query, { background = false } = {}) {
    const k = JSON.stringify([sid(), ver(), query]);
    let p = reads.get(k);
    if (p) { reads.delete(k); reads.set(k, p); return background ? p : track(p); }
    p = api.get(`/api/v1/students/${sid()}/versions/${ver()}/disagreements`, { query, background });
    reads.set(k, p);
    p.catch(() => { if (reads.get(k) === p) reads.delete(k); });
    while (reads.size > 64) reads.delete(reads.keys().next().value);
    return p;
  }
  // The first page of a class's images (the query a class selection reads).
  const classQuery = (k, split, at = 0) => ({ agreement: 'all', label: k, split, limit: PAGE, offset: at });

  // The other classes' first pages of the shown version, in idle time: picking
  // another class then draws at once (bench/ui_perf.mjs "select").
  function prefetchOtherClasses() {
    const s = sid();
    const v = ver();
    const split = shownSplit(store);
    const others = (info.student.classes || []).filter((c) => c !== store.state.class);
    prefetchInIdle(others.map((c) => () => answered(classQuery(c, split), { background: true })),
      () => analysable() && sid() === s && ver() === v && shownSplit(store) === split);
  }
  const answerOf = (d) => ({ teacher_class: d.teacher_class, student_class: d.student_class });

  // quiet: keep the current thumbnails as they are (not dimmed) until the answer
  // arrives (a new head: the same images, new answers).
  async function load({ quiet = false } = {}) {
    const g = ++gen;
    const m = mode();
    if (!info || info.none || !m) { items = []; total = 0; state = 'idle'; render(); return; }
    if (!quiet || state !== 'ok') { state = 'loading'; render(); }
    const s = store.state;
    const split = shownSplit(store);
    try {
      let r, withAnswers = false;
      if (m === 'subset') {
        if (!analysable()) throw new Error('the student is out of date; distil it again to see its disagreements');
        const q = parseSubset(s.subset) || {};
        r = await answered({ agreement: 'all', teacher_class: q.teacher, student_class: q.student, split, limit: PAGE, offset });
        withAnswers = true;
      } else if (m === 'concept') {
        const all = await conceptOnSplit(s.concept, split);
        r = { items: all.items.slice(offset, offset + PAGE), total: all.items.length };
        withAnswers = all.answered;
      } else {
        const k = (info.student.classes || []).indexOf(s.class);
        if (k < 0) throw new Error(`this student has no class “${s.class}”`);
        if (analysable()) {
          r = await answered(classQuery(s.class, split, offset));
          withAnswers = true;
          if (g === gen) prefetchOtherClasses();
        } else {
          r = await api.get(`/api/v1/datasets/${info.student.dataset_id}/images`,
            { query: { label: k, split, limit: PAGE, offset } });
        }
      }
      if (g !== gen) return;
      items = (r.items || []).map((d) => ({ ...d, image_id: d.image_id ?? d.id, answer: withAnswers ? answerOf(d) : undefined }));
      total = r.total ?? items.length;
      state = 'ok';
      render();
      if (!withAnswers) loadAnswers(g);
      if (shownConcept()) loadSegments(g);
    } catch (e) {
      if (g !== gen) return;
      items = []; total = 0;
      state = 'error'; error = e.message;
      render();
    }
  }

  // A concept's gallery on one split: its list in that split (of the server's top 48),
  // then the answers of those images on the split in one read. A stale student has no
  // answers: the split's images without them.
  async function conceptOnSplit(word, split) {
    const g = await api.get(`/api/v1/extractions/${xid()}/concepts/${encodeURIComponent(word)}/gallery`,
      { query: { limit: GALLERY_ALL, split } });
    const all = g.items || [];
    if (!analysable() || !all.length) return { items: all, answered: false };
    const ids = [...new Set(all.map((d) => d.image_id))].sort((a, b) => a - b);
    const r = await answered({ agreement: 'all', split, image_ids: ids.join(','), limit: ids.length });
    const byId = new Map((r.items || []).map((d) => [d.image_id, d]));
    return {
      items: all.filter((d) => byId.has(d.image_id)).map((d) => ({ ...byId.get(d.image_id), ...d })),
      answered: true,
    };
  }

  // The answers for a page that came without them (a concept's gallery): one read.
  async function loadAnswers(g) {
    if (!analysable() || !items.length) return;
    const ids = items.map((d) => d.image_id);
    try {
      const r = await answered({ agreement: 'all', image_ids: [...ids].sort((a, b) => a - b).join(','), limit: ids.length });
      if (g !== gen) return;
      const byId = new Map((r.items || []).map((d) => [d.image_id, d]));
      for (const d of items) {
        const a = byId.get(d.image_id);
        if (a) { d.answer = answerOf(a); d.answerError = false; } else d.answerError = true;
      }
    } catch {
      if (g !== gen) return;
      for (const d of items) if (!d.answer) d.answerError = true;
    }
    render();
  }

  // The clicked image's contributions (per version and image, read once).
  function contributions(id) {
    const k = `${sid()}:${ver()}:${id}`;
    if (!contribs.has(k)) {
      const p = api.get(`/api/v1/students/${sid()}/versions/${ver()}/images/${id}/contributions`, { query: { top: 10 } });
      contribs.set(k, p);
      p.catch(() => { if (contribs.get(k) === p) contribs.delete(k); });
    }
    return contribs.get(k);
  }

  // Segments arrive one by one; the view is drawn once per frame, not once per answer.
  let queued = false;
  function scheduleRender() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; render(); });
  }

  function loadSegments(g = gen) {
    const x = xid();
    if (!x) return;
    for (const d of items) {
      const k = `${x}:${d.image_id}`;
      if (segments.has(k)) continue;
      segments.set(k, 'loading');
      api.get(`/api/v1/extractions/${x}/images/${d.image_id}/segments`).then((r) => {
        segments.set(k, r);
        if (g === gen) scheduleRender();
      }, () => { segments.set(k, 'error'); });
    }
  }

  function pick(d) {
    picked = picked === d.image_id ? null : d.image_id;
    pickedBody = null;
    contribState = 'idle';
    render();
    if (picked !== null) loadDetail().then(() => detail.node().scrollIntoView({ block: 'nearest' }));
  }

  async function loadDetail() {
    const id = picked;
    if (id === null || !analysable()) { render(); return; }
    const k = `${sid()}:${ver()}`;
    contribState = 'loading';
    render();
    try {
      const body = await contributions(id);
      if (picked !== id || `${sid()}:${ver()}` !== k) return;
      pickedBody = body;
      contribState = 'ok';
      const top = topContributions(body);
      announce(`Image ${id}: the student says ${cname(body.student_class)}; top concepts ${top.slice(0, 3).map((c) => c.concept).join(', ')}.`);
    } catch (e) {
      if (picked !== id) return;
      contribState = `Could not load the contributions: ${e.message}`;
    }
    render();
  }

  // The student's class's contributions, largest magnitude first.
  function topContributions(a) {
    if (!a) return [];
    const want = cname(a.student_class);
    const c = (a.classes || []).find((x) => x.class === want) || (a.classes || [])[0];
    return c ? [...c.contributions].sort((x, y) => Math.abs(y.contribution) - Math.abs(x.contribution)) : [];
  }

  // Outlines of `concept` on image d: the gallery's own segment, else the segments
  // whose nearest concept is it.
  function outlines(d, concept) {
    if (!concept) return [];
    const out = [];
    if (mode() === 'concept' && concept === store.get('concept') && (d.box || d.mask)) out.push(d);
    const seg = segments.get(`${xid()}:${d.image_id}`);
    if (seg && typeof seg === 'object') {
      for (const s of seg.segments || []) if (s.nearest?.word === concept && (s.box || s.mask)) out.push(s);
    }
    return out;
  }

  // ---- render ----------------------------------------------------------------------
  function render() {
    const s = store.state;
    const m = mode();
    if (!info || info.none || !m) {
      main.attr('hidden', true);
      empty.attr('hidden', null);
      const box = empty.selectAll('div.empty-state').data([null]).join('div').attr('class', 'empty-state');
      box.selectAll('p.empty-title').data([snap?.state === 'loading' ? 'Loading…'
        : snap?.state === 'error' ? `Could not load: ${snap.error}`
          : info?.none ? 'This project has no student yet.' : 'No images to show yet.'])
        .join('p').attr('class', 'empty-title').text((d) => d);
      box.selectAll('p.empty-what').data(['A gallery of images for the selected class, concept or disagreement subset, with the teacher’s and student’s answers and the concept’s segments outlined on each image. Pick a class or a concept.'])
        .join('p').attr('class', 'empty-what').text((d) => d);
      return;
    }
    empty.attr('hidden', true);
    main.attr('hidden', null);
    const sub = parseSubset(s.subset) || {};
    const on = ` on the ${splitLabel(shownSplit(store)).toLowerCase()} split`;
    caption.text(m === 'subset' ? (sub.teacher != null && sub.teacher === sub.student ? `Agreements${on}: teacher and student say ${sub.teacher}`
      : `Disagreements${on}: teacher ${sub.teacher ?? 'any'}, student ${sub.student ?? 'any'}`)
      : m === 'concept' ? `Images where “${s.concept}” is most present${on}${analysable() ? '' : ' (the student is out of date: no answers)'}`
        : `Images labelled ${s.class}${on}`);
    const c = shownConcept();
    statusEl.attr('data-kind', state === 'error' ? 'error' : null).text(
      state === 'loading' ? 'Loading images…'
        : state === 'error' ? `Could not load the images: ${error}`
          : !items.length ? (m === 'concept' ? `None of the images where “${s.concept}” is most present is on this split.` : 'No images here.')
            : info.student.stale ? 'The student’s head is out of date (its teacher output or a presence column it uses was computed again), so its answers are not shown: restore a version that is not stale (Provenance), or distil again.'
              : c ? `Outlined: segments nearest to “${c}”.` : 'Hover a concept to outline its segments; pick an image for its top concepts.');

    // While the next page or selection loads, the current thumbnails stay (dimmed).
    grid.classed('is-loading', state === 'loading');
    const li = grid.selectAll('li.thumb').data(state === 'ok' || state === 'loading' ? items : [], (d) => d.image_id).join((enter) => {
      const e = enter.append('li').attr('class', 'thumb');
      const b = e.append('button').attr('type', 'button').attr('class', 'thumb-button')
        .on('click', (ev, d) => pick(d));
      const frame = b.append('span').attr('class', 'thumb-frame');
      frame.append('img').attr('width', THUMB).attr('height', THUMB).attr('loading', 'lazy').attr('alt', '')
        .attr('src', (d) => `/api/v1/images/${d.image_id}/thumb?size=${THUMB}`);
      frame.append('svg').attr('class', 'thumb-outline').attr('viewBox', '0 0 1 1')
        .attr('preserveAspectRatio', 'none').attr('aria-hidden', 'true');
      b.append('span').attr('class', 'thumb-answers');
      return e;
    });
    li.classed('picked', (d) => d.image_id === picked);
    li.classed('disagree', (d) => d.answer && cname(d.answer.teacher_class) !== cname(d.answer.student_class));
    li.select('.thumb-button')
      .attr('aria-pressed', (d) => String(d.image_id === picked))
      .attr('aria-label', (d) => {
        const a = d.answer;
        const lab = d.class ?? (d.label != null ? cname(d.label) : null);
        return `Image ${d.image_id}${lab != null ? `, label ${cname(lab)}` : ''}` +
          (a ? `: teacher says ${cname(a.teacher_class)}, student says ${cname(a.student_class)}` : '') +
          '. Show its top concepts';
      });
    li.select('.thumb-answers').each(function (d) {
      const a = d.answer;
      const rows = a ? [['T', 'Teacher', cname(a.teacher_class)], ['S', 'Student', cname(a.student_class)]]
        : [['', '', d.answerError ? 'no answer' : analysable() ? '…' : '']];
      d3.select(this).selectAll('span.ans').data(rows).join('span').attr('class', (r) => `ans ans-${r[0] || 'none'}`)
        .attr('title', (r) => (r[1] ? `${r[1]}: ${r[2]}` : null))
        .text((r) => (r[0] ? `${r[0]}: ${r[2]}` : r[2]));
    });
    li.select('svg.thumb-outline').each(function (d) {
      const shapes = outlines(d, c);
      const svg = d3.select(this);
      svg.selectAll('rect').data(shapes.filter((x) => x.box)).join('rect')
        .attr('x', (x) => x.box[0]).attr('y', (x) => x.box[1])
        .attr('width', (x) => Math.max(0, x.box[2] - x.box[0])).attr('height', (x) => Math.max(0, x.box[3] - x.box[1]));
      svg.selectAll('path').data(shapes.filter((x) => x.mask)).join('path').attr('d', (x) => maskPath(x.mask));
    });

    const end = Math.min(total, offset + items.length);
    pager.attr('hidden', state === 'ok' && total > PAGE ? null : true);
    pageText.text(total ? `${offset + 1}–${end} of ${total}` : '');
    prev.property('disabled', offset === 0);
    next.property('disabled', offset + PAGE >= total);

    const d = items.find((x) => x.image_id === picked);
    detail.attr('hidden', d ? null : true);
    if (d) {
      const body = pickedBody?.image_id === d.image_id ? pickedBody : null; // its contributions
      const a = body || d.answer;
      detailTitle.text(`Image ${d.image_id}: why the student says ${a ? cname(a.student_class) : '…'}`);
      detailNote.text(!analysable() ? 'The student is out of date, so its contributions cannot be computed.'
        : contribState === 'loading' ? 'Loading its contributions…'
          : typeof contribState === 'string' && contribState.startsWith('Could') ? contribState
            : body ? `Teacher: ${cname(body.teacher_class)}. ${topContributions(body).some((x) => x.contribution !== 0)
              ? `Top concepts (presence × weight) for ${cname(body.student_class)}:`
              : `No concept contributes to ${cname(body.student_class)} here (its weights are zero); the bias decides.`}` : '');
      const top = topContributions(body).filter((x) => x.contribution !== 0).slice(0, 8);
      const mx = d3.max(top, (x) => Math.abs(x.contribution)) || 1;
      const row = detailList.selectAll('li').data(top, (x) => x.concept).join((enter) => {
        const e = enter.append('li');
        e.append('button').attr('type', 'button').attr('class', 'contrib-name quiet');
        e.append('span').attr('class', 'contrib-bar').append('span');
        e.append('span').attr('class', 'contrib-value');
        return e;
      });
      row.select('.contrib-name').text((x) => x.concept)
        .attr('aria-label', (x) => `${x.concept}: contribution ${d3.format('+.3f')(x.contribution)} (presence ${d3.format('.2f')(x.presence)} × weight ${d3.format('+.3f')(x.weight)}). Outline it`)
        .on('mouseenter focus', (ev, x) => store.command('concept:hover', x.concept))
        .on('mouseleave blur', () => store.command('concept:hover', null))
        .on('click', (ev, x) => store.select({ concept: x.concept }, { source: 'instances' }));
      row.select('.contrib-bar span')
        .attr('class', (x) => (x.contribution < 0 ? 'neg' : 'pos'))
        .style('width', (x) => `${Math.round(100 * Math.abs(x.contribution) / mx)}%`);
      row.select('.contrib-value').text((x) => d3.format('+.3f')(x.contribution));
    }
  }

  store.on('select.instances', ({ changed }) => {
    if (changed.includes('project')) { gen++; picked = null; pickedBody = null; offset = 0; info = null; snap = null; items = []; render(); return; }
    if (changed.some((k) => ['class', 'concept', 'subset', 'split', 'version'].includes(k))) {
      offset = 0; picked = null; pickedBody = null; load();
    }
  });
  store.on('data.instances', ({ key, value }) => {
    if (key === 'student' && value) takeSnap(value);
  });
  store.on('concept:hover.instances', (word) => {
    hover = word || null;
    if (hover) loadSegments();
    render();
  });

  takeSnap(source.current);
  return { update: render };
}

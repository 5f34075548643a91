// views/instances.js — thumbnails of the selected disagreement subset, concept or
// class (in that order of precedence), paged, each with the teacher's and the
// student's answer; the hovered concept (store data 'hoverConcept') or the selected
// concept has its segments outlined over each thumbnail (an SVG over the <img>);
// clicking a thumbnail shows its top contributing concepts for the student's class.
//
// Sources: subset "teacher=a,student=b" -> GET …/versions/{v}/disagreements;
// concept -> GET /extractions/{x}/concepts/{word}/gallery (with each image's
// segment); class -> GET /datasets/{d}/images?label=k. The answers come from
// GET …/versions/{v}/images/{id}/contributions (cached per version and image), the
// outlines from GET /extractions/{x}/images/{id}/segments (cached per image).
// A stale student (its data changed) has no answers; the images are still shown.
//
// init(store, api, el) -> {update()}

import { announce } from '../ui.js';
import { fromSnap } from './concepts.js';
import { studentSource, shownVersion, parseSubset } from './student.js';

const d3 = window.d3;
const PAGE = 12;
const THUMB = 128;

// The outline path of a mask {h, w, bits} in a 0..1 x 0..1 box: the cell edges
// between a set cell and an unset one (or the border).
export function maskPath(mask) {
  const { h, w, bits } = mask;
  const on = (y, x) => y >= 0 && x >= 0 && y < h && x < w && bits[y * w + x] === '1';
  const sx = 1 / w, sy = 1 / h, f = (v) => +v.toFixed(4);
  let p = '';
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!on(y, x)) continue;
      if (!on(y - 1, x)) p += `M${f(x * sx)} ${f(y * sy)}H${f((x + 1) * sx)}`;
      if (!on(y + 1, x)) p += `M${f(x * sx)} ${f((y + 1) * sy)}H${f((x + 1) * sx)}`;
      if (!on(y, x - 1)) p += `M${f(x * sx)} ${f(y * sy)}V${f((y + 1) * sy)}`;
      if (!on(y, x + 1)) p += `M${f((x + 1) * sx)} ${f(y * sy)}V${f((y + 1) * sy)}`;
    }
  }
  return p;
}

export function init(store, api, el) {
  const source = studentSource(store, api);
  let snap = source.current;  // the store's 'student' snapshot (views/student.js)
  let info = null;            // fromSnap(snap)
  let items = [];             // [{image_id, label?, class?, box?, mask?, teacher_class?, student_class?}]
  let total = 0;
  let offset = 0;
  let state = 'idle';         // idle | loading | ok | error
  let error = '';
  let hover = null;           // concept word hovered in another view (or here)
  let picked = null;          // image id whose contributions are shown
  let contribState = 'idle';
  const answers = new Map();  // `${sid}:${v}:${image}` -> Promise<contributions body>
  const known = new Map();    // the same key -> the body, once it arrived
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
      // A new head (a tune): a class's or concept's images are the same, only the
      // answers change; a disagreement subset depends on the version.
      if (mode() === 'subset' || state !== 'ok') load();
      else { for (const d of items) { delete d.answer; delete d.answerError; } scheduleRender(); loadAnswers(gen); }
    } else render();
  }

  async function load() {
    const g = ++gen;
    const m = mode();
    if (!info || info.none || !m) { items = []; total = 0; state = 'idle'; render(); return; }
    state = 'loading';
    render();
    const s = store.state;
    try {
      let r;
      if (m === 'subset') {
        if (!analysable()) throw new Error('the student is out of date; distil it again to see its disagreements');
        const q = parseSubset(s.subset) || {};
        r = await api.get(`/api/v1/students/${sid()}/versions/${ver()}/disagreements`, {
          query: { teacher_class: q.teacher, student_class: q.student, split: s.split, limit: PAGE, offset },
        });
      } else if (m === 'concept') {
        r = await api.get(`/api/v1/extractions/${xid()}/concepts/${encodeURIComponent(s.concept)}/gallery`,
          { query: { limit: PAGE, offset } });
      } else {
        const k = (info.student.classes || []).indexOf(s.class);
        if (k < 0) throw new Error(`this student has no class “${s.class}”`);
        r = await api.get(`/api/v1/datasets/${info.student.dataset_id}/images`,
          { query: { label: k, split: s.split, limit: PAGE, offset } });
      }
      if (g !== gen) return;
      items = (r.items || []).map((d) => ({ ...d, image_id: d.image_id ?? d.id }));
      // Answers already known for this version show at once.
      if (analysable()) for (const d of items) { const a = known.get(akey(d.image_id)); if (a) d.answer = a; }
      total = r.total ?? items.length;
      state = 'ok';
      render();
      loadAnswers(g);
      if (shownConcept()) loadSegments(g);
    } catch (e) {
      if (g !== gen) return;
      items = []; total = 0;
      state = 'error'; error = e.message;
      render();
    }
  }

  // Answers arrive one by one; the view is drawn once per frame, not once per answer.
  let queued = false;
  function scheduleRender() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; render(); });
  }

  const akey = (id) => `${sid()}:${ver()}:${id}`;
  async function answer(id) {
    const k = akey(id);
    if (!answers.has(k)) {
      const p = api.get(`/api/v1/students/${sid()}/versions/${ver()}/images/${id}/contributions`, { query: { top: 10 } });
      answers.set(k, p);
      p.then((r) => known.set(k, r), () => answers.delete(k));
    }
    return answers.get(k);
  }

  // The thumbnails on screen: inside the view's scroll box and the window. Their
  // answers are read first; the rest when scrolled to (one request per image).
  const scroller = el.closest('.view');
  function onScreen() {
    const nodes = grid.selectAll('li.thumb').nodes();
    if (!nodes.length) return new Set();
    const box = scroller ? scroller.getBoundingClientRect() : { top: 0, bottom: innerHeight };
    const top = Math.max(0, box.top) - 40, bottom = Math.min(innerHeight, box.bottom) + 40;
    return new Set(nodes.filter((n) => { const r = n.getBoundingClientRect(); return r.height && r.bottom >= top && r.top <= bottom; })
      .map((n) => d3.select(n).datum().image_id));
  }
  let scrollQueued = false;
  function onScroll() {
    if (scrollQueued || state !== 'ok' || !items.some((d) => !d.answer && !d.answerError)) return;
    scrollQueued = true;
    requestAnimationFrame(() => { scrollQueued = false; loadAnswers(gen); });
  }
  scroller?.addEventListener('scroll', onScroll, { passive: true });
  window.addEventListener('scroll', onScroll, { passive: true });
  window.addEventListener('resize', onScroll, { passive: true });

  function loadAnswers(g) {
    if (!analysable()) return;
    const seen = onScreen();
    for (const d of items) {
      if (d.answer || d.answerError || !seen.has(d.image_id)) continue;
      answer(d.image_id).then((r) => {
        if (g !== gen) return;
        d.answer = r;
        scheduleRender();
      }, () => {
        if (g !== gen) return;
        d.answerError = true;
        scheduleRender();
      });
    }
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

  async function pick(d) {
    picked = picked === d.image_id ? null : d.image_id;
    render();
    if (picked === null || !analysable()) return;
    contribState = 'loading';
    render();
    try {
      d.answer = await answer(d.image_id);
      contribState = 'ok';
      const top = topContributions(d.answer);
      announce(`Image ${d.image_id}: the student says ${cname(d.answer.student_class)}; top concepts ${top.slice(0, 3).map((c) => c.concept).join(', ')}.`);
    } catch (e) {
      contribState = `Could not load the contributions: ${e.message}`;
    }
    render();
    detail.node().scrollIntoView({ block: 'nearest' });
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
    caption.text(m === 'subset' ? `Disagreements: teacher ${sub.teacher ?? 'any'}, student ${sub.student ?? 'any'}`
      : m === 'concept' ? `Images where “${s.concept}” is most present`
        : `Images labelled ${s.class}${s.split ? ` (${s.split})` : ''}`);
    const c = shownConcept();
    statusEl.attr('data-kind', state === 'error' ? 'error' : null).text(
      state === 'loading' ? 'Loading images…'
        : state === 'error' ? `Could not load the images: ${error}`
          : !items.length ? 'No images here.'
            : info.student.stale ? 'The student is out of date (its concepts changed), so its answers are not shown; distil it again.'
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
        const lab = a?.label ?? d.class ?? (d.label != null ? cname(d.label) : null);
        return `Image ${d.image_id}${lab != null ? `, label ${cname(lab)}` : ''}` +
          (a ? `: teacher says ${cname(a.teacher_class)}, student says ${cname(a.student_class)}` : '') +
          '. Show its top concepts';
      });
    li.select('.thumb-answers').each(function (d) {
      const a = d.answer;
      const rows = a ? [['T', 'Teacher', cname(a.teacher_class)], ['S', 'Student', cname(a.student_class)]]
        : d.teacher_class != null ? [['T', 'Teacher', cname(d.teacher_class)], ['S', 'Student', cname(d.student_class)]]
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
      const a = d.answer;
      detailTitle.text(`Image ${d.image_id}: why the student says ${a ? cname(a.student_class) : '…'}`);
      detailNote.text(!analysable() ? 'The student is out of date, so its contributions cannot be computed.'
        : contribState === 'loading' ? 'Loading its contributions…'
          : typeof contribState === 'string' && contribState.startsWith('Could') ? contribState
            : a ? `Teacher: ${cname(a.teacher_class)}. ${topContributions(a).some((x) => x.contribution !== 0)
              ? `Top concepts (presence × weight) for ${cname(a.student_class)}:`
              : `No concept contributes to ${cname(a.student_class)} here (its weights are zero); the bias decides.`}` : '');
      const top = topContributions(a).filter((x) => x.contribution !== 0).slice(0, 8);
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
        .on('mouseenter focus', (ev, x) => store.setData('hoverConcept', x.concept))
        .on('mouseleave blur', () => store.setData('hoverConcept', null))
        .on('click', (ev, x) => store.select({ concept: x.concept }, { source: 'instances' }));
      row.select('.contrib-bar span')
        .attr('class', (x) => (x.contribution < 0 ? 'neg' : 'pos'))
        .style('width', (x) => `${Math.round(100 * Math.abs(x.contribution) / mx)}%`);
      row.select('.contrib-value').text((x) => d3.format('+.3f')(x.contribution));
    }
  }

  store.on('select.instances', ({ changed }) => {
    if (changed.includes('project')) { gen++; picked = null; offset = 0; info = null; snap = null; items = []; render(); return; }
    if (changed.some((k) => ['class', 'concept', 'subset', 'split', 'version'].includes(k))) {
      offset = 0; picked = null; load();
    }
  });
  store.on('data.instances', ({ key, value }) => {
    if (key === 'hoverConcept') {
      hover = value || null;
      if (hover) loadSegments();
      render();
    } else if (key === 'student' && value) {
      takeSnap(value);
    }
  });

  takeSnap(source.current);
  return { update: render };
}

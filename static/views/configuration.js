// views/configuration.js — the selected project's parts and the jobs that prepare it:
//   Dataset        name, classes, images per split (bar chart), sample thumbnails per split
//   Teacher        name, accuracy per split from its teacher outputs, or a button that
//                  runs the teacher over the dataset (job, with progress and cancel)
//   Concept model  name, encoder; Corpus: name, version, a searchable word list;
//                  "New corpus" (configuration/new-corpus.js: words typed or from a
//                  .txt file, the class-name filter on by default; a draft selects
//                  the corpus made); "Run concept extraction" (POST /api/v1/extractions, a job)
//
// The project comes from store 'project': a project id (GET /api/v1/projects/{id}),
// or "dataset:<id>" — a draft the Projects panel offers when the server has no
// projects yet; then the teacher, concept model and corpus are chosen here with
// labelled selects (kept in this view only, not in the URL).
//
// Each load is tagged with a generation number; answers for an older selection are
// dropped. Every list is a keyed join (images by id, splits by name, words by word).
// init(store, api, el) -> {update()}

import { emptyState, canEdit } from '../ui.js';
import { TERMINAL, isAbort } from '../api.js';
import { barChart } from '../charts/bars.js';
import { createJobRunner } from '../jobrun.js';
import { DRAFT_PREFIX, normaliseProject } from '../shapes.js';
import { createNewCorpus } from './configuration/new-corpus.js';

const d3 = window.d3;
const THUMB = 64;            // thumbnail size asked of the server (longer side, px)
const SAMPLES_PER_SPLIT = 6; // thumbnails per split strip
const WORDS_SHOWN = 300;     // words listed at most (the count says how many match)
const SPLIT_ORDER = ['train', 'val', 'test', 'shifted'];

const pct = d3.format('.1%');
const splitSort = (a, b) => {
  const ia = SPLIT_ORDER.indexOf(a); const ib = SPLIT_ORDER.indexOf(b);
  return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
};

export function init(store, api, el) {
  let gen = 0;
  let m = blank(); // everything this view shows for the current project

  function blank() {
    return {
      projectKey: null, draft: false, project: null, error: '', loading: false,
      dataset: null, samples: new Map(), // split -> [image]
      teachers: null, concepts: null, corpora: null, // lists (draft choices)
      choice: { teacher_model_id: null, concept_model_id: null, corpus_id: null },
      teacher: null, teacherOutput: null, teacherNote: '',
      conceptModel: null, corpus: null, corpusNote: '', extraction: null, wordFilter: '',
    };
  }

  const root = d3.select(el);
  const status = root.append('p').attr('class', 'config-status').attr('role', 'status');
  const emptyBox = root.append('div').attr('class', 'config-empty');
  const body = root.append('div').attr('class', 'config').attr('hidden', true);

  // ---- dataset ---------------------------------------------------------------------
  const dsSec = body.append('section').attr('class', 'cfg-section cfg-dataset').attr('aria-labelledby', 'cfg-ds-title');
  dsSec.append('h3').attr('id', 'cfg-ds-title').text('Dataset');
  const dsName = dsSec.append('p').attr('class', 'cfg-name');
  const dsClassesLabel = dsSec.append('p').attr('class', 'cfg-sub').attr('id', 'cfg-classes-label');
  const dsClasses = dsSec.append('ul').attr('class', 'class-list').attr('aria-labelledby', 'cfg-classes-label');
  dsSec.append('p').attr('class', 'cfg-sub').attr('id', 'cfg-splits-label').text('Images per split');
  const dsChart = dsSec.append('div').attr('class', 'split-chart');
  const dsThumbs = dsSec.append('div').attr('class', 'thumb-strips');
  const splitBars = barChart().title('Images per split').key((d) => d.split).label((d) => d.split)
    .value((d) => d.n).width(300).labelWidth(64);

  // ---- teacher -----------------------------------------------------------------------
  const tSec = body.append('section').attr('class', 'cfg-section cfg-teacher').attr('aria-labelledby', 'cfg-t-title');
  tSec.append('h3').attr('id', 'cfg-t-title').text('Teacher');
  const tPick = tSec.append('div').attr('class', 'cfg-pick');
  tPick.append('label').attr('for', 'cfg-teacher-select').text('Teacher model');
  tPick.append('select').attr('id', 'cfg-teacher-select')
    .on('change', (ev) => { m.choice.teacher_model_id = Number(ev.target.value) || null; teacherRun.reset(); loadTeacher(gen); });
  const tName = tSec.append('p').attr('class', 'cfg-name');
  const tAccLabel = tSec.append('p').attr('class', 'cfg-sub').text('Teacher accuracy per split');
  const tAcc = tSec.append('div').attr('class', 'acc-chart');
  const tNote = tSec.append('p').attr('class', 'cfg-note');
  const accBars = barChart().title('Teacher accuracy per split').key((d) => d.split)
    .label((d) => d.split).value((d) => d.accuracy).max(1).width(300).labelWidth(64).valueWidth(96)
    .valueText((d) => `${pct(d.accuracy)} of ${d.n}`);
  const teacherRun = createJobRunner(api, store, tSec.node(), {
    label: 'Run teacher outputs',
    what: 'Teacher outputs',
    notFound: 'Teacher outputs are not available in this version yet.',
    start: () => api.post(`/api/v1/datasets/${m.dataset.id}/teacher-outputs`, { model_id: teacherId() }),
    onDone: () => { loadTeacher(gen); if (!m.draft) store.command('projects:reload'); },
  });

  // ---- concept model and corpus ------------------------------------------------------
  const cSec = body.append('section').attr('class', 'cfg-section cfg-concepts').attr('aria-labelledby', 'cfg-c-title');
  cSec.append('h3').attr('id', 'cfg-c-title').text('Concept model and corpus');
  const cPick = cSec.append('div').attr('class', 'cfg-pick');
  cPick.append('label').attr('for', 'cfg-concept-select').text('Concept model');
  cPick.append('select').attr('id', 'cfg-concept-select')
    .on('change', (ev) => { m.choice.concept_model_id = Number(ev.target.value) || null; extractRun.reset(); loadConcepts(gen); });
  cPick.append('label').attr('for', 'cfg-corpus-select').text('Corpus');
  cPick.append('select').attr('id', 'cfg-corpus-select')
    .on('change', (ev) => { m.choice.corpus_id = Number(ev.target.value) || null; extractRun.reset(); loadConcepts(gen); });
  const newCorpus = createNewCorpus(api, cSec.node(), {
    // The filter reads the classes and the concept model: the project's, or the
    // draft's dataset and chosen model.
    context: () => ({
      key: gen,
      params: !m.dataset ? null : m.draft
        ? (m.choice.concept_model_id ? { dataset_id: m.dataset.id, concept_model_id: m.choice.concept_model_id } : null)
        : (m.project ? { project_id: m.project.id } : null),
      reason: 'Choose a concept model above first: the filter compares words with the class names under it.',
      modelName: m.conceptModel?.name || '',
    }),
    onCreated: (corpus, key) => {
      if (key !== gen) return;
      if (!m.draft) {
        m.corpusNote = `Corpus “${corpus.name}” was made for a new project; this project keeps its own corpus.`;
        render();
        return;
      }
      const item = { id: corpus.id, name: corpus.name, word_count: (corpus.words || []).length };
      m.corpora = [...(Array.isArray(m.corpora) ? m.corpora : []), item];
      m.choice.corpus_id = corpus.id;
      extractRun.reset();
      loadConcepts(gen);
      render(); // the picker shows the new corpus at once, its words when loaded
    },
  });
  const cName = cSec.append('p').attr('class', 'cfg-name cfg-concept-name');
  const corpusName = cSec.append('p').attr('class', 'cfg-name cfg-corpus-name');
  const wordsBox = cSec.append('div').attr('class', 'words');
  wordsBox.append('label').attr('for', 'cfg-word-search').text('Search the corpus words');
  wordsBox.append('input').attr('id', 'cfg-word-search').attr('type', 'search').attr('autocomplete', 'off')
    .attr('aria-controls', 'cfg-word-list').attr('aria-describedby', 'cfg-word-count')
    .on('input', (ev) => { m.wordFilter = ev.target.value; renderWords(); });
  const wordCount = wordsBox.append('p').attr('class', 'cfg-sub').attr('id', 'cfg-word-count').attr('aria-live', 'polite');
  const wordList = wordsBox.append('ul').attr('class', 'word-list').attr('id', 'cfg-word-list')
    .attr('aria-label', 'Corpus words').attr('tabindex', 0);
  const cNote = cSec.append('p').attr('class', 'cfg-note');
  const extractRun = createJobRunner(api, store, cSec.node(), {
    label: 'Run concept extraction',
    what: 'Concept extraction',
    notFound: 'Concept extraction is not available in this version yet.',
    start: () => api.post('/api/v1/extractions', {
      dataset_id: m.dataset.id, concept_model_id: conceptId(), corpus_id: corpusId(),
    }),
    onDone: () => { loadConcepts(gen); if (!m.draft) store.command('projects:reload'); },
  });

  const teacherId = () => (m.draft ? m.choice.teacher_model_id : m.project?.teacher_model_id) || null;
  const conceptId = () => (m.draft ? m.choice.concept_model_id : m.project?.concept_model_id) || null;
  const corpusId = () => (m.draft ? m.choice.corpus_id : m.project?.corpus_id) || null;

  // ---- render ------------------------------------------------------------------------
  function render() {
    const user = store.data('user');
    const editor = canEdit(user);
    const key = m.projectKey;
    status.text(m.loading ? 'Loading the project…' : m.error);
    status.attr('data-kind', m.error ? 'error' : null);

    if (!key || (!m.dataset && !m.loading)) {
      body.attr('hidden', true);
      emptyBox.attr('hidden', null);
      emptyState(emptyBox.node(), {
        title: key ? 'This project cannot be shown.' : 'No project selected.',
        what: 'The dataset, teacher, concept model and corpus of the selected project, with buttons that prepare it for distillation and a progress bar for every long job they start.',
        needs: key ? [] : ['a project (or a dataset) picked in the Projects panel'],
        selected: key ? [['project', key]] : [],
      });
      return;
    }
    emptyBox.attr('hidden', true);
    body.attr('hidden', m.dataset ? null : true);
    if (!m.dataset) return;

    // Dataset.
    const ds = m.dataset;
    const classes = ds.classes || [];
    dsName.text(`${ds.name} — ${ds.image_count ?? 0} images`);
    dsClassesLabel.text(`${classes.length} ${classes.length === 1 ? 'class' : 'classes'}`);
    dsClasses.selectAll('li').data(classes, (d) => d).join('li').text((d) => d);
    const splits = Object.entries(ds.splits || {}).map(([split, n]) => ({ split, n })).sort((a, b) => splitSort(a.split, b.split));
    dsChart.datum(splits).call(splitBars);
    const strip = dsThumbs.selectAll('figure.thumb-strip').data(splits, (d) => d.split).join((enter) => {
      const f = enter.append('figure').attr('class', 'thumb-strip');
      f.append('figcaption');
      f.append('ul').attr('class', 'thumbs');
      return f;
    });
    strip.select('figcaption').text((d) => `Samples from ${d.split}`);
    strip.select('ul.thumbs').selectAll('li').data((d) => m.samples.get(d.split) || [], (d) => d.id)
      .join((enter) => {
        const li = enter.append('li');
        li.append('img').attr('loading', 'lazy').attr('decoding', 'async');
        return li;
      })
      .select('img')
      .attr('src', (d) => `/api/v1/images/${d.id}/thumb?size=${THUMB}`)
      .attr('alt', (d) => `${d.class ?? 'unlabelled'}, ${d.split}`)
      .attr('title', (d) => `${d.class ?? 'unlabelled'}, ${d.split} (image ${d.id})`)
      .attr('width', (d) => thumbSize(d).w)
      .attr('height', (d) => thumbSize(d).h);

    // Teacher.
    tPick.attr('hidden', m.draft ? null : true);
    if (m.draft) fillSelect(tPick.select('select'), m.teachers, m.choice.teacher_model_id,
      (d) => `${d.name} (${(d.classes || []).length} classes)`, 'teacher');
    const t = m.teacher;
    tName.attr('hidden', t ? null : true).text(t ? `${t.name} — ${(t.classes || []).length} classes, input ${inputText(t)}` : '');
    const acc = m.teacherOutput?.accuracy
      ? Object.entries(m.teacherOutput.accuracy).filter(([k]) => k !== 'all' || Object.keys(m.teacherOutput.accuracy).length === 1)
        .map(([split, a]) => ({ split, ...a })).sort((a, b) => splitSort(a.split, b.split))
      : [];
    tAccLabel.attr('hidden', acc.length ? null : true);
    tAcc.attr('hidden', acc.length ? null : true).datum(acc).call(accBars);
    tNote.text(m.teacherNote);
    teacherRun.render({
      // Outputs already there: nothing to run (a finished run stays shown).
      editable: editor && !!t && !m.teacherOutput,
      canCancel: editor,
      disabledReason: t && classes.length && (t.classes || []).length !== classes.length
        ? `This teacher has ${(t.classes || []).length} classes and the dataset ${classes.length}; they must match.` : '',
    });

    // Concept model and corpus.
    cPick.attr('hidden', m.draft ? null : true);
    if (m.draft) {
      fillSelect(cPick.select('#cfg-concept-select'), m.concepts, m.choice.concept_model_id, (d) => `${d.name}${d.encoder ? ` (${d.encoder})` : ''}`, 'concept model');
      fillSelect(cPick.select('#cfg-corpus-select'), m.corpora, m.choice.corpus_id, (d) => `${d.name}${d.word_count != null ? ` (${d.word_count} words)` : ''}`, 'corpus');
    }
    const cm = m.conceptModel;
    cName.attr('hidden', cm ? null : true)
      .text(cm ? `Concept model: ${cm.name}${cm.encoder ? ` (${cm.encoder}` : ''}${cm.embedding_dim ? `, ${cm.embedding_dim}-d)` : cm.encoder ? ')' : ''}` : '');
    const cp = m.corpus;
    corpusName.attr('hidden', cp ? null : true)
      .text(cp ? `Corpus: ${cp.name}, version ${cp.version ?? 1}, ${(cp.words || []).length} words` : '');
    wordsBox.attr('hidden', cp ? null : true);
    renderWords();
    newCorpus.render({ editable: editor });
    const x = m.extraction;
    cNote.text([m.corpusNote, x ? extractionText(x) : ''].filter(Boolean).join(' '));
    extractRun.render({
      editable: editor && !!m.dataset,
      canCancel: editor,
      disabledReason: !cm || !cp ? 'Choose a concept model and a corpus first.' : '',
    });
  }

  function renderWords() {
    const words = m.corpus?.words || [];
    const q = m.wordFilter.trim().toLowerCase();
    const match = q ? words.filter((w) => String(w).toLowerCase().includes(q)) : words;
    const shown = match.slice(0, WORDS_SHOWN);
    wordCount.text(q ? `${match.length} of ${words.length} words match “${m.wordFilter.trim()}”${match.length > shown.length ? ` (first ${shown.length} shown)` : ''}`
      : `${words.length} words${words.length > shown.length ? ` (first ${shown.length} shown)` : ''}`);
    wordList.selectAll('li').data(shown, (d) => d).join('li').text((d) => d);
  }

  function fillSelect(sel, items, value, text, noun) {
    const opts = !items ? [{ placeholder: 'Loading…' }]
      : items.error ? [{ placeholder: items.error }]
        : [{ placeholder: `Choose a ${noun}…` }, ...items];
    sel.selectAll('option').data(opts, (d) => (d.placeholder !== undefined ? `p:${d.placeholder}` : `i:${d.id}`)).join('option')
      .attr('value', (d) => (d.placeholder !== undefined ? '' : d.id))
      .text((d) => d.placeholder ?? text(d));
    sel.property('disabled', !Array.isArray(items) || !items.length);
    sel.property('value', value ? String(value) : '');
  }

  function thumbSize(d) {
    const w = d.width || THUMB; const h = d.height || THUMB;
    const s = THUMB / Math.max(w, h);
    return { w: Math.max(1, Math.round(w * Math.min(1, s))), h: Math.max(1, Math.round(h * Math.min(1, s))) };
  }
  function inputText(t) {
    const i = t.input || {};
    return i.width && i.height ? `${i.width}×${i.height}` : 'size unknown';
  }
  function extractionText(x) {
    if (x.state === 'ready') return x.current === false
      ? 'An extraction exists, but the corpus changed since; run it again.'
      : `Concepts extracted for ${x.n_images ?? '?'} images${x.n_failed ? ` (${x.n_failed} failed)` : ''}.`;
    if (x.state === 'failed') return `The last extraction failed: ${x.error || 'no reason given'}.`;
    return `An extraction is ${x.state}.`;
  }

  // ---- loading -------------------------------------------------------------------------
  const live = (g) => g === gen;
  const listOf = (path, query) => api.get(path, { query }).then((r) => r.items || [],
    (e) => ({ error: `could not load (${e.message})` }));

  async function loadProject(key) {
    const g = ++gen;
    teacherRun.reset();
    extractRun.reset();
    m = blank();
    newCorpus.reset();
    m.projectKey = key;
    if (!key) { render(); return; }
    m.loading = true;
    render();
    try {
      let datasetId;
      if (key.startsWith(DRAFT_PREFIX)) {
        m.draft = true;
        datasetId = Number(key.slice(DRAFT_PREFIX.length));
        if (!Number.isInteger(datasetId) || datasetId <= 0) throw Object.assign(new Error(`"${key}" does not name a dataset.`), { status: 400 });
      } else {
        if (!/^[1-9][0-9]{0,17}$/.test(key)) throw new Error(`"${key}" is not a project id. Pick a project in the Projects panel.`);
        try {
          m.project = normaliseProject(await api.get(`/api/v1/projects/${key}`));
        } catch (e) {
          if (e.status === 404) throw new Error(`There is no project ${key}.`);
          throw e;
        }
        if (!live(g)) return;
        datasetId = m.project.dataset_id;
      }
      try {
        m.dataset = await api.get(`/api/v1/datasets/${datasetId}`);
      } catch (e) {
        if (e.status === 404) throw new Error(`Dataset ${datasetId} does not exist (any more).`);
        throw e;
      }
      if (!live(g)) return;
      m.loading = false;
      render();
      if (m.draft) await loadDraftLists(g);
      await Promise.all([loadSamples(g), loadTeacher(g), loadConcepts(g)]);
    } catch (e) {
      if (isAbort(e) || !live(g)) return;
      m.loading = false;
      m.error = e.message;
      render();
    }
  }

  async function loadDraftLists(g) {
    const [teachers, concepts, corpora] = await Promise.all([
      listOf('/api/v1/models', { kind: 'teacher', limit: 500 }),
      listOf('/api/v1/models', { kind: 'concept', limit: 500 }),
      listOf('/api/v1/corpora', { limit: 500 }),
    ]);
    if (!live(g)) return;
    m.teachers = teachers; m.concepts = concepts; m.corpora = corpora;
    // Sensible defaults: a teacher whose class count matches the dataset, the first
    // concept model and corpus.
    const n = (m.dataset.classes || []).length;
    if (Array.isArray(teachers)) m.choice.teacher_model_id = (teachers.find((t) => (t.classes || []).length === n) || teachers[0])?.id ?? null;
    if (Array.isArray(concepts)) m.choice.concept_model_id = concepts[0]?.id ?? null;
    if (Array.isArray(corpora)) m.choice.corpus_id = corpora[0]?.id ?? null;
  }

  async function loadSamples(g) {
    const splits = Object.keys(m.dataset.splits || {});
    await Promise.all(splits.map(async (split) => {
      try {
        const r = await api.get(`/api/v1/datasets/${m.dataset.id}/images`, { query: { split, limit: SAMPLES_PER_SPLIT } });
        if (live(g)) m.samples.set(split, r.items || []);
      } catch { /* a split without samples just shows its bar */ }
    }));
    if (live(g)) render();
  }

  async function loadTeacher(g) {
    if (!live(g)) return;
    m.teacher = null; m.teacherOutput = null; m.teacherNote = '';
    const tid = teacherId();
    if (!tid) {
      m.teacherNote = m.draft && Array.isArray(m.teachers) && !m.teachers.length
        ? 'No teacher model is registered yet. An admin registers one with POST /api/v1/models.'
        : m.draft && m.teachers?.error ? `Teachers are ${m.teachers.error}.` : 'No teacher chosen.';
      render();
      return;
    }
    try {
      const [t, outs] = await Promise.all([
        api.get(`/api/v1/models/${tid}`),
        api.get(`/api/v1/datasets/${m.dataset.id}/teacher-outputs`),
      ]);
      if (!live(g) || tid !== teacherId()) return;
      m.teacher = t;
      const mine = (outs.items || []).filter((o) => o.model_id === tid).sort((a, b) => b.id - a.id)[0];
      if (mine) {
        m.teacherOutput = await api.get(`/api/v1/teacher-outputs/${mine.id}`);
        if (!live(g) || tid !== teacherId()) return;
      } else {
        m.teacherNote = 'The teacher has not been run over this dataset yet.';
        // A run started elsewhere (another tab, the API) is followed here too.
        const running = (store.data('jobs') || []).find((j) => j.kind === 'teacher.outputs' && !TERMINAL.has(j.state) &&
          j.params?.dataset_id === m.dataset.id && j.params?.model_id === tid);
        if (running) teacherRun.attach(running);
      }
    } catch (e) {
      if (!live(g)) return;
      m.teacherNote = e.status === 404 ? `Teacher model ${tid} does not exist (any more).` : `Could not load the teacher: ${e.message}`;
    }
    render();
  }

  let conceptsLoad = 0; // the latest loadConcepts call; only its answers are kept
  async function loadConcepts(g) {
    if (!live(g)) return;
    const mine = ++conceptsLoad;
    m.conceptModel = null; m.corpus = null; m.corpusNote = ''; m.extraction = null;
    const cid = conceptId(); const kid = corpusId();
    // Answers land here and reach m only from the latest call: an older one (another
    // choice, an extraction since) may answer after it.
    const got = { conceptModel: null, corpus: null, extraction: null };
    const notes = [];
    const tasks = [];
    if (cid) {
      tasks.push(api.get(`/api/v1/models/${cid}`).then((c) => { got.conceptModel = c; },
        (e) => notes.push(e.status === 404 ? `Concept model ${cid} does not exist.` : `Could not load the concept model: ${e.message}`)));
    } else if (m.draft && Array.isArray(m.concepts) && !m.concepts.length) {
      notes.push('No concept model is registered yet.');
    }
    if (kid) {
      tasks.push(api.get(`/api/v1/corpora/${kid}`).then((c) => { got.corpus = c; },
        (e) => notes.push(e.status === 404 ? `Corpus ${kid} does not exist.` : `Could not load the corpus: ${e.message}`)));
      tasks.push(api.get('/api/v1/extractions', { query: { dataset_id: m.dataset.id, corpus_id: kid } }).then((r) => {
        got.extraction = (r.items || []).filter((x) => x.concept_model_id === cid).sort((a, b) => b.id - a.id)[0] || null;
      }, () => { /* extraction status is a nicety; the button still says what happens */ }));
    } else if (m.draft && m.corpora?.error) {
      notes.push(`Corpora are ${m.corpora.error}.`);
    } else if (m.draft && Array.isArray(m.corpora) && !m.corpora.length) {
      notes.push('No corpus exists yet. An editor makes one with “New corpus” above.');
    }
    await Promise.all(tasks);
    if (!live(g) || mine !== conceptsLoad || cid !== conceptId() || kid !== corpusId()) return;
    Object.assign(m, got);
    m.corpusNote = notes.join(' ');
    const running = (store.data('jobs') || []).find((j) => j.kind === 'concepts.extract' && !TERMINAL.has(j.state) &&
      j.params?.dataset_id === m.dataset.id && j.params?.concept_model_id === cid && j.params?.corpus_id === kid);
    if (running) extractRun.attach(running);
    render();
  }

  // Nothing is fetched before sign-in (the URL may name a project already).
  function update() {
    const key = store.data('user') ? store.get('project') : null;
    if (key !== m.projectKey) loadProject(key);
    else render();
  }

  store.on('select.configuration', ({ changed }) => { if (changed.includes('project')) update(); });
  store.on('data.configuration', ({ key }) => {
    if (key === 'user') {
      // Signed in (or out): reload what the selection names with the new session.
      loadProject(store.data('user') ? store.get('project') : null);
    }
  });
  update();
  return { update };
}

// views/projects.js — the Projects panel: the list of projects, a "New project"
// form for editors, and the demo build's progress while the server builds it.
//
// A project is a dataset + a teacher + a concept model + a concept corpus; picking
// one sets store 'project' (its id) and every view follows.
//
// Routes: GET /api/v1/projects ({items}) and POST /api/v1/projects. While there
// is no project yet, the panel also lists the datasets (GET /api/v1/datasets):
// picking one selects project "dataset:<id>", a draft the Configuration view
// completes (teacher, concept model, corpus chosen there). The demo world is a job
// of kind "demo.build" (GET /api/v1/jobs?kind=)
// the server starts on first run; while it is queued or running the panel shows
// "Building the demo world…" with its live progress (api.followJob) and reloads
// the list when it succeeds.
//
// Keyboard: the items are buttons (Tab reaches the list, Enter/Space picks);
// ArrowUp/ArrowDown/Home/End move between items of the same list.
//
// init(store, api, el) -> {load()}

import { TERMINAL, isAbort } from '../api.js';
import { announce, canEdit, percent } from '../ui.js';
import { DRAFT_PREFIX, normaliseProject } from '../shapes.js';

const d3 = window.d3;
const DEMO_KIND = 'demo.build';

// What a project still lacks, in words ('' when ready or unknown).
function missingParts(p) {
  if (p.ready !== false || !p.parts) return '';
  const need = [];
  if (p.parts.dataset && !p.parts.dataset.ready) need.push('images');
  if (p.parts.teacher_output && !p.parts.teacher_output.ready) need.push('teacher outputs');
  if (p.parts.corpus && !p.parts.corpus.ready) need.push('corpus words');
  if (p.parts.extraction && !p.parts.extraction.ready) need.push('concept extraction');
  return need.length ? `needs ${need.join(', ')}` : '';
}

export function init(store, api, el) {
  let projects = null;      // [{id, name, dataset_name, teacher_name, ...}] or null before loading
  let projectsState = 'idle'; // idle | loading | ok | error
  let projectsError = '';
  let datasets = null;      // [{id, name, classes, image_count, splits}] (listed while there is no project)
  let datasetsError = '';
  let demo = null;          // the newest demo.build job snapshot, if any
  let demoFollower = null;
  let loadCtl = null;
  const form = { open: false, lists: null, error: '', busy: false, note: '' };

  const root = d3.select(el);
  const status = root.append('p').attr('class', 'projects-status').attr('role', 'status');

  // ---- demo build --------------------------------------------------------------
  const demoBox = root.append('div').attr('class', 'demo-build').attr('hidden', true)
    .attr('role', 'group').attr('aria-labelledby', 'demo-build-title');
  demoBox.append('p').attr('class', 'demo-title').attr('id', 'demo-build-title').text('Building the demo world…');
  demoBox.append('p').attr('class', 'demo-what')
    .text('The server is composing scenes from Fashion-MNIST, then training a teacher and a concept model on them. The demo project appears here when it is done.');
  const demoBar = demoBox.append('div').attr('class', 'progress').attr('role', 'progressbar')
    .attr('aria-valuemin', 0).attr('aria-valuemax', 100).attr('aria-label', 'Demo world build progress');
  demoBar.append('div').attr('class', 'progress-fill');
  const demoMeta = demoBox.append('p').attr('class', 'job-meta').attr('aria-live', 'polite');
  const demoError = demoBox.append('p').attr('class', 'job-error').attr('role', 'alert');

  // ---- lists -------------------------------------------------------------------
  const list = root.append('ul').attr('class', 'project-list').attr('aria-label', 'Projects');
  const empty = root.append('div').attr('class', 'empty-state projects-empty').attr('hidden', true);
  empty.append('p').attr('class', 'empty-title');
  empty.append('p').attr('class', 'empty-what')
    .text('A project puts together a dataset, a teacher model (the classifier to explain), a concept model and a corpus of concept words. Distilling it gives a student you can read and tune.');
  const fallback = root.append('div').attr('class', 'dataset-fallback').attr('hidden', true);
  fallback.append('h3').attr('id', 'fallback-title').text('Datasets');
  const fallbackNote = fallback.append('p').attr('class', 'fallback-note');
  const dsList = fallback.append('ul').attr('class', 'project-list dataset-list').attr('aria-labelledby', 'fallback-title');

  // ---- new project form ----------------------------------------------------------
  const toggle = root.append('button').attr('type', 'button').attr('class', 'quiet new-project-toggle')
    .attr('aria-expanded', 'false').attr('aria-controls', 'new-project-form').attr('hidden', true)
    .text('New project')
    .on('click', () => { form.open = !form.open; if (form.open) loadFormLists(); render(); if (form.open) el.querySelector('#np-name')?.focus(); });
  const formEl = root.append('form').attr('id', 'new-project-form').attr('class', 'new-project')
    .attr('novalidate', true).attr('hidden', true).attr('aria-labelledby', 'np-title')
    .on('submit', (ev) => { ev.preventDefault(); submit(); });
  formEl.append('h3').attr('id', 'np-title').text('New project');
  const formNote = formEl.append('p').attr('class', 'form-note');
  const FIELDS = [
    { id: 'np-dataset', name: 'dataset_id', label: 'Dataset', list: 'datasets', text: (d) => `${d.name} (${(d.classes || []).length} classes, ${d.image_count ?? 0} images)` },
    { id: 'np-teacher', name: 'teacher_model_id', label: 'Teacher model', list: 'teachers', text: (d) => `${d.name} (${(d.classes || []).length} classes)` },
    { id: 'np-concept', name: 'concept_model_id', label: 'Concept model', list: 'concepts', text: (d) => `${d.name}${d.encoder ? ` (${d.encoder})` : ''}` },
    { id: 'np-corpus', name: 'corpus_id', label: 'Concept corpus', list: 'corpora', text: (d) => `${d.name}${d.word_count != null ? ` (${d.word_count} words)` : ''}` },
  ];
  formEl.append('label').attr('for', 'np-name').text('Name');
  formEl.append('input').attr('id', 'np-name').attr('name', 'name').attr('required', true).attr('autocomplete', 'off');
  for (const f of FIELDS) {
    formEl.append('label').attr('for', f.id).text(f.label);
    formEl.append('select').attr('id', f.id).attr('name', f.name).attr('required', true);
  }
  const formActions = formEl.append('div').attr('class', 'form-actions');
  const submitBtn = formActions.append('button').attr('type', 'submit').text('Create project');
  formActions.append('button').attr('type', 'button').attr('class', 'quiet').text('Close')
    .on('click', () => { form.open = false; render(); el.querySelector('.new-project-toggle')?.focus(); });
  const formError = formEl.append('p').attr('class', 'form-error').attr('role', 'alert').attr('id', 'np-error');

  // Arrow keys move focus between the buttons of one list.
  function arrowKeys(ev) {
    const keys = ['ArrowDown', 'ArrowUp', 'Home', 'End'];
    if (!keys.includes(ev.key)) return;
    const buttons = [...ev.currentTarget.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    ev.preventDefault();
    const j = ev.key === 'Home' ? 0 : ev.key === 'End' ? buttons.length - 1
      : Math.max(0, Math.min(buttons.length - 1, i + (ev.key === 'ArrowDown' ? 1 : -1)));
    buttons[j].focus();
  }
  list.on('keydown', arrowKeys);
  dsList.on('keydown', arrowKeys);

  function pick(id, name) {
    store.select({ project: String(id) }, { source: 'projects' });
    announce(`Selected ${name}.`);
  }

  function renderItems(ul, items, cls, idOf, title, sub) {
    const selected = store.get('project');
    ul.selectAll('li').data(items, idOf).join((enter) => {
      const li = enter.append('li');
      const b = li.append('button').attr('type', 'button').attr('class', cls);
      b.append('span').attr('class', 'item-name');
      b.append('span').attr('class', 'item-sub');
      return li;
    }).select('button')
      .attr('aria-current', (d) => (idOf(d) === selected ? 'true' : null))
      .attr('data-id', idOf)
      .on('click', (ev, d) => pick(idOf(d), title(d)))
      .call((b) => {
        b.select('.item-name').text(title);
        b.select('.item-sub').text(sub);
      });
  }

  function render() {
    const user = store.data('user');
    const editor = canEdit(user);
    const have = Array.isArray(projects) && projects.length > 0;

    status.text(projectsState === 'loading' && !projects ? 'Loading projects…'
      : projectsState === 'error' ? `Could not load projects: ${projectsError}` : '');

    const demoActive = demo && !TERMINAL.has(demo.state);
    demoBox.attr('hidden', demo && (demoActive || demo.state === 'failed') ? null : true);
    if (demo) {
      const v = Math.round(100 * Math.max(0, Math.min(1, demo.progress || 0)));
      demoBox.attr('data-state', demo.state);
      demoBox.select('.demo-title').text(demo.state === 'failed' ? 'The demo world could not be built.'
        : demo.state === 'queued' ? 'Building the demo world… (waiting for a worker)' : 'Building the demo world…');
      demoBar.attr('aria-valuenow', v).attr('aria-valuetext', `${percent(demo.progress)}, ${demo.state}`);
      demoBar.select('.progress-fill').style('width', `${v}%`);
      demoMeta.text(`${percent(demo.progress)}${demo.message && demo.message !== demo.state ? ` · ${demo.message}` : ''}`);
      demoError.attr('hidden', demo.state === 'failed' ? null : true).text(demo.state === 'failed' ? `Error: ${demo.error || 'no reason given'}` : '');
    }

    renderItems(list, have ? projects : [], 'project', (d) => String(d.id), (d) => d.name,
      (d) => [d.is_demo ? 'demo' : '', d.dataset_name, d.teacher_name, d.ready ? 'ready' : missingParts(d)].filter(Boolean).join(' · '));
    list.attr('hidden', have ? null : true);

    const showEmpty = !have && projectsState === 'ok';
    empty.attr('hidden', showEmpty ? null : true);
    empty.select('.empty-title').text(demoActive ? 'No projects yet: the demo is on its way.' : 'No projects yet.');

    // The datasets: shown whenever there is no project to pick.
    const showFallback = showEmpty;
    fallback.attr('hidden', showFallback ? null : true);
    if (showFallback) {
      fallbackNote.text(datasetsError ? `Could not load datasets: ${datasetsError}`
        : !datasets ? 'Loading datasets…'
          : !datasets.length ? 'No datasets yet. An editor can upload a tar of JPEGs through the API (POST /api/v1/datasets/{id}/upload).'
            : 'Or open a dataset and choose the rest in the Configuration view:');
      renderItems(dsList, datasets || [], 'project dataset', (d) => `${DRAFT_PREFIX}${d.id}`, (d) => d.name,
        (d) => `${(d.classes || []).length} classes · ${d.image_count ?? 0} images`);
    }

    toggle.attr('hidden', editor && projectsState !== 'loading' && projectsState !== 'idle' ? null : true)
      .attr('aria-expanded', String(form.open));
    formEl.attr('hidden', editor && form.open ? null : true);
    if (editor && form.open) renderForm();
  }

  function renderForm() {
    const lists = form.lists;
    formNote.text(!lists ? 'Loading the datasets, models and corpora…' : '');
    for (const f of FIELDS) {
      const sel = formEl.select(`#${f.id}`);
      const items = lists ? lists[f.list] : null;
      const opts = items === null || items === undefined ? [{ placeholder: 'Loading…' }]
        : items.error ? [{ placeholder: items.error }]
          : !items.length ? [{ placeholder: `No ${f.label.toLowerCase()} registered` }] : items;
      sel.selectAll('option').data(opts, (d) => (d.placeholder ? `p:${d.placeholder}` : `i:${d.id}`)).join('option')
        .attr('value', (d) => (d.placeholder ? '' : d.id))
        .text((d) => d.placeholder || f.text(d));
      sel.property('disabled', !Array.isArray(items) || !items.length);
    }
    submitBtn.property('disabled', form.busy || !lists).text(form.busy ? 'Creating…' : 'Create project');
    formError.text(form.error);
    formEl.select('#np-name').attr('aria-describedby', form.error ? 'np-error' : null)
      .attr('aria-invalid', /name/i.test(form.error) ? 'true' : null);
  }

  // Read at every opening: a corpus made in the Configuration view (or a model
  // registered since) is offered without a reload; the old lists show meanwhile.
  async function loadFormLists() {
    const grab = (path, query) => api.get(path, { query }).then((r) => r.items || [],
      (e) => ({ error: `could not load (${e.message})` }));
    const [ds, teachers, concepts, corpora] = await Promise.all([
      grab('/api/v1/datasets', { limit: 500 }),
      grab('/api/v1/models', { kind: 'teacher', limit: 500 }),
      grab('/api/v1/models', { kind: 'concept', limit: 500 }),
      grab('/api/v1/corpora', { limit: 500 }),
    ]);
    form.lists = { datasets: ds, teachers, concepts, corpora };
    render();
  }

  async function submit() {
    const fd = new FormData(formEl.node());
    const name = String(fd.get('name') || '').trim();
    const body = { name };
    for (const f of FIELDS) body[f.name] = Number(fd.get(f.name)) || null;
    const missing = FIELDS.filter((f) => !body[f.name]).map((f) => f.label.toLowerCase());
    if (!name) { form.error = 'Give the project a name.'; render(); el.querySelector('#np-name')?.focus(); return; }
    if (missing.length) { form.error = `Choose a ${missing.join(', a ')}.`; render(); return; }
    form.busy = true;
    form.error = '';
    render();
    try {
      const p = await api.post('/api/v1/projects', body);
      form.open = false;
      form.busy = false;
      formEl.node().reset();
      await load();
      pick(p.id, p.name || name);
    } catch (e) {
      form.busy = false;
      form.error = e.status === 422 ? `Not saved: ${e.message}`
          : e.status === 409 ? `Not saved: ${e.message}` : `Could not create the project: ${e.message}`;
      render();
    }
  }

  async function loadDatasets() {
    try {
      const r = await api.get('/api/v1/datasets', { query: { limit: 500 } });
      datasets = r.items || [];
      datasetsError = '';
    } catch (e) {
      if (isAbort(e)) return;
      datasetsError = e.message;
    }
    render();
  }

  // Follow a demo.build job while it is queued or running.
  function followDemo(job) {
    if (!job) return;
    if (demo && demo.id === job.id && (demoFollower || TERMINAL.has(demo.state))) return;
    demo = job;
    render();
    if (TERMINAL.has(job.state)) return;
    demoFollower?.stop();
    const f = api.followJob(job.id, (j) => { demo = j; render(); }, { after: job.seq || 0 });
    demoFollower = f;
    announce('Building the demo world.');
    f.done.then((j) => {
      if (demoFollower === f) demoFollower = null;
      if (!j) return;
      demo = j;
      render();
      if (j.state === 'succeeded') { announce('The demo world is ready.'); load(); }
    }, () => { if (demoFollower === f) demoFollower = null; });
  }

  async function checkDemo() {
    try {
      const r = await api.get('/api/v1/jobs', { query: { kind: DEMO_KIND, limit: 1 } });
      const j = (r.items || []).find((x) => x.kind === DEMO_KIND);
      if (j && (!TERMINAL.has(j.state) || j.state === 'failed')) followDemo(j);
    } catch { /* the Jobs panel reports an unreachable server */ }
  }

  async function load() {
    loadCtl?.abort();
    loadCtl = new AbortController();
    const signal = loadCtl.signal;
    projectsState = 'loading';
    render();
    checkDemo();
    try {
      const r = await api.get('/api/v1/projects', { signal });
      projects = (r.items || []).map(normaliseProject);
      projectsState = 'ok';
    } catch (e) {
      if (isAbort(e)) return;
      projects = [];
      projectsState = 'error'; projectsError = e.message;
    }
    store.setData('projects', { state: projectsState, items: projects });
    if (!projects.length) await loadDatasets();
    render();
  }

  store.on('select.projects', render);
  store.on('data.projects', ({ key, value }) => {
    if (key === 'user') {
      if (!value) { demoFollower?.stop(); demoFollower = null; demo = null; loadCtl?.abort(); }
      render();
    }
    // A demo build that starts while the page is open shows up in the Jobs list.
    if (key === 'jobs' && Array.isArray(value)) {
      const j = value.find((x) => x.kind === DEMO_KIND && !TERMINAL.has(x.state));
      if (j) followDemo(j);
    }
  });
  // Something (the Configuration view) created or changed a project.
  store.on('projects:reload.projects', () => load());
  render();

  return { load };
}

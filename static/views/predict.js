// views/predict.js — "Try an image": a dialog where a person drops (or chooses) a
// JPEG and sees what a version of the shown student makes of it: its class, every
// class's score, and the concepts that decided it (contribution = presence × weight
// for that class, largest first) with their segments outlined on the picture.
// Opened by the store command 'predict:open' ({version}), sent by Provenance's
// "Try an image"; the student is the one store data 'student' shows.
// Data: POST /api/v1/students/{id}/versions/{v}/predict with the JPEG as the body
// (api.postBytes, image/jpeg; ?top=8), answered with {class, scores: [{class, score}],
// segments, concepts: [{concept, presence, weight, contribution, segment}]}; nothing
// is stored. The picture is shown from the file itself (an object URL).
// init(store, api, dialog) -> {open(version)}

import { announce } from '../ui.js';
import { divergingBars } from '../charts/diverging-bars.js';
import { drawOutlines } from '../outline.js';
import { studentSource } from '../sources/student.js';

const d3 = window.d3;
const MAX_BYTES = 8 * 1024 * 1024; // the server's limit for this route
const TOP = 8;                     // concepts listed
const OUTLINED = 5;                // concepts outlined when none is hovered
const fmt = d3.format('+.3f');

export const isJpeg = (file) => !!file && (file.type === 'image/jpeg' || (!file.type && /\.jpe?g$/i.test(file.name || '')));

export function init(store, api, dialog) {
  const source = studentSource(store, api);
  const root = d3.select(dialog);
  const body = root.select('.predict-body');
  root.select('.predict-close').on('click', () => close());
  dialog.addEventListener('close', () => { gen++; });

  const what = body.append('p').attr('class', 'predict-what');
  const zone = body.append('label').attr('class', 'drop-zone').attr('for', 'predict-file');
  zone.append('span').attr('class', 'drop-title').text('Drop a JPEG here, or choose one');
  zone.append('span').attr('class', 'drop-sub').text('Up to 8 MB. Nothing is stored.');
  const input = zone.append('input').attr('type', 'file').attr('id', 'predict-file')
    .attr('accept', 'image/jpeg,.jpg,.jpeg').attr('class', 'drop-input')
    .on('change', (ev) => { const f = ev.target.files?.[0]; if (f) run(f); });
  zone.on('dragover', (ev) => { ev.preventDefault(); zone.classed('is-over', true); })
    .on('dragleave', () => zone.classed('is-over', false))
    .on('drop', (ev) => {
      ev.preventDefault();
      zone.classed('is-over', false);
      const f = ev.dataTransfer?.files?.[0];
      if (f) run(f);
    });
  const status = body.append('p').attr('class', 'predict-status').attr('role', 'status').attr('aria-live', 'polite');
  const result = body.append('div').attr('class', 'predict-result').attr('hidden', true);
  const figure = result.append('figure').attr('class', 'predict-figure');
  const frame = figure.append('div').attr('class', 'predict-frame');
  const img = frame.append('img').attr('alt', '');
  const svg = frame.append('svg').attr('class', 'predict-outline').attr('viewBox', '0 0 1 1')
    .attr('preserveAspectRatio', 'none').attr('aria-hidden', 'true');
  const figcap = figure.append('figcaption').attr('class', 'predict-figcap');
  const answer = result.append('div').attr('class', 'predict-answer');
  const verdict = answer.append('p').attr('class', 'predict-verdict');
  answer.append('h3').attr('id', 'predict-scores-title').text('Scores per class');
  const scores = answer.append('ul').attr('class', 'inf-list predict-scores').attr('aria-labelledby', 'predict-scores-title');
  const conceptsTitle = answer.append('h3').attr('id', 'predict-concepts-title');
  const conceptsNote = answer.append('p').attr('class', 'predict-note');
  const concepts = answer.append('ul').attr('class', 'inf-list predict-concepts').attr('aria-labelledby', 'predict-concepts-title');

  let version = null;  // the version asked for
  let url = null;      // the picture's object URL
  let shown = null;    // the last answer
  let hover = null;    // the concept hovered or focused in the list
  let gen = 0;

  const scoreChart = divergingBars()
    .key((d) => d.class).value((d) => d.score).valueText((d) => fmt(d.score))
    .valueTitle((d) => `score ${fmt(d.score)}: the bias plus every concept’s presence × weight`)
    .labelControl((sel) => sel.selectAll('span').data((d) => [d]).join('span').attr('class', 'predict-class')
      .text((d) => d.class));
  const conceptChart = divergingBars()
    .key((d) => d.concept).value((d) => d.contribution).valueText((d) => fmt(d.contribution))
    .valueTitle((d) => `presence ${d3.format('.3f')(d.presence)} × weight ${fmt(d.weight)} = ${fmt(d.contribution)}`)
    .labelControl((sel) => sel.selectAll('button').data((d) => [d]).join('button')
      .attr('type', 'button').attr('class', 'concept-name')
      .attr('aria-label', (d) => `${d.concept}: contribution ${fmt(d.contribution)} (presence ${d3.format('.2f')(d.presence)} × weight ${fmt(d.weight)})` +
        `${d.segment ? '. Outline its segment' : ''}`)
      .text((d) => d.concept)
      .on('mouseenter focus', (ev, d) => { hover = d.concept; outline(); })
      .on('mouseleave blur', () => { hover = null; outline(); }));

  function snapStudent() {
    const snap = source.current;
    return snap.state === 'ready' ? snap.student : null;
  }

  function open(v) {
    const st = snapStudent();
    if (!st) return;
    version = v ?? st.head.number;
    reset();
    what.text(`${st.name || `Student ${st.id}`}, version ${version}: the image goes through the same concept extraction ` +
      'as the dataset’s images, then the student’s weights.');
    if (!dialog.open) dialog.showModal();
    input.node().focus();
  }

  function close() {
    gen++;
    if (dialog.open) dialog.close();
  }

  function reset() {
    gen++;
    shown = null; hover = null;
    if (url) { URL.revokeObjectURL(url); url = null; }
    input.property('value', '');
    status.attr('data-kind', null).text('');
    result.attr('hidden', true);
  }

  async function run(file) {
    const st = snapStudent();
    if (!st) return;
    if (!isJpeg(file)) { say(`“${file.name}” is not a JPEG: choose a .jpg or .jpeg image.`, 'error'); return; }
    if (file.size > MAX_BYTES) { say(`“${file.name}” is ${d3.format('.3~s')(file.size)}B: the limit is 8 MB.`, 'error'); return; }
    const g = ++gen;
    shown = null; hover = null;
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(file);
    img.attr('src', url);
    figcap.text(file.name);
    result.attr('hidden', true);
    say(`Reading “${file.name}” with version ${version}…`, 'busy');
    try {
      const r = await api.postBytes(`/api/v1/students/${st.id}/versions/${version}/predict?top=${TOP}`, file, 'image/jpeg');
      if (g !== gen) return;
      shown = r;
      say('', null);
      draw();
      announce(`The student says ${r.class}; top concepts ${(r.concepts || []).slice(0, 3).map((c) => c.concept).join(', ') || 'none'}.`);
    } catch (e) {
      if (g !== gen) return;
      say(e.status === 409 ? `This student cannot predict now: ${e.message}`
        : e.status === 422 ? `The server could not use this image: ${e.message}`
          : e.status === 429 ? 'Too many predictions are running; try again in a moment.'
            : e.status === 413 ? 'The image is too large for the server.'
              : `Could not predict: ${e.message}`, 'error');
    }
  }

  function say(text, kind) {
    status.attr('data-kind', kind).text(text);
  }

  function draw() {
    const r = shown;
    result.attr('hidden', null);
    verdict.text(`The student says: ${r.class}`);
    const rows = [...(r.scores || [])].sort((a, b) => b.score - a.score);
    scores.datum(rows).call(scoreChart.max(d3.max(rows, (d) => Math.abs(d.score)) || 1));
    scores.selectAll('li.inf-row').classed('selected', (d) => d.class === r.class).attr('data-class', (d) => d.class);
    const top = r.concepts || [];
    conceptsTitle.text(`Concepts that decided ${r.class}`);
    conceptsNote.text(top.length
      ? 'Contribution = presence × weight for that class, largest first; hover or focus one to outline its segment.'
      : `No concept contributes to ${r.class} here (its weights are zero for what the image shows); the bias decides.`);
    concepts.datum(top).call(conceptChart.max(d3.max(top, (d) => Math.abs(d.contribution)) || 1));
    concepts.selectAll('li.inf-row').attr('data-concept', (d) => d.concept);
    outline();
  }

  // The segments of the listed concepts (the first few), or of the one hovered.
  function outline() {
    const top = shown?.concepts || [];
    const pick = hover ? top.filter((c) => c.concept === hover) : top.slice(0, OUTLINED);
    const shapes = pick.filter((c) => c.segment && (c.segment.box || c.segment.mask))
      .map((c) => ({ ...c.segment, key: `${c.concept}:${c.segment.index}`, cls: hover ? 'is-hover' : null }));
    drawOutlines(svg, shapes);
    concepts.selectAll('li.inf-row').classed('selected', (d) => d.concept === hover);
  }

  store.on('predict:open.predict', (value) => open(value?.version));
  // Another student, or none: what the dialog shows is about the old one.
  store.on('data.predict', ({ key, value }) => {
    if (key === 'student' && dialog.open && value?.state !== 'loading' && value?.student?.id !== shown?.student_id && shown) close();
  });
  return { open };
}

// views/concepts/vocabulary.js — suggestions for the "New concept" box: the words of
// the student's concept model that start with what is typed (GET /models/{id}/
// vocabulary?prefix=), in the box's <datalist>; a CLIP model reads any text, which
// the hint says instead ({open: true}). One read per pause in typing; a late answer
// for an older prefix is dropped.

import { render } from './render.js';

const WAIT_MS = 150;
const LIMIT = 20;

export function suggestWords(view) {
  const { state, ui } = view;
  clearTimeout(state.vocabTimer);
  const prefix = ui.addInput.property('value').trim().toLowerCase();
  state.vocabTimer = setTimeout(() => readWords(view, prefix), WAIT_MS);
  render(view);
}

async function readWords(view, prefix) {
  const { api, state } = view;
  const model = state.info?.student?.concept_model_id ?? state.info?.project?.concept_model_id;
  if (!model || prefix === state.vocab.prefix) return;
  const g = ++state.vocabGen;
  try {
    const r = await api.get(`/api/v1/models/${model}/vocabulary`, { query: { prefix, limit: LIMIT }, background: true });
    if (g !== state.vocabGen) return;
    state.vocab = { prefix, open: !!r.open, items: r.items || [], total: r.total ?? (r.items || []).length };
  } catch {
    if (g !== state.vocabGen) return;
    state.vocab = { prefix, open: false, items: [], total: 0, failed: true };
  }
  render(view);
}

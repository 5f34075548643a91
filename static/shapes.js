// shapes.js — the shapes several parts of the page read the same way, kept in one
// place so that no view needs another view's module:
//   normaliseProject(p)   the server's Project with flat names filled in
//   DRAFT_PREFIX          store 'project' "dataset:<id>": a dataset not saved as a
//                         project yet (the Configuration view completes it)
//   formatSubset / parseSubset  the store's subset "teacher=<class>,student=<class>"
//                         (a confusion-matrix cell, class names)

export const DRAFT_PREFIX = 'dataset:';

// The server's Project is {id, name, is_demo, ready, parts: {dataset: {id, name,
// image_count, ready}, teacher_model: {id, name}, teacher_output: {id, ready},
// concept_model: {id, name}, corpus: {id, name, words}, extraction: {id, state,
// ready}}}; older drafts of the API were flat (dataset_id, teacher_name, …). Views
// read the flat names; this fills them from either shape. Returns a new object.
export function normaliseProject(p) {
  const parts = p.parts || {};
  const pick = (flat, part, field) => p[flat] ?? parts[part]?.[field] ?? null;
  return {
    ...p,
    dataset_id: pick('dataset_id', 'dataset', 'id'),
    dataset_name: pick('dataset_name', 'dataset', 'name'),
    teacher_model_id: pick('teacher_model_id', 'teacher_model', 'id'),
    teacher_name: pick('teacher_name', 'teacher_model', 'name'),
    concept_model_id: pick('concept_model_id', 'concept_model', 'id'),
    concept_name: pick('concept_name', 'concept_model', 'name'),
    corpus_id: pick('corpus_id', 'corpus', 'id'),
    corpus_name: pick('corpus_name', 'corpus', 'name'),
    teacher_output_id: pick('teacher_output_id', 'teacher_output', 'id'),
    extraction_id: pick('extraction_id', 'extraction', 'id'),
  };
}

export function formatSubset(teacher, student) {
  return `teacher=${teacher},student=${student}`;
}

// parseSubset("teacher=cat,student=dog") -> {teacher: 'cat', student: 'dog'} | null
export function parseSubset(s) {
  const m = /^teacher=(.*),student=(.*)$/.exec(s || '');
  return m ? { teacher: m[1], student: m[2] } : null;
}

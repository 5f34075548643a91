// views/configuration.js — pick a project's parts and start the distillation.
// For now an honest empty state: what will appear here and what it needs. It
// follows the selection (store 'select' events) so the state it would use is shown.
// init(store, api, el) renders into el (the view's body) and returns {update()}.

import { emptyState } from '../ui.js';

const TITLE = 'No project configured yet.';
const WHAT = 'The dataset, teacher, concept model and corpus of the project, a button to start a distillation, and a progress bar for every long job it starts.';
const NEEDS = ['a dataset, a teacher model and a concept model registered on the server (the datasets and models APIs)', 'a concept corpus (the corpora API)'];
const USES = ['project']; // selection keys this view reads

export function init(store, api, el) {
  function update() {
    const s = store.state;
    emptyState(el, {
      title: TITLE,
      what: WHAT,
      needs: NEEDS,
      selected: USES.filter((k) => s[k] !== null).map((k) => [k, s[k]]),
    });
  }
  store.on('select.configuration', update);
  update();
  return { update };
}

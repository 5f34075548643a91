// views/instances.js — images of the selected class, concept or subset.
// For now an honest empty state: what will appear here and what it needs. It
// follows the selection (store 'select' events) so the state it would use is shown.
// init(store, api, el) renders into el (the view's body) and returns {update()}.

import { emptyState } from '../ui.js';

const TITLE = 'No images to show yet.';
const WHAT = 'A gallery of images for the selected class, concept or disagreement subset, with the concept’s segments outlined on each image.';
const NEEDS = ['a project with a dataset', 'a class, concept or subset selected in another view'];
const USES = ['project', 'class', 'concept', 'subset', 'split']; // selection keys this view reads

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
  store.on('select.instances', update);
  update();
  return { update };
}

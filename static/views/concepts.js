// views/concepts.js — the selected class's concepts, and no-code tuning.
// For now an honest empty state: what will appear here and what it needs. It
// follows the selection (store 'select' events) so the state it would use is shown.
// init(store, api, el) renders into el (the view's body) and returns {update()}.

import { emptyState } from '../ui.js';

const TITLE = 'No student to explain yet.';
const WHAT = 'For the selected class, its concepts ranked by influence (weight × mean presence) as a diverging bar chart, with uptune, downtune and remove controls and a box to add a new concept.';
const NEEDS = ['a distilled student', 'a class selected here or in Student performance'];
const USES = ['project', 'version', 'class', 'concept']; // selection keys this view reads

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
  store.on('select.concepts', update);
  update();
  return { update };
}

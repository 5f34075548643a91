// views/overview.js — the concept × class weight heat map.
// For now an honest empty state: what will appear here and what it needs. It
// follows the selection (store 'select' events) so the state it would use is shown.
// init(store, api, el) renders into el (the view's body) and returns {update()}.

import { emptyState } from '../ui.js';

const TITLE = 'No weights to map yet.';
const WHAT = 'A heat map of every concept’s weight for every class; selecting a cell selects that class and concept everywhere.';
const NEEDS = ['a distilled student for the selected project'];
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
  store.on('select.overview', update);
  update();
  return { update };
}

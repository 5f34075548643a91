// views/provenance.js — the tuning log and version restore.
// For now an honest empty state: what will appear here and what it needs. It
// follows the selection (store 'select' events) so the state it would use is shown.
// init(store, api, el) renders into el (the view's body) and returns {update()}.

import { emptyState } from '../ui.js';

const TITLE = 'No tuning history yet.';
const WHAT = 'The log of tuning actions, each with the change it made to fidelity and accuracy, and a way to restore any earlier version.';
const NEEDS = ['a distilled student', 'tuning actions made in the Concepts view (the versions API)'];
const USES = ['project', 'version']; // selection keys this view reads

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
  store.on('select.provenance', update);
  update();
  return { update };
}

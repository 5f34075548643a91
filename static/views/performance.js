// views/performance.js — how well the student follows the teacher.
// For now an honest empty state: what will appear here and what it needs. It
// follows the selection (store 'select' events) so the state it would use is shown.
// init(store, api, el) renders into el (the view's body) and returns {update()}.

import { emptyState } from '../ui.js';

const TITLE = 'No student measured yet.';
const WHAT = 'Per-class fidelity and accuracy of the student against the teacher, the classes and subsets where they disagree, and a student-vs-teacher confusion matrix on the held-out split.';
const NEEDS = ['a distilled student for the selected project', 'its measures (the measures API)'];
const USES = ['project', 'version', 'split', 'class', 'subset']; // selection keys this view reads

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
  store.on('select.performance', update);
  update();
  return { update };
}

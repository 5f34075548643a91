// views/projects.js — the navigation list of projects.
// A project is a dataset + a teacher + a concept model + a concept corpus; picking
// one sets store 'project' and every view follows. The server does not list
// projects yet (the datasets, models and corpora APIs are being written), so this
// renders an honest empty state and asks nothing of the server. When the API comes:
// load the list in load(), render it with a keyed join on project id (one button
// per project, aria-current on the selected one), and call store.select({project}).
// init(store, api, el) -> {load()}

import { emptyState } from '../ui.js';

const d3 = window.d3;

export function init(store, api, el) {
  let projects = []; // [{id, name, dataset, teacher, concept_model, corpus}]

  function render() {
    const selected = store.get('project');
    const root = d3.select(el);
    root.selectAll('ul.project-list').data(projects.length ? [projects] : []).join('ul')
      .attr('class', 'project-list')
      .selectAll('li').data((d) => d, (d) => d.id).join('li')
      .selectAll('button').data((d) => [d]).join('button')
      .attr('type', 'button')
      .attr('class', 'project')
      .attr('aria-current', (d) => (String(d.id) === selected ? 'true' : null))
      .text((d) => d.name)
      .on('click', (ev, d) => store.select({ project: d.id }, { source: 'projects' }));
    if (projects.length) {
      root.selectAll('div.empty-state').remove();
      return;
    }
    emptyState(el, {
      title: 'No projects yet.',
      what: 'A project is a dataset, a teacher model, a concept model and a concept corpus put together. Your projects will be listed here, fed from the server.',
      needs: ['the server to list datasets, models and corpora (coming soon)'],
      selected: selected ? [['project', selected]] : [],
    });
  }

  store.on('select.projects', render);
  render();

  return {
    // Placeholder until GET /api/v1/projects (or datasets + models) exists.
    async load() { render(); },
  };
}

// ui.js — small shared pieces of the page: empty states, the polite announcer,
// formatting, and saving a downloaded file. Everything builds DOM nodes (never HTML strings), so text from
// the server can never become markup.

const d3 = window.d3;

// emptyState(container, {title, what, needs, selected}) renders the honest empty
// state of a view: what will appear there, and what it is waiting for.
//   what     one sentence: what this view will show
//   needs    list of strings: what must exist first
//   selected optional list of [label, value] for the current selection it would use
export function emptyState(container, { title, what, needs = [], selected = [] }) {
  const root = d3.select(container);
  const box = root.selectAll('div.empty-state').data([null]).join('div').attr('class', 'empty-state');
  box.selectAll('p.empty-title').data([title]).join('p').attr('class', 'empty-title').text((d) => d);
  box.selectAll('p.empty-what').data([what]).join('p').attr('class', 'empty-what').text((d) => d);
  box.selectAll('p.empty-needs-label').data(needs.length ? ['It needs:'] : [])
    .join('p').attr('class', 'empty-needs-label').text((d) => d);
  box.selectAll('ul.empty-needs').data(needs.length ? [needs] : []).join('ul').attr('class', 'empty-needs')
    .selectAll('li').data((d) => d).join('li').text((d) => d);
  box.selectAll('p.empty-selected').data(selected.length ? [selected] : []).join('p')
    .attr('class', 'empty-selected')
    .text((d) => `Current selection: ${d.map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  return box;
}

let announceTimer = null;
// announce(text): say it once through the page's aria-live="polite" region.
export function announce(text) {
  const el = document.getElementById('announcer');
  if (!el) return;
  clearTimeout(announceTimer);
  el.textContent = '';
  // A fresh text node after a tick is announced even when the text repeats.
  announceTimer = setTimeout(() => { el.textContent = text; }, 50);
}

export function percent(p) {
  const v = Math.max(0, Math.min(1, Number(p) || 0));
  return `${Math.round(v * 100)}%`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

// A timestamp as a short local time (today) or date and time (earlier). Remembered
// per day: lists re-render often and Intl formatting is not free.
const whenMemo = new Map();
export function when(iso) {
  if (!iso) return '';
  const day = new Date().toDateString();
  const key = `${day}|${iso}`;
  let out = whenMemo.get(key);
  if (out === undefined) {
    const t = new Date(iso);
    out = Number.isNaN(t.getTime()) ? '' : t.toDateString() === day ? timeFmt.format(t) : dateFmt.format(t);
    if (whenMemo.size > 2000) whenMemo.clear();
    whenMemo.set(key, out);
  }
  return out;
}

// Seconds between two timestamps (or until now) as "4 s", "2 min 5 s", "1 h 3 min".
export function duration(fromIso, toIso) {
  if (!fromIso) return '';
  const a = new Date(fromIso).getTime();
  const b = toIso ? new Date(toIso).getTime() : Date.now();
  if (!Number.isFinite(a) || !Number.isFinite(b)) return '';
  let s = Math.max(0, Math.round((b - a) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60); s %= 60;
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// saveBlob(blob, filename): hand a file read through api.download to the browser's
// downloads (an object URL on a link clicked once, then let go).
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export const ROLE_RANK = { viewer: 1, editor: 2, admin: 3 };
export function canEdit(user) {
  return !!user && (ROLE_RANK[user.role] || 0) >= ROLE_RANK.editor;
}

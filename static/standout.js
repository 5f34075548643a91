// standout.js — which classes to warn about in Student performance: those whose
// fidelity is well below the student's overall fidelity on the same split, not
// every class with a disagreement (a 97.9% student still disagrees somewhere).
//
//   standsOut({fidelity, n, disagree}, overall) -> bool
//   standoutMargin(overall, n) -> the shortfall (0..1) a class of n images must exceed
//
// "Well below": more than 5 percentage points under the overall fidelity and more
// than two standard errors of a proportion over the class's n images (a class of 3
// images is not flagged for one miss), with at least one disagreement.

export const MIN_SHORTFALL = 0.05;

export function standoutMargin(overall, n) {
  if (!(n > 0) || typeof overall !== 'number' || !Number.isFinite(overall)) return Infinity;
  const p = Math.min(1, Math.max(0, overall));
  return Math.max(MIN_SHORTFALL, 2 * Math.sqrt((p * (1 - p)) / n));
}

export function standsOut({ fidelity, n, disagree }, overall) {
  if (!(disagree > 0) || typeof fidelity !== 'number' || !Number.isFinite(fidelity)) return false;
  return overall - fidelity > standoutMargin(overall, n);
}

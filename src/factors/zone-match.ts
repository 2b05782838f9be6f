/**
 * "Did you mean" for grid zones. An unknown zone is a configuration error, never a silent default,
 * so the error has to make the right zone easy to find: by its code ("DE", "DEU"), by a typo of
 * it ("DW"), by a prefix ("US-CAL"), or by a place name ("Germany").
 */

/** A zone a person might have meant: its id and the names it is known by. */
export type ZoneCandidate = {
  readonly id: string;
  readonly names: readonly string[];
};

/** Most suggestions one error lists; more would bury the likely one. */
const MAX_SUGGESTIONS = 8;
/**
 * Edits (insert, delete, substitute) a typo may be away from an id or name and still be suggested:
 * one for short codes (two edits would make every two-letter code a match), two for longer text.
 */
const MAX_EDIT_DISTANCE = 2;
const SHORT_QUERY_LENGTH = 4;

/**
 * Up to eight candidate ids close to `query`, best first (then shorter, then alphabetical): the id
 * or a name equal ignoring case, an id a typo away, a prefix either way, a name containing it.
 */
export function closeZoneMatches(query: string, candidates: readonly ZoneCandidate[]): string[] {
  const wanted = query.trim().toUpperCase();
  if (wanted === '') return [];
  const scored: { id: string; score: number }[] = [];
  for (const candidate of candidates) {
    const score = matchScore(wanted, candidate);
    if (score !== null) scored.push({ id: candidate.id, score });
  }
  // Shorter first among equals: a country's own zone ("US") before its sub-zones ("US-AK").
  scored.sort(
    (a, b) => a.score - b.score || a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  return scored.slice(0, MAX_SUGGESTIONS).map((entry) => entry.id);
}

/** Lower is closer; null when the candidate is not worth suggesting. */
function matchScore(wanted: string, candidate: ZoneCandidate): number | null {
  const id = candidate.id.toUpperCase();
  const names = candidate.names.map((name) => name.toUpperCase());
  if (id === wanted) return 0;
  if (names.includes(wanted)) return 1;
  const allowed = wanted.length <= SHORT_QUERY_LENGTH ? 1 : MAX_EDIT_DISTANCE;
  const distance = Math.min(...[id, ...names].map((text) => editDistance(text, wanted)));
  if (distance === 1) return 2;
  // "US-CAL" for "US-CAL-CISO"; "US-XYZ" for "US": the query is a sub-zone of an id.
  if (id.startsWith(wanted) || wanted.startsWith(`${id}-`)) return 3;
  if (distance <= allowed) return 4;
  if (wanted.length >= 3 && names.some((name) => name.includes(wanted))) return 5;
  return null;
}

/** Levenshtein distance; ids and names are short, so the plain O(n·m) table is cheap. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

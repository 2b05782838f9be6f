import { describe, expect, it } from 'vitest';
import { canonicalString } from '../../../src/attest/canonical.js';
import { canonicalMemberText } from '../../../src/attest/json-span.js';

describe('canonicalMemberText', () => {
  it('returns exactly the canonical text of a nested member', () => {
    const value = {
      predicate: {
        agent: { hostname: 'has "devices":[ inside', note: 'brace } and ] in a string \\' },
        devices: [{ a: 1, b: ['x', { c: null }] }, { d: 'é\u{1f600}' }],
        events: [],
      },
      subject: [],
    };
    const text = canonicalString(value);
    expect(canonicalMemberText(text, ['predicate', 'devices'])).toBe(
      canonicalString(value.predicate.devices),
    );
    expect(canonicalMemberText(text, ['predicate', 'events'])).toBe('[]');
    expect(canonicalMemberText(text, ['subject'])).toBe('[]');
    expect(canonicalMemberText(text, ['predicate', 'agent', 'note'])).toBe(
      JSON.stringify(value.predicate.agent.note),
    );
  });

  it('returns null for a missing member or a non-object on the path', () => {
    const text = canonicalString({ a: { b: 1 }, c: [1] });
    expect(canonicalMemberText(text, ['x'])).toBeNull();
    expect(canonicalMemberText(text, ['c', 'd'])).toBeNull();
    expect(canonicalMemberText(text, ['a', 'b', 'c'])).toBeNull();
    expect(canonicalMemberText(text, ['a', 'b'])).toBe('1');
  });
});

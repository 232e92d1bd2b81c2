import { describe, expect, test } from 'vitest';
import { parseDuration } from '../../../src/config/index.js';

describe('parseDuration', () => {
  test.each([
    [0, 0],
    [3000, 3000],
    ['5000', 5000],
    ['250ms', 250],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['5h', 18_000_000],
    ['5d', 432_000_000],
    ['0.5m', 30_000],
    ['  5s  ', 5_000],
    ['5 ms', 5],
    ['10S', 10_000],
  ])('reads %j as %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test.each([
    [-1],
    [1.5],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [''],
    ['abc'],
    ['5x'],
    ['-5s'],
    ['5'.repeat(30)],
    ['0.5ms'],
    ['s'],
    [null],
    [undefined],
    [true],
    [['5s']],
    [{ s: 5 }],
  ])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeNull();
  });
});

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// A plain or decimal number followed by a unit; PgDoorman also accepts blanks around and between them.
const DURATION_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)$/i;

/**
 * Parses a PgDoorman duration into whole milliseconds.
 * Accepts a non-negative integer (milliseconds), a string of digits (milliseconds), or a string with a unit:
 * "250ms", "5s", "1.5s", "5m", "5h", "5d" (units are case-insensitive, like PgDoorman).
 * Returns null for anything else: negative numbers, fractions of a millisecond, unknown units, non-finite values.
 */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : null;
  }
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const ms = Number(text);
    return Number.isSafeInteger(ms) ? ms : null;
  }
  const match = DURATION_RE.exec(text);
  if (!match) return null;
  const amount = Number(match[1]);
  const exact = amount * UNIT_MS[match[2].toLowerCase()];
  const ms = Math.round(exact);
  // "1.5s" is 1500 ms; "0.5ms" is not a whole number of milliseconds and is refused rather than rounded away.
  if (!Number.isSafeInteger(ms) || Math.abs(exact - ms) > 1e-6 * Math.max(1, ms)) return null;
  return ms;
}

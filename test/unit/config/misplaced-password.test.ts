import { describe, expect, test } from 'vitest';
import { configErrorOf, expectProblem } from './expect-problems.js';

// Found by the config fuzz target (fuzz/targets/config.mjs): a users[] line that lost its
// indentation, with four 0xff bytes in front, turned "password: <secret>" into a pool of that name,
// and the error quoted the secret as the pool's (wrong) value.
const FUZZ_CRASH = Buffer.from(
  'cG9vbHM6CiAgbXlkYjoKICAgIHNlcnZlcl9ob2N0OiAiMTI3LjAuMC4xIgogICAgc2VydmVyX3BvcnQ6IDU0MzIKICAgIHBvb2xfbW9kZTogImpyYU5zYWN0aW9uIgogICAgdXNlcnM6CiAgICAgIC0gdXNlcm5hbWU6ICJhcHAiCiAg/////yAgcGFzc3dvcmQ6ICJTQ05BTS1TSEEtMjU2JDQwOTY6WjJGMOKApiRjRVRi4oCmOjdIL1rigHsiICAgIyBTRW9sX3NpemU6IDQwCg==',
  'base64',
).toString('utf8');
const FUZZ_SECRET = 'SCNAM-SHA-256$4096:Z2F0…$cETb…:7H/Z\ufffd{';

describe('a password under the wrong key', () => {
  test('is not quoted when a lost indentation makes its line a pool (fuzzer input)', () => {
    const error = configErrorOf(FUZZ_CRASH);
    expectProblem(error, 'pools["\ufffd\ufffd\ufffd\ufffd  password"]', 'expected a map of pool settings (got a string)');
    expect(error.message).not.toContain(FUZZ_SECRET);
  });

  test('is not quoted when a password line is indented as a pool', () => {
    const error = configErrorOf(`pools:
  app:
    users:
      - username: app
  password: "correct horse battery staple"
`);
    expectProblem(error, 'pools.password', 'expected a map of pool settings (got a string)');
    expect(error.message).not.toContain('correct horse');
  });

  test('a misplaced non-secret value is still quoted, so the operator sees what was read', () => {
    const error = configErrorOf(`pools:
  app: "session"
`);
    expectProblem(error, 'pools.app', 'expected a map of pool settings (got "session")');
  });
});

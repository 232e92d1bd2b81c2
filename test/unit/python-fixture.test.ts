// The Python runner the client tests share: JSON in on stdin, the JSON value printed last comes back, and a
// missing interpreter module is an error that names the Debian package to install.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPython } from '../fixtures/python.js';

describe('runPython', () => {
  let dir: string;
  const script = async (name: string, text: string) => {
    const file = path.join(dir, name);
    await fs.writeFile(file, text);
    return file;
  };

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-python-'));
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('passes the arguments as JSON on stdin and returns the last JSON line, in a clean environment', async () => {
    const file = await script('echo.py', 'import json, os, sys\nprint("noise")\nargs = json.load(sys.stdin)\nprint(json.dumps({"got": args, "pguser": os.environ.get("PGUSER")}))\n');
    process.env.PGUSER = 'leaked-from-the-test-runner';
    try {
      expect(await runPython(file, { a: [1, 'two'] })).toEqual({ got: { a: [1, 'two'] }, pguser: null });
    } finally {
      delete process.env.PGUSER;
    }
  });

  it('a module /usr/bin/python3 lacks is an error naming the Debian package', async () => {
    const file = await script('needs.py', 'import no_such_driver\n');
    await expect(runPython(file, {})).rejects.toThrow('needs.py: /usr/bin/python3 has no module no_such_driver: install the Debian package python3-no-such-driver');
  });

  it('a script that fails shows its stderr', async () => {
    const file = await script('boom.py', 'raise SystemExit("boom: the reason")\n');
    await expect(runPython(file, {})).rejects.toThrow(/boom\.py failed \(exit 1\):\nboom: the reason/);
  });
});

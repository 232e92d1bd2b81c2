/**
 * A machine added to machines/index.ts without model-based tests would escape the coverage gate
 * (each model test file records and gates its own machine): every registered machine must have one.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { machineRegistry } from '../../machines/index.js';

describe('every registered machine is walked through its real driver', () => {
  it.each(Object.keys(machineRegistry))('%s has test/model/%s.model.test.ts gating its transition coverage', (name) => {
    const file = new URL(`./${name}.model.test.ts`, import.meta.url);
    expect(fs.existsSync(file), `test/model/${name}.model.test.ts`).toBe(true);
    const source = fs.readFileSync(file, 'utf8');
    expect(source).toContain(`new CoverageRecorder('${name}'`);
    expect(source).toContain('recorder.unreached()');
  });
});

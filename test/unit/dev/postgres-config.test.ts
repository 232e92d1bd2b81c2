import { describe, expect, it } from 'vitest';
import {
  ADMIN_HBA_LINE,
  bootstrapStatements,
  quoteIdent,
  quoteLiteral,
  renderHba,
  renderSetting,
  renderSettings,
} from '../../../src/dev/postgres-config.js';

describe('postgresql.conf settings', () => {
  it('writes booleans as on/off, numbers bare and strings quoted with doubled quotes and backslashes', () => {
    expect(renderSetting('fsync', false)).toBe('fsync = off');
    expect(renderSetting('ssl', true)).toBe('ssl = on');
    expect(renderSetting('max_connections', 150)).toBe('max_connections = 150');
    expect(renderSetting('unix_socket_directories', "/tmp/it's")).toBe("unix_socket_directories = '/tmp/it''s'");
    expect(renderSetting('log_line_prefix', 'a\\b')).toBe("log_line_prefix = 'a\\\\b'");
    expect(renderSetting('auto_explain.log_min_duration', '10ms')).toBe("auto_explain.log_min_duration = '10ms'");
  });

  it('refuses setting names and values that would inject further lines', () => {
    expect(() => renderSetting('ssl = on\nfsync', true)).toThrow(/invalid PostgreSQL setting name/);
    expect(() => renderSetting('log_line_prefix', 'x\nssl = off')).toThrow(/line breaks/);
    expect(() => renderSetting('work_mem', Number.NaN)).toThrow(/finite number/);
  });

  it('renders one line per setting, later entries after earlier ones so they win', () => {
    expect(renderSettings({ max_connections: 120, port: 5433 })).toBe('max_connections = 120\nport = 5433\n');
  });
});

describe('pg_hba.conf', () => {
  it('puts the local trust line for the harness first, then the given lines verbatim', () => {
    expect(renderHba(['hostssl all all 127.0.0.1/32 scram-sha-256'])).toBe(
      `${ADMIN_HBA_LINE}\nhostssl all all 127.0.0.1/32 scram-sha-256\n`,
    );
    expect(ADMIN_HBA_LINE).toBe('local all all trust');
  });

  it('refuses a line that hides a second rule after a line break', () => {
    expect(() => renderHba(['host all all 0.0.0.0/0 reject\nhost all all 0.0.0.0/0 trust'])).toThrow(/line breaks/);
  });
});

describe('bootstrap SQL for single-user mode', () => {
  it('quotes identifiers and literals', () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteLiteral("it's\\")).toBe("'it''s\\'");
    expect(() => quoteIdent('')).toThrow(/empty/);
  });

  it('sets password_encryption before each role so md5 and SCRAM users can be mixed', () => {
    expect(
      bootstrapStatements(
        [
          { name: 'alice', password: 'pw' },
          { name: 'bob', password: "o'k", passwordEncryption: 'md5', superuser: true },
          { name: 'carol' },
        ],
        [{ name: 'app', owner: 'alice' }, { name: 'other' }],
      ),
    ).toEqual([
      "SET password_encryption = 'scram-sha-256'",
      `CREATE ROLE "alice" WITH LOGIN NOSUPERUSER PASSWORD 'pw'`,
      "SET password_encryption = 'md5'",
      `CREATE ROLE "bob" WITH LOGIN SUPERUSER PASSWORD 'o''k'`,
      "SET password_encryption = 'scram-sha-256'",
      `CREATE ROLE "carol" WITH LOGIN NOSUPERUSER PASSWORD NULL`,
      `CREATE DATABASE "app" OWNER "alice"`,
      `CREATE DATABASE "other"`,
    ]);
  });

  it('gives the existing bootstrap superuser postgres a password with ALTER ROLE', () => {
    expect(bootstrapStatements([{ name: 'postgres', password: 'pw', superuser: false }], [])).toEqual([
      "SET password_encryption = 'scram-sha-256'",
      `ALTER ROLE "postgres" WITH LOGIN PASSWORD 'pw'`,
    ]);
  });

  it('refuses a password containing a newline, which would split the statement in single-user mode', () => {
    expect(() => bootstrapStatements([{ name: 'u', password: 'a\nb' }], [])).toThrow(/line breaks/);
  });

  it('keeps every statement on one line', () => {
    const statements = bootstrapStatements([{ name: 'u', password: 'x' }], [{ name: 'd' }]);
    for (const statement of statements) expect(statement).not.toMatch(/\n/);
  });
});

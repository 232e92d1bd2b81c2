// PostgreSQL refuses to run as root ("root" execution of the PostgreSQL server is not permitted), and these
// machines (CI included) run everything as root. So under root the dev clusters run as the `postgres` OS user,
// or `nobody` when there is none, and the files they own are chowned to that user.
import fs from 'node:fs';
import path from 'node:path';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

function lookupPasswd(name: string): OsUser | undefined {
  let passwd: string;
  try {
    passwd = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) {
      return { name, uid: Number(uid), gid: Number(gid) };
    }
  }
  return undefined;
}

/** The user to run PostgreSQL as, or undefined when this process is not root (run as ourselves). */
export function postgresOsUser(): OsUser | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const user = lookupPasswd('postgres') ?? lookupPasswd('nobody');
  if (!user) {
    throw new Error('running as root, but neither a `postgres` nor a `nobody` OS user exists to run PostgreSQL as');
  }
  return user;
}

/** chown each path to `user` (no-op when user is undefined, i.e. not root). */
export async function chownTo(user: OsUser | undefined, ...paths: string[]): Promise<void> {
  if (!user) return;
  for (const p of paths) await fs.promises.chown(p, user.uid, user.gid);
}

function mayTraverse(stat: fs.Stats, user: OsUser): boolean {
  if (stat.uid === user.uid) return (stat.mode & 0o100) !== 0;
  if (stat.gid === user.gid) return (stat.mode & 0o010) !== 0;
  return (stat.mode & 0o001) !== 0;
}

/**
 * Whether `user` can reach `target` through every ancestor directory (execute permission on each), judged
 * from mode bits and primary group only. Used to find out before spawning whether the PostgreSQL user can
 * see the binaries and the base directory, instead of failing later with a bare "Permission denied".
 */
export function canReach(user: OsUser, target: string): boolean {
  let dir = path.dirname(path.resolve(target));
  for (;;) {
    if (!mayTraverse(fs.statSync(dir), user)) return false;
    const parent = path.dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}

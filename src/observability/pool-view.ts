/**
 * What metrics and the admin console read of a backend pool. ServerPool (pool/) has this shape; observability/
 * may not import pool/ (services do not call up), so the shape is named here and the gateway hands pools in.
 */
import type { PoolTraffic, ServerTraffic } from './traffic.js';

export interface ServerView {
  readonly id: string;
  readonly state: 'idle' | 'active' | 'resetting' | 'closing';
  readonly createdAt: number;
  readonly tls: object | null;
  readonly traffic: ServerTraffic;
  readonly statements: { readonly size: number };
  readonly backendKey: { readonly processId: number } | null;
  readonly holder: string | null;
}

export interface PoolView {
  readonly opts: { readonly name: string; readonly user: string; readonly size: number };
  readonly stats: { idle: number; active: number; resetting: number; connecting: number; waiting: number };
  readonly traffic: PoolTraffic;
  readonly paused: boolean;
  readonly statements: { readonly size: number; readonly bytes: number };
  readonly connections: Iterable<ServerView>;
}

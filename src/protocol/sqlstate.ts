/**
 * SQLSTATE codes gatehouse reports to clients. Every value is a real PostgreSQL error code
 * (see PostgreSQL's errcodes.txt); clients and drivers branch on them, so never invent one.
 */
export const SqlState = {
  PROTOCOL_VIOLATION: '08P01',
  CONNECTION_EXCEPTION: '08000',
  CONNECTION_FAILURE: '08006',
  SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION: '08001',
  INVALID_AUTHORIZATION_SPECIFICATION: '28000',
  INVALID_PASSWORD: '28P01',
  INVALID_CATALOG_NAME: '3D000',
  TOO_MANY_CONNECTIONS: '53300',
  CANNOT_CONNECT_NOW: '57P03',
  ADMIN_SHUTDOWN: '57P01',
  QUERY_CANCELED: '57014',
  FEATURE_NOT_SUPPORTED: '0A000',
  INTERNAL_ERROR: 'XX000',
  CONFIGURATION_LIMIT_EXCEEDED: '53400',
  /** idle_in_transaction_session_timeout's code; gatehouse's idle_transaction_timeout uses it too. */
  IDLE_IN_TRANSACTION_SESSION_TIMEOUT: '25P03',
  /** system_error: PgDoorman's code for an auth_query that cannot answer ("Authentication service unavailable"). */
  SYSTEM_ERROR: '58000',
  SYNTAX_ERROR: '42601',
  /** invalid_parameter_value: an admin SET with a value that is not allowed. */
  INVALID_PARAMETER_VALUE: '22023',
  /** config_file_error: a reload found the configuration file invalid. */
  CONFIGURATION_FILE_ERROR: 'F0000',
  /** undefined_object: SHOW JOURNAL of a connection that no journal holds. */
  UNDEFINED_OBJECT: '42704',
} as const;

export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState];

/** A SQLSTATE that PostgreSQL itself reported (a refused login, a failed SET): passed on as it came. */
export type ReportedSqlState = string & { readonly __reportedByServer: true };

/** What a client may be sent: one of gatehouse's own codes, or one the server reported. */
export type AnySqlState = SqlStateCode | ReportedSqlState;

/** A server's SQLSTATE, checked for shape (five digits or upper-case letters); anything else is a protocol violation. */
export function reportedSqlState(code: string | undefined): AnySqlState {
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code) ? (code as ReportedSqlState) : SqlState.PROTOCOL_VIOLATION;
}

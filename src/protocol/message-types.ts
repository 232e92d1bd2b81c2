/** Type bytes of messages a PostgreSQL server sends (protocol 3.x). */
export const BackendType = {
  Authentication: 0x52, // 'R'
  ParameterStatus: 0x53, // 'S'
  BackendKeyData: 0x4b, // 'K'
  ReadyForQuery: 0x5a, // 'Z'
  ErrorResponse: 0x45, // 'E'
  NoticeResponse: 0x4e, // 'N'
  NegotiateProtocolVersion: 0x76, // 'v'
  CommandComplete: 0x43, // 'C'
  RowDescription: 0x54, // 'T'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ParseComplete: 0x31, // '1'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  NoData: 0x6e, // 'n'
  PortalSuspended: 0x73, // 's'
  ParameterDescription: 0x74, // 't'
  NotificationResponse: 0x41, // 'A'
  FunctionCallResponse: 0x56, // 'V'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  CopyBothResponse: 0x57, // 'W'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
} as const;

export type BackendTypeCode = (typeof BackendType)[keyof typeof BackendType];

/** Type bytes of messages a client sends after the startup packet (protocol 3.x). */
export const FrontendType = {
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58, // 'X'
  /** PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse all use 'p'. */
  Password: 0x70, // 'p'
  FunctionCall: 0x46, // 'F'
  Parse: 0x50, // 'P'
  Bind: 0x42, // 'B'
  Execute: 0x45, // 'E'
  Describe: 0x44, // 'D'
  Close: 0x43, // 'C'
  Flush: 0x48, // 'H'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
} as const;

export type FrontendTypeCode = (typeof FrontendType)[keyof typeof FrontendType];

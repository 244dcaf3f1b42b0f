// The names a Windows WS-Management service uses for the remote shell, taken from the specifications rather than
// from the client the lab checks (docs/decisions/windows-0006-lab-wsman-server-from-the-specifications.md):
// SOAP 1.2 (W3C), WS-Addressing 2004/08 and WS-Transfer 2004/09 (as DMTF DSP0226 WS-Management 1.x binds them),
// the WS-Management schema, and MS-WSMV's remote shell (Create, Command, Send, Receive, Signal, Delete). The
// values as Windows sends them are collected in docs/reference/windows.md §1.

/** The namespace URIs of the protocol. */
export const WSMAN_NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  addressing: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  transfer: 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
  wsman: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  msWsman: 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
  shell: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
  fault: 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
} as const;

/** The prefix Windows binds to each namespace in its answers (clients matching prefixes literally rely on it; §1.2). */
export const WINDOWS_PREFIX = {
  s: WSMAN_NS.soap,
  a: WSMAN_NS.addressing,
  x: WSMAN_NS.transfer,
  w: WSMAN_NS.wsman,
  rsp: WSMAN_NS.shell,
  p: WSMAN_NS.msWsman,
} as const;

/** wsa:Action of each request the shell service serves, with the action of its answer. */
export const SHELL_OPERATIONS = {
  Create: { request: `${WSMAN_NS.transfer}/Create`, response: `${WSMAN_NS.transfer}/CreateResponse` },
  Delete: { request: `${WSMAN_NS.transfer}/Delete`, response: `${WSMAN_NS.transfer}/DeleteResponse` },
  Command: { request: `${WSMAN_NS.shell}/Command`, response: `${WSMAN_NS.shell}/CommandResponse` },
  Send: { request: `${WSMAN_NS.shell}/Send`, response: `${WSMAN_NS.shell}/SendResponse` },
  Receive: { request: `${WSMAN_NS.shell}/Receive`, response: `${WSMAN_NS.shell}/ReceiveResponse` },
  Signal: { request: `${WSMAN_NS.shell}/Signal`, response: `${WSMAN_NS.shell}/SignalResponse` },
} as const;

export type ShellOperation = keyof typeof SHELL_OPERATIONS;

/** wsa:Action of every WS-Management fault (DSP0226 §14). */
export const FAULT_ACTION = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault';
/** wsa:To of an answer: the anonymous endpoint (WS-Addressing 2004/08 §2.1). */
export const ANONYMOUS_ROLE = `${WSMAN_NS.addressing}/role/anonymous`;

/** The resource URI of the cmd.exe shell (MS-WSMV). */
export const CMD_SHELL_URI = `${WSMAN_NS.shell}/cmd`;

/** Signal codes that end a command (MS-WSMV). */
export const SIGNALS_THAT_END = [`${WSMAN_NS.shell}/signal/terminate`, `${WSMAN_NS.shell}/signal/ctrl_c`];

/** rsp:CommandState/@State values (MS-WSMV). */
export const COMMAND_STATE = {
  done: `${WSMAN_NS.shell}/CommandState/Done`,
  running: `${WSMAN_NS.shell}/CommandState/Running`,
} as const;

/** WSManFault codes Windows sets in f:WSManFault/@Code (docs/reference/windows.md §1.7). */
export const WSMAN_FAULT_CODE = {
  operationTimeout: 2150858793,
  shellNotFound: 2150858843,
  schemaValidation: 2150858817,
  destinationUnreachable: 2150858770,
  invalidCommandId: 2150858882,
  actionNotSupported: 2150858892,
  maxShellsExceeded: 2150859173,
  /** 0x80070002 (an HRESULT): the code the lab gives its own unexpected failures. */
  internalError: 2147942402,
} as const;

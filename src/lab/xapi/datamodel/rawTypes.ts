// Shape of the generated datamodel table (./generated.ts).

export interface RawField {
  name: string;
  /** XenAPI type text, e.g. "VM ref", "(string -> string) map", "enum vm_power_state". */
  type: string;
  qualifier: string;
  /** Constructor default (internal representation); absent = required in a constructor record. */
  default?: unknown;
  removed?: boolean;
}

export interface RawMessage {
  name: string;
  result: string;
  /** Parameters after the session (type text, name). */
  params: Array<[string, string]>;
  /** True when the message takes no session (session.login_with_password, …). */
  noSession?: boolean;
  removed?: boolean;
}

export interface RawClass {
  fields: RawField[];
  messages: RawMessage[];
}

export interface RawDatamodel {
  classes: Record<string, RawClass>;
  enums: Record<string, string[]>;
}

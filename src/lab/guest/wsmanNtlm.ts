// NTLM inside HTTP Negotiate as HTTP.sys does it for WinRM (MS-NLMP): the server's CHALLENGE message and the
// fields of the client's AUTHENTICATE message. The NTLMv2 response itself is checked by the machine that owns
// the accounts (machine.ts).

/** An NTLM CHALLENGE message (type 2) with NTLMv2 extended session security and the target info Windows sends. */
export function ntlmChallenge(challenge: Buffer, machine: string): Buffer {
  const name = Buffer.from(machine.toUpperCase(), 'utf16le');
  const av = (id: number, value: Buffer): Buffer => {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(id, 0);
    head.writeUInt16LE(value.length, 2);
    return Buffer.concat([head, value]);
  };
  const filetime = Buffer.alloc(8);
  filetime.writeBigUInt64LE((BigInt(Date.now()) + 11644473600000n) * 10000n);
  const info = Buffer.concat([
    av(2, name),
    av(1, name),
    av(4, name),
    av(3, name),
    av(7, filetime),
    av(0, Buffer.alloc(0)),
  ]);
  // UNICODE | REQUEST_TARGET | NTLM | ALWAYS_SIGN | TARGET_TYPE_SERVER | EXTENDED_SESSIONSECURITY | TARGET_INFO | VERSION | 128 | 56
  const flags = (0x1 | 0x4 | 0x200 | 0x8000 | 0x20000 | 0x80000 | 0x800000 | 0x2000000 | 0x20000000 | 0x80000000) >>> 0;
  const head = Buffer.alloc(56);
  head.write('NTLMSSP\0', 0, 'latin1');
  head.writeUInt32LE(2, 8);
  head.writeUInt16LE(name.length, 12);
  head.writeUInt16LE(name.length, 14);
  head.writeUInt32LE(56, 16);
  head.writeUInt32LE(flags, 20);
  challenge.copy(head, 24);
  head.writeUInt16LE(info.length, 40);
  head.writeUInt16LE(info.length, 42);
  head.writeUInt32LE(56 + name.length, 44);
  Buffer.from([10, 0, 0x4f, 0x45, 0, 0, 0, 15]).copy(head, 48); // Windows 10.0 build 17743, NTLM revision 15
  return Buffer.concat([head, name, info]);
}

/** The fields of an AUTHENTICATE message (type 3) the logon needs, or undefined when it is not one. */
export function readNtlmAuthenticate(token: Buffer): { user: string; domain: string; ntResponse: Buffer } | undefined {
  if (token.length < 64 || !isNtlm(token) || token.readUInt32LE(8) !== 3) return undefined;
  const field = (at: number): Buffer => {
    const len = token.readUInt16LE(at);
    const off = token.readUInt32LE(at + 4);
    return off + len <= token.length ? token.subarray(off, off + len) : Buffer.alloc(0);
  };
  const unicode = (token.readUInt32LE(60) & 1) === 1;
  const text = (b: Buffer): string => b.toString(unicode ? 'utf16le' : 'latin1');
  return { user: text(field(36)), domain: text(field(28)), ntResponse: field(20) };
}

/** An NTLMSSP message of at least the signature and type. */
export function isNtlm(token: Buffer): boolean {
  return token.length >= 12 && token.toString('latin1', 0, 8) === 'NTLMSSP\0';
}

/** The message type (1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE). */
export function ntlmType(token: Buffer): number {
  return token.readUInt32LE(8);
}

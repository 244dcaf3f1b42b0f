// A running guest process as the WinRM shell sees it: output queued per stream until a Receive takes it,
// stdin fed by Send (End closes it), an exit code, and termination (Signal terminate, shell Delete, VM reset).

export type StreamName = 'stdout' | 'stderr';

export class GuestProcess {
  readonly pid: number;
  readonly image: string;
  readonly commandLine: string;
  exitCode: number | undefined;
  private readonly out: Array<{ stream: StreamName; data: Buffer }> = [];
  private stdinBuf = Buffer.alloc(0);
  private stdinEnded = false;
  private stdinWaiters: Array<() => void> = [];
  private outputWaiters: Array<() => void> = [];
  private readonly abort = new AbortController();
  private static nextPid = 1000;

  constructor(image: string, commandLine: string) {
    this.pid = GuestProcess.nextPid += 4;
    this.image = image;
    this.commandLine = commandLine;
  }

  /** Aborted when the process is terminated; long-running programs stop on it. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get killed(): boolean {
    return this.abort.signal.aborted;
  }

  write(stream: StreamName, data: string | Buffer): void {
    if (this.exitCode !== undefined) return;
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (buf.length === 0) return;
    this.out.push({ stream, data: buf });
    this.wakeOutput();
  }

  stdout(text: string): void {
    this.write('stdout', text);
  }

  stderr(text: string): void {
    this.write('stderr', text);
  }

  feedStdin(data: Buffer, end: boolean): void {
    this.stdinBuf = Buffer.concat([this.stdinBuf, data]);
    if (end) this.stdinEnded = true;
    for (const w of this.stdinWaiters.splice(0)) w();
  }

  private async waitStdin(): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (): void => resolve();
      this.stdinWaiters.push(done);
      this.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** `[Console]::In.ReadLine()`: one line without its terminator, or null at end of input. */
  async readLine(): Promise<string | null> {
    for (;;) {
      const nl = this.stdinBuf.indexOf(0x0a);
      if (nl >= 0) {
        const line = this.stdinBuf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
        this.stdinBuf = this.stdinBuf.subarray(nl + 1);
        return line;
      }
      if (this.stdinEnded || this.killed) {
        if (this.stdinBuf.length === 0) return null;
        const line = this.stdinBuf.toString('utf8');
        this.stdinBuf = Buffer.alloc(0);
        return line;
      }
      await this.waitStdin();
    }
  }

  /** `[Console]::In.ReadToEnd()`. */
  async readToEnd(): Promise<string> {
    while (!this.stdinEnded && !this.killed) await this.waitStdin();
    const s = this.stdinBuf.toString('utf8');
    this.stdinBuf = Buffer.alloc(0);
    return s;
  }

  exit(code: number): void {
    if (this.exitCode !== undefined) return;
    this.exitCode = code;
    this.wakeOutput();
  }

  terminate(): void {
    if (!this.killed) this.abort.abort(new Error('terminated'));
    // A terminated console process ends with STATUS_CONTROL_C_EXIT, as Windows reports it.
    this.exit(0xc000013a);
  }

  /** Takes up to `max` bytes of queued output (whole chunks, split only when one chunk alone exceeds `max`). */
  take(max: number): Array<{ stream: StreamName; data: Buffer }> {
    const taken: Array<{ stream: StreamName; data: Buffer }> = [];
    let size = 0;
    while (this.out.length && size < max) {
      const head = this.out[0]!;
      const room = max - size;
      if (head.data.length <= room) {
        taken.push(this.out.shift()!);
        size += head.data.length;
      } else {
        taken.push({ stream: head.stream, data: head.data.subarray(0, room) });
        head.data = head.data.subarray(room);
        size += room;
      }
    }
    return taken;
  }

  get hasOutput(): boolean {
    return this.out.length > 0;
  }

  /** Resolves when output is queued or the process exits, or after `ms`. */
  async waitForOutput(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.hasOutput || this.exitCode !== undefined) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.outputWaiters.push(done);
    });
  }

  private wakeOutput(): void {
    for (const w of this.outputWaiters.splice(0)) w();
  }
}

/** Sleeps `ms`, ending early (rejecting) when the process is terminated. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

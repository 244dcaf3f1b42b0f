// Whether the lab's services answer, polled until a deadline: an HTTP(S) endpoint answers when any HTTP response
// comes back (a 401 of a WS-Management listener is an answer), a gRPC endpoint (Temporal) when it accepts a TCP
// connection. Used before `xenimage lab` says it is ready.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

const ATTEMPT_MS = 5_000;
const PAUSE_MS = 200;

function httpAnswers(url: string, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? https : http).request(
      u,
      { method: 'POST', timeout: ATTEMPT_MS, ...(u.protocol === 'https:' && ca ? { ca } : {}) },
      (res) => {
        res.resume();
        resolve(true);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: ATTEMPT_MS });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

export type Probe = { name: string } & (
  { kind: 'http'; url: string; ca?: string } | { kind: 'tcp'; host: string; port: number }
);

/** Waits until `probe` answers; throws naming it when `deadline` (epoch ms) passes first. */
export async function waitUntilAnswers(probe: Probe, deadline: number): Promise<void> {
  for (;;) {
    const ok =
      probe.kind === 'http' ? await httpAnswers(probe.url, probe.ca) : await tcpAnswers(probe.host, probe.port);
    if (ok) return;
    if (Date.now() > deadline) {
      const where = probe.kind === 'http' ? probe.url : `${probe.host}:${probe.port}`;
      throw new Error(`${probe.name} (${where}) did not answer in time`);
    }
    await new Promise((r) => setTimeout(r, PAUSE_MS));
  }
}

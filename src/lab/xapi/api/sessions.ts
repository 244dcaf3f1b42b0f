// Sessions: login checks in XAPI's order (HOST_IS_SLAVE before the password), a 5 s (scaled) brake on bad
// passwords, idle expiry, logout. Sessions are rows of the `session` table, which does not survive a restart.
// The password is checked against the stored salted hash only (./passwordHash.ts).
import { timingSafeEqual } from 'node:crypto';
import type { Database } from '../db/database.js';
import { newRef, newUuid } from '../db/database.js';
import { xapiDate } from '../datamodel/types.js';
import { apiError } from './errors.js';
import { verifyPassword } from './passwordHash.js';

export interface Credentials {
  username: string;
  /** The root password's salted hash (./passwordHash.ts). */
  passwordHash: string;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SessionManager {
  /** Last activity per session (ms), for idle expiry without a database write per call. */
  private readonly lastActive = new Map<string, number>();
  private readonly logoutListeners = new Set<(session: string) => void>();

  constructor(
    private readonly db: Database,
    private readonly credentials: Credentials,
    private readonly thisHost: () => string,
    private readonly idleTimeoutMs: number,
  ) {}

  /** Creates a session after checking the credentials (the caller checks HOST_IS_SLAVE first). */
  async login(uname: string, pwd: string, originator = ''): Promise<string> {
    const passwordOk = await verifyPassword(pwd, this.credentials.passwordHash);
    if (!(sameText(uname, this.credentials.username) && passwordOk)) {
      throw apiError('SESSION_AUTHENTICATION_FAILED', uname, 'Authentication failure');
    }
    const ref = newRef();
    const now = xapiDate();
    this.db.insert('session', ref, {
      uuid: newUuid(),
      this_host: this.thisHost(),
      last_active: now,
      pool: false,
      is_local_superuser: true,
      validation_time: now,
      originator,
      rbac_permissions: [],
      tasks: [],
    });
    this.lastActive.set(ref, Date.now());
    return ref;
  }

  isValid(ref: string): boolean {
    if (!this.db.get('session', ref)) return false;
    const last = this.lastActive.get(ref) ?? 0;
    if (Date.now() - last > this.idleTimeoutMs) {
      this.expire(ref);
      return false;
    }
    return true;
  }

  /** SESSION_INVALID [ref] unless valid; refreshes the idle timer. */
  check(ref: string): void {
    if (!this.isValid(ref)) throw apiError('SESSION_INVALID', ref);
    this.lastActive.set(ref, Date.now());
  }

  logout(ref: string): void {
    this.expire(ref);
  }

  /** Ends a session now (logout, idle expiry, or a test forcing SESSION_INVALID). */
  expire(ref: string): void {
    this.lastActive.delete(ref);
    this.db.delete('session', ref);
    for (const l of [...this.logoutListeners]) l(ref);
  }

  expireAll(): void {
    for (const [ref] of this.db.rows('session')) this.expire(ref);
  }

  onLogout(listener: (session: string) => void): () => void {
    this.logoutListeners.add(listener);
    return () => this.logoutListeners.delete(listener);
  }
}

// Types for the parts of `xen-api` 4.7.6 (Vates) that xenimage uses; the package ships none.
declare module 'xen-api' {
  import type { EventEmitter } from 'node:events';
  import type { Readable } from 'node:stream';

  export interface XapiOptions {
    url: string;
    auth?: { user: string; password?: string } | { sessionId: string };
    transport?: 'auto' | 'json-rpc' | 'xml-rpc';
    allowUnauthorized?: boolean;
    /** false, or the list of types whose records the event loop keeps in the cache. */
    watchEvents?: false | string[];
    debounce?: number;
    eventPollDelay?: number;
    callTimeout?: number | ((method: string, args: unknown[]) => number);
    httpInactivityTimeout?: number;
    callConcurrency?: number;
    syncStackTraces?: boolean;
    readOnly?: boolean;
    roCallRetryOptions?: { delay?: number; tries?: number };
  }

  /** A cached record: the XAPI fields plus `$`-prefixed helpers. */
  export interface XapiObject {
    readonly $id: string;
    readonly $ref: string;
    readonly $type: string;
    readonly [field: string]: unknown;
  }

  export interface Collection extends EventEmitter {
    readonly all: Record<string, XapiObject>;
  }

  export interface CancelToken {
    readonly promise: Promise<unknown>;
    readonly reason?: unknown;
    readonly requested: boolean;
  }

  export interface CancelSource {
    readonly token: CancelToken;
    cancel(reason?: unknown): void;
  }

  export interface ResourceResponse {
    statusCode: number;
    headers: Record<string, string | string[] | undefined>;
    body: Readable;
    /** Settles with the export task's result. */
    task?: Promise<unknown>;
  }

  export interface ResourceOptions {
    host?: XapiObject;
    query?: Record<string, string>;
    task?: boolean | string;
  }

  export class Xapi extends EventEmitter {
    constructor(options: XapiOptions);
    readonly status: 'connected' | 'connecting' | 'disconnected';
    readonly pool: XapiObject;
    readonly sessionId: string;
    readonly objects: Collection;
    readonly objectsFetched: Promise<void>;
    readonly watchEventsError: unknown;
    readonly lastEventFetchedTimestamp: number | undefined;
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    call<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
    callAsync<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
    callAsync<T = unknown>(cancelToken: CancelToken, method: string, ...args: unknown[]): Promise<T>;
    getObject<T extends XapiObject = XapiObject>(idOrUuidOrRef: string, defaultValue?: T): T;
    getObjectByRef<T extends XapiObject = XapiObject>(ref: string, defaultValue?: T): T;
    getObjectByUuid<T extends XapiObject = XapiObject>(uuid: string, defaultValue?: T): T;
    getRecord<T = Record<string, unknown>>(type: string, ref: string): Promise<T & XapiObject>;
    getAllRecords<T = Record<string, unknown>>(type: string): Promise<Array<T & XapiObject>>;
    barrier(ref?: string): Promise<XapiObject | undefined>;
    watchTask<T = unknown>(ref: string): Promise<T>;
    /** The URL of a host's XAPI (the master keeps the URL the client connected to). */
    getHostBackupUrl(host: XapiObject): Promise<URL>;
    createTask(nameLabel: string, nameDescription?: string): Promise<string>;
    getResource(pathname: string, options?: ResourceOptions): Promise<ResourceResponse>;
    getResource(cancelToken: CancelToken, pathname: string, options?: ResourceOptions): Promise<ResourceResponse>;
    putResource<T = unknown>(body: Readable | Buffer | string, pathname: string, options?: ResourceOptions): Promise<T>;
    putResource<T = unknown>(
      cancelToken: CancelToken,
      body: Readable | Buffer | string,
      pathname: string,
      options?: ResourceOptions,
    ): Promise<T>;
  }

  export class XapiError extends Error {
    code: string;
    params: string[];
    call?: { method: string; params: unknown[]; duration: number };
    url?: string;
    task?: XapiObject;
  }

  export function createClient(options: XapiOptions): Xapi;

  export const Ref: {
    EMPTY: string;
    is(value: unknown): value is string;
    isEmpty(value: unknown): boolean;
  };
}

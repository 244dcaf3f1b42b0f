// The simulated Windows Update (issue 13.2): a catalog of updates the "update service" offers, the Windows Update
// Agent's COM objects as a script reaches them (Microsoft.Update.Session, its searcher, downloader and installer,
// Microsoft.Update.UpdateColl), and what installing leaves on the machine: installed updates, a restart pending
// (the agent's RebootRequired key) until the next boot. Downloads and installs refuse anyone but SYSTEM
// (0x80070005), as the agent refuses a remote logon. Members a script could call that are not modelled fail as
// PowerShell reports a missing COM member.
import type { WindowsMachine } from '../machine.js';
import { DotNetError, toStr, type ComDispatch, type PsObject } from '../ps/values.js';
import type { UpdateState, WindowsState } from '../state.js';

export const REBOOT_REQUIRED_KEY =
  'HKLM\\SOFTWARE\\MICROSOFT\\WINDOWS\\CURRENTVERSION\\WINDOWSUPDATE\\AUTO UPDATE\\REBOOTREQUIRED';

export interface CatalogUpdate {
  kb: string;
  title: string;
  /** Update classification (ICategory.Name). */
  category: string;
  rebootRequired: boolean;
  /** KBs that must be installed, and past their restart, before this one is offered. */
  requires?: string[];
  /** Offered only while none of these is installed or offered (Windows Update hides superseded updates). */
  supersededBy?: string[];
  /** Its first installation fails with this HRESULT; the next one succeeds. */
  failsOnceWith?: number;
}

/**
 * The catalog lab guests see unless their scenario names another: a servicing stack update, a cumulative update
 * that needs a restart (superseding last month's, never offered), a .NET update that fails once with
 * 0x80070643 (ERROR_INSTALL_FAILURE) and needs a restart, an out-of-band update offered only after the cumulative
 * one is installed and restarted, and a Defender definition update.
 */
export const DEFAULT_CATALOG: CatalogUpdate[] = [
  {
    kb: 'KB5044414',
    title:
      '2024-10 Servicing Stack Update for Microsoft server operating system version 21H2 for x64-based Systems (KB5044414)',
    category: 'Security Updates',
    rebootRequired: false,
  },
  {
    kb: 'KB5044281',
    title:
      '2024-10 Cumulative Update for Microsoft server operating system version 21H2 for x64-based Systems (KB5044281)',
    category: 'Security Updates',
    rebootRequired: true,
  },
  {
    kb: 'KB5043080',
    title:
      '2024-09 Cumulative Update for Microsoft server operating system version 21H2 for x64-based Systems (KB5043080)',
    category: 'Security Updates',
    rebootRequired: true,
    supersededBy: ['KB5044281'],
  },
  {
    kb: 'KB5044035',
    title:
      '2024-10 Cumulative Update for .NET Framework 3.5, 4.8 and 4.8.1 for Microsoft server operating system version 21H2 for x64 (KB5044035)',
    category: 'Updates',
    rebootRequired: true,
    failsOnceWith: 0x80070643,
  },
  {
    kb: 'KB5046540',
    title:
      '2024-10 Out-of-band Update for Microsoft server operating system version 21H2 for x64-based Systems (KB5046540)',
    category: 'Updates',
    rebootRequired: true,
    requires: ['KB5044281'],
  },
  {
    kb: 'KB2267602',
    title: 'Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.419.163.0)',
    category: 'Definition Updates',
    rebootRequired: false,
  },
];

/**
 * The catalogs a scenario can name (`guests.updateCatalog`, docs/lab.md): `default`; `empty` (a machine that is up
 * to date); `definitions-only` (only the Defender definition update, which needs no restart).
 */
export const CATALOGS: Record<string, CatalogUpdate[]> = {
  default: DEFAULT_CATALOG,
  empty: [],
  'definitions-only': DEFAULT_CATALOG.filter((u) => u.kb === 'KB2267602'),
};

export function updateState(state: WindowsState): UpdateState {
  return (state.updates ??= { installed: {}, failures: {}, downloaded: [], componentCleanups: [] });
}

/** A boot finishes the installations that waited for it. */
export function completeUpdatesAtBoot(state: WindowsState): void {
  if (!state.updates) return;
  for (const u of Object.values(state.updates.installed)) u.pendingReboot = false;
  delete state.registry[REBOOT_REQUIRED_KEY];
}

/** What the update service offers the machine now, in catalog order. */
export function offeredUpdates(state: WindowsState): CatalogUpdate[] {
  const s = updateState(state);
  const catalog = CATALOGS[s.catalog ?? 'default'] ?? [];
  const ready = (kb: string): boolean => s.installed[kb]?.pendingReboot === false;
  const applicable = catalog.filter((u) => !s.installed[u.kb] && (u.requires ?? []).every(ready));
  return applicable.filter(
    (u) => !(u.supersededBy ?? []).some((kb) => s.installed[kb] || applicable.some((a) => a.kb === kb)),
  );
}

// ---- COM ----

const HRESULT_NAMES: Record<number, string> = { 0x80070005: ' (E_ACCESSDENIED)' };

/** A COM method's failure as PowerShell reports it (a COMException wrapped in MethodInvocationException). */
function comError(method: string, argc: number, hresult: number, text?: string): DotNetError {
  const hr = `0x${hresult.toString(16).toUpperCase()}`;
  const inner =
    hresult === 0x80070005
      ? `Access is denied. (Exception from HRESULT: ${hr}${HRESULT_NAMES[hresult]})`
      : `${text ?? 'Exception'} from HRESULT: ${hr}`;
  return new DotNetError(
    `Exception calling "${method}" with "${argc}" argument(s): "${inner}"`,
    'System.Management.Automation.MethodInvocationException',
    hresult === 0x80070005 ? 'UnauthorizedAccessException' : 'COMException',
  );
}

function comObject(d: ComDispatch): PsObject {
  return { __type: 'System.__ComObject', __com: d };
}

/** A dispatch from read-only properties, settable properties and methods (names case-insensitive). */
function dispatch(o: {
  props?: Record<string, () => unknown>;
  settable?: Record<string, (v: unknown) => boolean>;
  methods?: Record<string, (args: unknown[], caller: { user: string }) => unknown>;
}): ComDispatch {
  const find = <T>(table: Record<string, T> | undefined, name: string): T | undefined =>
    table ? Object.entries(table).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1] : undefined;
  return {
    get: (name) => find(o.props, name)?.() ?? null,
    set: (name, value) => find(o.settable, name)?.(value) ?? false,
    call: (name, args, caller) => {
      const m = find(o.methods, name);
      return m ? (m(args, caller) ?? null) : undefined;
    },
  };
}

/** IStringCollection / ICategoryCollection / IUpdateCollection: Count and Item(i); Add for UpdateColl. */
function collection(items: unknown[], writable: boolean): PsObject {
  return comObject(
    dispatch({
      props: { Count: () => items.length },
      methods: {
        Item: (args) => {
          const i = Number(args[0]);
          if (!Number.isInteger(i) || i < 0 || i >= items.length) throw comError('Item', 1, 0x80070057, 'Exception');
          return items[i];
        },
        ...(writable
          ? {
              Add: (args) => {
                items.push(args[0]);
                return items.length - 1;
              },
              Clear: () => {
                items.length = 0;
              },
            }
          : {}),
      },
    }),
  );
}

/** The catalog entry behind an IUpdate the script holds. */
const UPDATE_OF = new WeakMap<object, CatalogUpdate>();

function updateObject(u: CatalogUpdate): PsObject {
  let eula = false;
  const o = comObject(
    dispatch({
      props: {
        Title: () => u.title,
        KBArticleIDs: () => collection([u.kb.replace(/^KB/, '')], false),
        Categories: () =>
          collection(
            [comObject(dispatch({ props: { Name: () => u.category, Type: () => 'UpdateClassification' } }))],
            false,
          ),
        EulaAccepted: () => eula,
        IsDownloaded: () => false,
        IsHidden: () => false,
        IsInstalled: () => false,
        Identity: () => comObject(dispatch({ props: { UpdateID: () => u.kb, RevisionNumber: () => 1 } })),
      },
      methods: {
        AcceptEula: () => {
          eula = true;
          return null;
        },
      },
    }),
  );
  UPDATE_OF.set(o, u);
  return o;
}

function updatesOf(value: unknown, method: string): CatalogUpdate[] {
  const coll = value as PsObject | null;
  const d = coll && (coll.__com as ComDispatch | undefined);
  if (!d) throw comError(method, 0, 0x80240024, 'Exception');
  const n = Number(d.get('Count'));
  const out: CatalogUpdate[] = [];
  for (let i = 0; i < n; i++) {
    const u = UPDATE_OF.get(d.call('Item', [i], { user: '' }) as object);
    if (u) out.push(u);
  }
  return out;
}

/** Search criteria as the product sends them: `Name=value` conditions joined by `and`. */
function checkCriteria(criteria: string): void {
  const known: Record<string, string> = { isinstalled: '0', type: "'software'", ishidden: '0' };
  for (const cond of criteria.split(/\s+and\s+/i)) {
    const m = /^\s*(\w+)\s*=\s*('?\w+'?)\s*$/.exec(cond);
    if (!m || known[m[1]!.toLowerCase()] !== m[2]!.toLowerCase())
      // WU_E_INVALID_CRITERIA: the lab models only this search.
      throw comError('Search', 1, 0x80240032, 'Exception');
  }
}

const SYSTEM = /^(SYSTEM|NT AUTHORITY\\SYSTEM)$/i;

/** `New-Object -ComObject Microsoft.Update.Session`. */
export function updateSession(m: WindowsMachine): PsObject {
  let clientId = '';
  const searcher = (): PsObject =>
    comObject(
      dispatch({
        methods: {
          Search: (args) => {
            checkCriteria(toStr(args[0]));
            const updates = offeredUpdates(m.state).map(updateObject);
            return comObject(
              dispatch({
                props: {
                  ResultCode: () => 2,
                  Updates: () => collection(updates, false),
                  Warnings: () => collection([], false),
                },
              }),
            );
          },
        },
      }),
    );
  const downloader = (): PsObject => {
    let updates: unknown = null;
    return comObject(
      dispatch({
        props: { Updates: () => updates },
        settable: { Updates: (v) => ((updates = v), true) },
        methods: {
          Download: (_args, caller) => {
            if (!SYSTEM.test(caller.user)) throw comError('Download', 0, 0x80070005);
            const list = updatesOf(updates, 'Download');
            if (list.length === 0) throw comError('Download', 0, 0x80240024, 'Exception');
            const s = updateState(m.state);
            for (const u of list) if (!s.downloaded.includes(u.kb)) s.downloaded.push(u.kb);
            return comObject(dispatch({ props: { ResultCode: () => 2, HResult: () => 0 } }));
          },
        },
      }),
    );
  };
  const installer = (): PsObject => {
    let updates: unknown = null;
    return comObject(
      dispatch({
        props: { Updates: () => updates, IsBusy: () => false, RebootRequiredBeforeInstallation: () => false },
        settable: { Updates: (v) => ((updates = v), true) },
        methods: {
          Install: async (_args, caller) => {
            if (!SYSTEM.test(caller.user)) throw comError('Install', 0, 0x80070005);
            const list = updatesOf(updates, 'Install');
            if (list.length === 0) throw comError('Install', 0, 0x80240024, 'Exception');
            const s = updateState(m.state);
            const results = list.map((u) => {
              // The agent installs only what it downloaded (the lab reports WU_E_UNEXPECTED for the rest).
              if (!s.downloaded.includes(u.kb)) return { resultCode: 4, hresult: 0x80240fff, reboot: false };
              if (u.failsOnceWith !== undefined && (s.failures[u.kb] ?? 0) === 0) {
                s.failures[u.kb] = 1;
                return { resultCode: 4, hresult: u.failsOnceWith, reboot: false };
              }
              s.installed[u.kb] = { pendingReboot: u.rebootRequired };
              return { resultCode: 2, hresult: 0, reboot: u.rebootRequired };
            });
            const reboot = results.some((r) => r.reboot);
            if (reboot) m.regCreateKey(REBOOT_REQUIRED_KEY);
            await m.env.persist();
            const failed = results.filter((r) => r.resultCode !== 2).length;
            const code = failed === 0 ? 2 : failed === results.length ? 4 : 3;
            return comObject(
              dispatch({
                props: {
                  ResultCode: () => code,
                  // WU_E_ALL_UPDATES_FAILED when none installed.
                  HResult: () => (code === 4 ? 0x80240022 | 0 : 0),
                  RebootRequired: () => reboot,
                },
                methods: {
                  GetUpdateResult: (args) => {
                    const r = results[Number(args[0])];
                    if (!r) throw comError('GetUpdateResult', 1, 0x80070057, 'Exception');
                    return comObject(
                      dispatch({
                        props: {
                          ResultCode: () => r.resultCode,
                          HResult: () => r.hresult | 0,
                          RebootRequired: () => r.reboot,
                        },
                      }),
                    );
                  },
                },
              }),
            );
          },
        },
      }),
    );
  };
  return comObject(
    dispatch({
      props: { ClientApplicationID: () => clientId, ReadOnly: () => false },
      settable: { ClientApplicationID: (v) => ((clientId = toStr(v)), true) },
      methods: {
        CreateUpdateSearcher: searcher,
        CreateUpdateDownloader: downloader,
        CreateUpdateInstaller: installer,
      },
    }),
  );
}

/** `New-Object -ComObject Microsoft.Update.UpdateColl`. */
export function updateCollection(): PsObject {
  return collection([], true);
}

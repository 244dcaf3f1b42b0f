// The extra local administrator: created (or its password reset, so a retried activity converges) through an
// -EncodedCommand script that reads the password from stdin — the password is never on a command line nor in
// the script — added to the Administrators group by SID (the name is localized), with the token filter policy
// that lets a non-built-in administrator use WinRM; then proven by a WinRM login as that account.
import { InvalidInputError, XenimageError } from '../../errors.js';
import { psQuote } from '../../winrm/powershell.js';
import { lastJson, openClient, runScript, type GuestContext } from './session.js';

export const USER_NAME = /^[A-Za-z0-9._-]{1,20}$/;

export function addAdministratorScript(name: string): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    "$ProgressPreference = 'SilentlyContinue'",
    `$name = ${psQuote(name)}`,
    '$password = [Console]::In.ReadLine()',
    '$secure = ConvertTo-SecureString -String $password -AsPlainText -Force',
    '$existing = Get-LocalUser -Name $name -ErrorAction SilentlyContinue',
    'if ($existing) {',
    '  Set-LocalUser -Name $name -Password $secure -PasswordNeverExpires $true',
    '  $created = $false',
    '} else {',
    '  New-LocalUser -Name $name -Password $secure -PasswordNeverExpires | Out-Null',
    '  $created = $true',
    '}',
    'try {',
    "  Add-LocalGroupMember -SID 'S-1-5-32-544' -Member $name",
    '} catch {',
    "  if ($_.FullyQualifiedErrorId -notlike 'MemberExists*') { throw }",
    '}',
    "Set-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System' -Name 'LocalAccountTokenFilterPolicy' -Value 1 -Type DWord",
    'Write-Output (ConvertTo-Json -Compress -InputObject @{ created = $created })',
  ].join('\r\n');
}

export class AdminPasswordPolicy extends XenimageError {
  constructor(name: string) {
    super(
      'AdminPasswordPolicy',
      `the guest refused the password for "${name}": it does not meet the password policy (length, complexity, history). Choose a longer password with upper and lower case letters, digits and symbols that does not contain the account name`,
      { retryable: false, details: { account: name } },
    );
  }
}

export async function addAdministrator(
  ctx: GuestContext,
  o: { name: string; password: string },
): Promise<{ created: boolean }> {
  if (!USER_NAME.test(o.name) || o.name.toLowerCase() === 'administrator')
    throw new InvalidInputError(
      `"${o.name}" is not a valid extra administrator name (letters, digits, ".", "_", "-"; at most 20; not Administrator)`,
    );
  if (/[\r\n]/.test(o.password)) throw new InvalidInputError('the administrator password cannot contain a line break');
  const client = openClient(ctx);
  let created: boolean;
  try {
    const r = await runScript(client, ctx, addAdministratorScript(o.name), { stdin: o.password + '\r\n' });
    if (r.exitCode !== 0) {
      if (/InvalidPassword/.test(r.stderrText)) throw new AdminPasswordPolicy(o.name);
      throw new XenimageError(
        'AddAdministratorFailed',
        `creating "${o.name}" failed (exit ${r.exitCode}): ${r.stderrText.trim().split(/\r?\n/)[0]}`,
        { retryable: false },
      );
    }
    created = lastJson<{ created: boolean }>(r, 'addAdministrator').created;
  } finally {
    client.close();
  }
  // Proof: the new account logs on over WinRM (fails with 401 without the token filter policy).
  const asUser = openClient(ctx, { username: o.name, password: o.password });
  try {
    const who = await asUser.run('whoami', [], { signal: ctx.signal });
    if (who.exitCode !== 0 || !who.stdout.toString('utf8').trim().toLowerCase().endsWith(`\\${o.name.toLowerCase()}`)) {
      throw new XenimageError(
        'AdminLoginFailed',
        `"${o.name}" was created but whoami over WinRM returned ${who.exitCode}`,
        { retryable: false },
      );
    }
  } catch (err) {
    if ((err as { type?: string }).type === 'WinrmAuthFailed') {
      throw new XenimageError(
        'AdminLoginFailed',
        `"${o.name}" exists but cannot log on over WinRM (401): LocalAccountTokenFilterPolicy or group membership did not apply`,
        { retryable: false, cause: err },
      );
    }
    throw err;
  } finally {
    asUser.close();
  }
  return { created };
}

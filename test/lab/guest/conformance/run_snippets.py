# Runs the conformance snippets against a Windows host through pywinrm (Debian's python3-winrm), as an operator's
# script would: PowerShell snippets as `powershell -EncodedCommand` (what pywinrm's run_ps sends; run_ps itself
# is not used because pywinrm 0.3.0 crashes on Python 3 when stderr is not empty), cmd snippets as the shell's
# command line, batch snippets written to a .cmd file first and then run. Prints one JSON line: the results.
# usage: run_snippets.py URL USER PASSWORD SNIPPETS.json
import base64
import json
import sys

import winrm

url, user, password, path = sys.argv[1:5]
s = winrm.Session(url, auth=(user, password), transport='basic', message_encryption='never',
                  operation_timeout_sec=5, read_timeout_sec=10)


def ps(script):
    enc = base64.b64encode(script.encode('utf_16_le')).decode()
    return s.run_cmd('powershell -NoProfile -NonInteractive -EncodedCommand ' + enc)


def quote(line):
    return "'" + line.replace("'", "''") + "'"


results = []
for snip in json.load(open(path, encoding='utf-8')):
    shell = snip['shell']
    if shell == 'powershell':
        r = ps(snip['script'])
    elif shell == 'cmd':
        r = s.run_cmd(snip['script'])
    else:
        file = 'C:\\Windows\\Temp\\conformance-%d.cmd' % len(results)
        lines = ','.join(quote(x) for x in snip['script'].rstrip('\n').split('\n'))
        w = ps('Set-Content -Path %s -Value %s' % (quote(file), lines))
        if w.status_code != 0:
            raise SystemExit('writing %s failed: %r' % (file, w.std_err))
        r = s.run_cmd(file)
    # The console's code page (437) encodes both streams.
    results.append({'name': snip['name'], 'code': r.status_code,
                    'out': r.std_out.decode('cp437'), 'err': r.std_err.decode('cp437')})
print(json.dumps(results))

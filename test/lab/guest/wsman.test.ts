// The lab's WS-Management server on the wire, with messages written here by hand from the specifications (no
// client library): requests are read by namespace URI whatever the prefixes (a default namespace included),
// answers carry Windows' prefixes and RelatesTo, and malformed or unknown requests get Windows' SOAP faults.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startStandaloneWindows, type StandaloneWindows } from '../../../src/lab/guest/standalone.js';

const PASSWORD = 'Adm1n!pass-for-the-wire';
const SOAP = 'http://www.w3.org/2003/05/soap-envelope';
const WSA = 'http://schemas.xmlsoap.org/ws/2004/08/addressing';
const WSMAN = 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd';
const SHELL = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell';
const TRANSFER = 'http://schemas.xmlsoap.org/ws/2004/09/transfer';

async function guest(t: { after(fn: () => Promise<void>): void }): Promise<StandaloneWindows> {
  const w = await startStandaloneWindows({ adminPassword: PASSWORD, scale: 0.001 });
  t.after(() => w.stop());
  return w;
}

async function post(w: StandaloneWindows, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${w.address}:${w.port}/wsman`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/soap+xml;charset=UTF-8',
      Authorization: `Basic ${Buffer.from(`Administrator:${PASSWORD}`).toString('base64')}`,
    },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text() };
}

/** A Create request with unusual prefixes: the envelope's in the default namespace, addressing as `q:`. */
const createWithOwnPrefixes = (messageId: string): string =>
  `<?xml version="1.0"?>
<Envelope xmlns="${SOAP}" xmlns:q="${WSA}" xmlns:m="${WSMAN}">
  <Header>
    <q:To>http://windows-host:5985/wsman</q:To>
    <m:ResourceURI mustUnderstand="true">${SHELL}/cmd</m:ResourceURI>
    <q:ReplyTo><q:Address>${WSA}/role/anonymous</q:Address></q:ReplyTo>
    <q:Action mustUnderstand="true">${TRANSFER}/Create</q:Action>
    <q:MessageID>${messageId}</q:MessageID>
    <m:OptionSet><m:Option Name="WINRS_CODEPAGE">65001</m:Option></m:OptionSet>
    <m:OperationTimeout>PT20S</m:OperationTimeout>
  </Header>
  <Body><Shell xmlns="${SHELL}"><InputStreams>stdin</InputStreams><OutputStreams>stdout stderr</OutputStreams></Shell></Body>
</Envelope>`;

test('a Create written with its own prefixes and a default namespace makes a shell; the answer uses Windows prefixes', async (t) => {
  const w = await guest(t);
  const r = await post(w, createWithOwnPrefixes('uuid:11111111-2222-3333-4444-555555555555'));
  assert.equal(r.status, 200);
  assert.match(
    r.text,
    /^<s:Envelope xml:lang="en-US" xmlns:s="http:\/\/www\.w3\.org\/2003\/05\/soap-envelope" xmlns:a=/,
  );
  assert.match(r.text, /<a:Action>http:\/\/schemas\.xmlsoap\.org\/ws\/2004\/09\/transfer\/CreateResponse<\/a:Action>/);
  assert.match(r.text, /<a:RelatesTo>uuid:11111111-2222-3333-4444-555555555555<\/a:RelatesTo>/);
  assert.match(r.text, /<rsp:ShellId>[0-9A-F-]{36}<\/rsp:ShellId>/);
  assert.deepEqual(w.server.requests, ['Create']);
});

test('malformed requests (not well-formed, a DOCTYPE, an unbound prefix) are SOAP faults with HTTP 500', async (t) => {
  const w = await guest(t);
  for (const body of [
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body></s:Envelope>',
    `<!DOCTYPE e [<!ENTITY x "y">]>${createWithOwnPrefixes('uuid:1')}`,
    createWithOwnPrefixes('uuid:2').replace('<Header>', '<Header><z:Extra/>'),
  ]) {
    const r = await post(w, body);
    assert.equal(r.status, 500, body.slice(0, 40));
    assert.match(r.text, /<a:Action>http:\/\/schemas\.dmtf\.org\/wbem\/wsman\/1\/wsman\/fault<\/a:Action>/);
    assert.match(r.text, /<s:Subcode><s:Value>w:SchemaValidationError<\/s:Value><\/s:Subcode>/);
    assert.match(
      r.text,
      /<f:WSManFault xmlns:f="http:\/\/schemas\.microsoft\.com\/wbem\/wsman\/1\/wsmanfault" Code="2150858817" Machine="/,
    );
  }
  assert.deepEqual(w.server.requests, [], 'none was taken for a shell operation');
});

test('an unknown action is ActionNotSupported (2150858892); a shell that does not exist is 2150858843', async (t) => {
  const w = await guest(t);
  const unknown = await post(w, createWithOwnPrefixes('uuid:3').replace(`${TRANSFER}/Create<`, `${TRANSFER}/Get<`));
  assert.equal(unknown.status, 500);
  assert.match(unknown.text, /a:ActionNotSupported/);
  assert.match(unknown.text, /Code="2150858892"/);
  const deleteMissing = createWithOwnPrefixes('uuid:4')
    .replace(`${TRANSFER}/Create<`, `${TRANSFER}/Delete<`)
    .replace(
      '<m:OptionSet>',
      '<m:SelectorSet><m:Selector Name="ShellId">00000000-0000-0000-0000-000000000000</m:Selector></m:SelectorSet><m:OptionSet>',
    );
  const missing = await post(w, deleteMissing);
  assert.equal(missing.status, 500);
  assert.match(missing.text, /Code="2150858843"/);
  assert.match(missing.text, /<a:RelatesTo>uuid:4<\/a:RelatesTo>/);
});

/**
 * Certificates for TLS tests, made by the openssl command line (node:crypto cannot make X.509
 * certificates): a CA, a server certificate it signs for 127.0.0.1 and localhost, and a second,
 * unrelated CA and key.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  ca: string;
  serverCert: string;
  serverKey: string;
  /** A CA that signed nothing here: trusting it alone must fail verification. */
  otherCa: string;
  /** A key of no certificate here. */
  otherKey: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function selfSignedCa(dir: string, name: string): Promise<{ crt: string; key: string }> {
  const crt = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    key,
    '-out',
    crt,
    '-subj',
    `/CN=collector test ${name}`,
    '-days',
    '2',
  ]);
  return { crt, key };
}

export async function makeCertificates(dir: string): Promise<TestCertificates> {
  const f = (name: string) => path.join(dir, name);
  const ca = await selfSignedCa(dir, 'ca');
  const other = await selfSignedCa(dir, 'other-ca');
  await run('openssl', [
    'req',
    ...EC,
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
    '-subj',
    '/CN=localhost',
  ]);
  await writeFile(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    ca.crt,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    f('server.crt'),
    '-days',
    '2',
    '-extfile',
    f('san.ext'),
  ]);
  return {
    ca: ca.crt,
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    otherCa: other.crt,
    otherKey: other.key,
  };
}
